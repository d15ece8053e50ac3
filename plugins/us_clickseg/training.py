"""Train the joint model: seeded batches of simulated click sequences, checkpoints that resume exactly.

Batch ``k`` is drawn from ``default_rng([seed, k])`` (which lesions, which click sequence, which
augmentation), so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .dataset import LoadedLesion, training_sample
from .inference import pick_device, save_checkpoint_weights
from .losses import binary_focal_from_classes, class_focal_loss, pixel_focal_loss
from .model import CLASS_NAMES, MALIGNANT_CLASSES, JointSegClsNet, NetConfig

CHECKPOINT_FILE = "checkpoint.pt"
WEIGHTS_FILE = "us_clickseg.pt"
LOG_FILE = "train_log.csv"


@dataclass
class TrainConfig:
    steps: int = 3000
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    max_minutes: float | None = None  # stop early (and say so) when the wall-clock budget is spent
    checkpoint_every: int = 200
    stop_at_step: int | None = None  # end this run early at that step (a staged run; --resume continues)
    num_threads: int = 2
    cls_weight: float = 1.0
    net: NetConfig = field(default_factory=NetConfig)


@dataclass
class TrainResult:
    steps_done: int
    minutes: float
    stopped_by_budget: bool
    final_loss: float
    weights_path: Path


def label_mode_of(lesions: list[LoadedLesion]) -> str:
    """four-class when every lesion has a 4-class label, benign-malignant when none has (BUSI)."""
    known = [lz.record.class_index >= 0 for lz in lesions]
    if all(known):
        return "four-class"
    if not any(known):
        return "benign-malignant"
    raise ValueError("the data mixes 4-class and benign/malignant-only labels; train on one kind")


def _batch(lesions: list[LoadedLesion], rng: np.random.Generator, cfg: TrainConfig):
    idx = rng.integers(len(lesions), size=cfg.batch_size)
    xs, ts = zip(*(training_sample(lesions[i], rng, cfg.net.input_size) for i in idx))
    cls = torch.tensor([lesions[i].record.class_index for i in idx])
    mal = torch.tensor([lesions[i].record.malignant for i in idx])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))[:, None], cls, mal


def _lr(cfg: TrainConfig, step: int) -> float:
    warm = min(100, cfg.steps // 10 + 1)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * (step - warm) / max(cfg.steps - warm, 1)))


def train(lesions: list[LoadedLesion], out_dir: Path, cfg: TrainConfig, device: str = "auto",
          resume: bool = False, init_weights: Path | None = None, name: str = "us_clickseg",
          meta: dict | None = None, log: Callable[[str], None] = print) -> TrainResult:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    dev = pick_device(device)
    label_mode = label_mode_of(lesions)
    net = JointSegClsNet(cfg.net).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")
    start_step = 0
    ckpt_path = out_dir / CHECKPOINT_FILE
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no {CHECKPOINT_FILE} in {out_dir}")
        ckpt = torch.load(ckpt_path, map_location=dev, weights_only=False)
        if NetConfig.from_dict(ckpt["net"]) != cfg.net:
            raise ValueError("--resume: the checkpoint's network config differs from this run's")
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_step = int(ckpt["step"])
        torch.set_rng_state(ckpt["torch_rng"])  # dropout draws continue as if never interrupted
        log(f"resumed from {ckpt_path} at step {start_step}")
    elif init_weights is not None:
        init = torch.load(init_weights, map_location=dev, weights_only=False)
        net.load_state_dict(init["state_dict"])
        log(f"initialised from {init_weights}")

    counts = np.bincount([lz.record.class_index for lz in lesions if lz.record.class_index >= 0],
                         minlength=len(CLASS_NAMES)).astype(float)
    alpha = torch.tensor(np.where(counts > 0, counts.sum() / (len(CLASS_NAMES) * np.maximum(counts, 1)), 0.0),
                         dtype=torch.float32)
    mal_frac = float(np.mean([lz.record.malignant for lz in lesions]))
    mal_idx = [CLASS_NAMES.index(c) for c in MALIGNANT_CLASSES]

    log_path = out_dir / LOG_FILE
    new_log = not (resume and log_path.is_file())
    log_fh = open(log_path, "w" if new_log else "a", newline="")
    writer = csv.writer(log_fh)
    if new_log:
        writer.writerow(["step", "lr", "loss", "seg_loss", "cls_loss", "seconds"])
    t0 = time.perf_counter()
    step, stopped, loss_avg = start_step, False, float("nan")
    net.train()
    try:
        while step < min(cfg.steps, cfg.stop_at_step or cfg.steps):
            if cfg.max_minutes is not None and (time.perf_counter() - t0) / 60 > cfg.max_minutes:
                stopped = True
                log(f"time budget of {cfg.max_minutes} min spent at step {step} of {cfg.steps}")
                break
            rng = np.random.default_rng([cfg.seed, step])
            x, target, cls, mal = _batch(lesions, rng, cfg)
            x, target, cls, mal = x.to(dev), target.to(dev), cls.to(dev), mal.to(dev)
            for g in opt.param_groups:
                g["lr"] = _lr(cfg, step)
            with torch.autocast(dev.type, enabled=dev.type == "cuda"):
                seg_logits, cls_logits = net(x)
            seg_loss = pixel_focal_loss(seg_logits.float(), target)
            if label_mode == "four-class":
                cls_loss = class_focal_loss(cls_logits.float(), cls, alpha)
            else:
                cls_loss = binary_focal_from_classes(cls_logits.float(), mal, mal_idx, alpha=1 - mal_frac)
            loss = seg_loss + cfg.cls_weight * cls_loss
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            step += 1
            li = float(loss.detach())
            loss_avg = li if math.isnan(loss_avg) else 0.98 * loss_avg + 0.02 * li
            writer.writerow([step, f"{_lr(cfg, step - 1):.6g}", f"{li:.5f}", f"{float(seg_loss.detach()):.5f}",
                             f"{float(cls_loss.detach()):.5f}", f"{time.perf_counter() - t0:.1f}"])
            if step % 50 == 0:
                log_fh.flush()
                log(f"step {step}/{cfg.steps} loss {loss_avg:.4f} ({time.perf_counter() - t0:.0f} s)")
            if step % cfg.checkpoint_every == 0:
                _save_checkpoint(ckpt_path, net, opt, step, cfg)
    finally:
        log_fh.close()
    _save_checkpoint(ckpt_path, net, opt, step, cfg)
    minutes = (time.perf_counter() - t0) / 60
    meta = dict(meta or {})
    meta.update({"steps": step, "train_minutes_this_run": round(minutes, 2), "seed": cfg.seed,
                 "label_mode": label_mode, "n_lesions": len(lesions), "device": dev.type,
                 "train_config": {k: v for k, v in asdict(cfg).items() if k != "net"}})
    weights = out_dir / WEIGHTS_FILE
    save_checkpoint_weights(weights, net.eval(), name, label_mode, meta)
    (out_dir / "train_meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return TrainResult(step, minutes, stopped, loss_avg, weights)


def _save_checkpoint(path: Path, net, opt, step: int, cfg: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "net": cfg.net.to_dict(), "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(path)
