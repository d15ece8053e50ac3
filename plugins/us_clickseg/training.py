"""Train the joint model: seeded batches of simulated click sequences, checkpoints that resume exactly.

Batch ``k`` is drawn from ``default_rng([seed, k])`` (which lesions, which click sequence, which
augmentation), so a resumed run sees the same batches as an uninterrupted one.

One run may mix lesions with a 4-class label (synthetic phantoms) and lesions known only as benign or
malignant (BUSI, AUL): each sample's class loss is the 4-class focal loss when it has a 4-class label,
else the benign/malignant focal loss on p(malignant) = p(metastasis) + p(hcc); ``source_weights`` sets
how often each source is drawn.
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

from liverview.us.click_simulation import TRAIN_READER, ReaderBox

from .dataset import LoadedLesion, training_sample
from .inference import pick_device, save_checkpoint_weights
from .losses import mixed_label_class_loss, pixel_focal_loss
from .model_clicks import crop_predictor, model_driven_interaction
from .model import CLASS_NAMES, MALIGNANT_CLASSES, JointSegClsNet, NetConfig, load_state_adding_inputs
from .sampling import class_head_sources, draw_lesions, lesion_probabilities, source_of

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
    # Lesions are drawn by source with these weights (record.source: "synthetic", "busi", "aul"), then
    # uniformly within the source; None: uniformly over all lesions.
    source_weights: dict[str, float] | None = None
    # Share of samples whose later clicks go where the network being trained is wrong (:mod:`.model_clicks`,
    # RITM's iterative training); needs net.prior_channel. 0: simulated clicks only.
    model_click_share: float = 0.0
    # How training boxes are drawn: each side out by U(box_margin) x the lesion's size (negative: cut into
    # it) plus N(0, box_jitter x size). The default is liverview.us.click_simulation.TRAIN_READER's.
    box_margin: tuple[float, float] = TRAIN_READER.enlarge
    box_jitter: float = TRAIN_READER.jitter
    net: NetConfig = field(default_factory=NetConfig)


@dataclass
class TrainResult:
    steps_done: int
    minutes: float
    stopped_by_budget: bool
    final_loss: float
    weights_path: Path


def label_mode_of(lesions: list[LoadedLesion]) -> str:
    """four-class when any lesion has a 4-class label (the head then names the four classes; lesions with
    only benign/malignant teach p(malignant)), benign-malignant when none has (BUSI, AUL)."""
    return "four-class" if any(lz.record.class_index >= 0 for lz in lesions) else "benign-malignant"


def _batch(lesions: list[LoadedLesion], rng: np.random.Generator, cfg: TrainConfig,
           probabilities: np.ndarray | None = None, net: JointSegClsNet | None = None):
    idx = draw_lesions(probabilities, len(lesions), rng, cfg.batch_size)
    reader = ReaderBox(tuple(cfg.box_margin), cfg.box_jitter)
    source = None
    if net is not None and cfg.model_click_share > 0:
        predict = crop_predictor(net)
        size = cfg.net.input_size

        def source(image, mask, distances, r):
            return model_driven_interaction(predict, size, image, mask, distances, r, reader=reader)

    xs, ts = zip(*(training_sample(lesions[i], rng, cfg.net.input_size, with_prior=cfg.net.prior_channel,
                                   reader=reader,
                                   interaction_source=source if source is not None and rng.random() < cfg.model_click_share
                                   else None)
                   for i in idx))
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
          meta: dict | None = None, log: Callable[[str], None] = print,
          progress: Callable[[float], None] | None = None) -> TrainResult:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    dev = pick_device(device)
    probs = lesion_probabilities(lesions, cfg.source_weights)
    label_mode = label_mode_of([lz for lz, p in zip(lesions, probs) if p > 0])
    if cfg.source_weights is not None:
        shares = {}
        for lz, p in zip(lesions, probs):
            shares[source_of(lz)] = shares.get(source_of(lz), 0.0) + p
        log("drawing lesions by source: " + ", ".join(f"{s} {shares[s]:.2f}" for s in sorted(shares)))
    if cfg.model_click_share > 0 and not cfg.net.prior_channel:
        raise ValueError("model_click_share needs a net with the prior channel (prior_channel)")
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
        widened = load_state_adding_inputs(net, init["state_dict"])
        log(f"initialised from {init_weights}" + (f" (new input channels start at 0 in {', '.join(widened)})"
                                                  if widened else ""))

    # Class balance as the sampler sees it (with uniform draws: the plain counts, as before source_weights).
    four = np.array([lz.record.class_index >= 0 for lz in lesions])
    counts = np.bincount([lz.record.class_index for lz in lesions if lz.record.class_index >= 0],
                         weights=probs[four], minlength=len(CLASS_NAMES)).astype(float)
    alpha = torch.tensor(np.where(counts > 0, counts.sum() / (len(CLASS_NAMES) * np.where(counts > 0, counts, 1)), 0.0),
                         dtype=torch.float32)
    malignant = np.array([lz.record.malignant for lz in lesions], float)
    binary_p = np.where(four, 0.0, probs)  # the lesions the benign/malignant loss sees
    mal_frac = float((malignant * binary_p).sum() / binary_p.sum()) if binary_p.sum() > 0 else 0.5
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
        last_step = min(cfg.steps, cfg.stop_at_step or cfg.steps)
        while step < last_step:
            if cfg.max_minutes is not None and (time.perf_counter() - t0) / 60 > cfg.max_minutes:
                stopped = True
                log(f"time budget of {cfg.max_minutes} min spent at step {step} of {cfg.steps}")
                break
            rng = np.random.default_rng([cfg.seed, step])
            x, target, cls, mal = _batch(lesions, rng, cfg, None if cfg.source_weights is None else probs, net)
            x, target, cls, mal = x.to(dev), target.to(dev), cls.to(dev), mal.to(dev)
            for g in opt.param_groups:
                g["lr"] = _lr(cfg, step)
            with torch.autocast(dev.type, enabled=dev.type == "cuda"):
                seg_logits, cls_logits = net(x)
            seg_loss = pixel_focal_loss(seg_logits.float(), target)
            cls_loss = mixed_label_class_loss(cls_logits.float(), cls, mal, alpha, mal_idx, 1 - mal_frac)
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
            if progress is not None:  # steps done, or the time budget spent when that ends the run first
                spent = 0.0 if cfg.max_minutes is None else (time.perf_counter() - t0) / 60 / max(cfg.max_minutes, 1e-9)
                progress(min(1.0, max(step / max(last_step, 1), spent)))
    finally:
        log_fh.close()
    _save_checkpoint(ckpt_path, net, opt, step, cfg)
    minutes = (time.perf_counter() - t0) / 60
    meta = dict(meta or {})
    meta.update({"steps": step, "train_minutes_this_run": round(minutes, 2), "seed": cfg.seed,
                 "label_mode": label_mode, "n_lesions": len(lesions), "device": dev.type,
                 "class_head": class_head_sources(lesions, probs),
                 "lesions_per_source": {s: sum(source_of(lz) == s for lz in lesions)
                                        for s in sorted({source_of(lz) for lz in lesions})},
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
