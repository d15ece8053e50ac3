"""Training the liver U-Net: ``python -m liverview_plugins.liver_unet.training --data DIR [--data DIR ...]
--out DIR``. Resumable (OUT/last.pt every ``--save-every`` steps), seeded; writes OUT/liver_unet.pt and
OUT/train_log.json. Data: study folders with a liver mask (`liverview synth-ct` phantoms, every phase with the
mask moved into its frame; `liverview synth-inserted` real hosts, whose mask is the classical liver_mask's) and
whole real scans (--host) labelled by the classical liver_mask."""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .data import Augmentation, CropSampler, LiverCase, load_cases, load_host_case
from .network import LiverUNet


@dataclass(frozen=True)
class LiverUNetConfig:
    pixel_mm: float = 2.0
    widths: tuple[int, ...] = (12, 24, 48, 96)
    crop_px: int = 96
    batch_size: int = 12
    steps: int = 2000
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    seed: int = 0
    augmentation: Augmentation = field(default_factory=Augmentation)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LiverUNetConfig":
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        d["augmentation"] = Augmentation(**d.get("augmentation", {}))
        return cls(**d)


def learning_rate(step: int, config: LiverUNetConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    t = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    dice = 1.0 - (2 * inter + 1.0) / (p.sum() + target.sum() + 1.0)
    return bce + dice


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def train_liver_unet(cases: Sequence[LiverCase], config: LiverUNetConfig, out_dir: Path, device: str = "auto",
                     save_every: int = 100, log: Callable[[str], None] = print) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    torch.manual_seed(config.seed)
    model = LiverUNet(3, config.widths).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    rng = np.random.default_rng(config.seed)
    history: list[dict] = []
    start, seconds = 0, 0.0
    last = out_dir / "last.pt"
    if last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=False)
        if state["config"] != config.to_dict():
            raise ValueError(f"{last} was written with another configuration; use a new --out")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        start, history, seconds = state["step"], state["history"], state["seconds"]
        log(f"resumed at step {start}")
    sampler = CropSampler(cases, config.crop_px, rng, config.augmentation)
    model.train()
    t0, window = time.perf_counter(), []
    for step in range(start, config.steps):
        for g in opt.param_groups:
            g["lr"] = learning_rate(step, config)
        x, y = sampler.batch(config.batch_size)
        loss = dice_bce_loss(model(torch.from_numpy(x).to(dev)), torch.from_numpy(y).to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        window.append(loss.item())
        done = step + 1
        if done % save_every == 0 or done == config.steps:
            elapsed = seconds + time.perf_counter() - t0
            history.append({"step": done, "loss": float(np.mean(window)), "seconds": round(elapsed, 1)})
            log(f"step {done}/{config.steps} loss {np.mean(window):.4f} ({elapsed:.0f} s)")
            window = []
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(), "step": done, "history": history, "seconds": elapsed,
                        "config": config.to_dict()}, last)
    weights = out_dir / "liver_unet.pt"
    model.eval()
    torch.save({"format": "liverview-liver-unet", "version": 1, "config": config.to_dict(),
                "model": {k: v.cpu() for k, v in model.state_dict().items()}}, weights)
    (out_dir / "train_log.json").write_text(json.dumps({
        "config": config.to_dict(), "history": history, "device": str(dev), "torch": torch.__version__,
        "cases": len(cases), "groups": sorted({c.group for c in cases})}, indent=1))
    return weights


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m liverview_plugins.liver_unet.training", description=__doc__)
    ap.add_argument("--data", type=Path, action="append", required=True, metavar="DIR",
                    help="folder of studies with a liver mask (synth-ct, synth-inserted); repeatable, each folder "
                         "sampled equally often")
    ap.add_argument("--host", type=Path, action="append", default=[], metavar="SCAN",
                    help="a whole real CT (DICOM folder or volume file) labelled by the classical liver_mask; "
                         "repeatable, all hosts together sampled as often as one --data folder")
    ap.add_argument("--out", type=Path, required=True, metavar="DIR")
    ap.add_argument("--steps", type=int, default=LiverUNetConfig.steps)
    ap.add_argument("--batch-size", type=int, default=LiverUNetConfig.batch_size)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu or cuda")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = LiverUNetConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    for folder in args.data:
        if not folder.is_dir():
            ap.error(f"--data {folder} is not a folder")
    t = time.perf_counter()
    cases = load_cases(args.data, config.pixel_mm) + [load_host_case(h, config.pixel_mm) for h in args.host]
    print(f"{len(cases)} phase volumes from {len(args.data)} folders and {len(args.host)} whole scans prepared in "
          f"{time.perf_counter() - t:.0f} s")
    weights = train_liver_unet(cases, config, args.out, args.device)
    print(f"wrote {weights}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
