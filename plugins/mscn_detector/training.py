"""Train the detector: fixed seed, Adam with warm-up + cosine decay, a checkpoint after every epoch
(``last.pt``, resumed from automatically), final weights ``mscn_detector.pt`` and ``train_log.json``."""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .config import DetectorConfig
from .dataset import (BatchSampler, PreparedCase, TrainingCase, TrainingLesion,
                                           load_cases_from_folder, prepare_case)
from .inference import resolve_device
from .losses import detection_loss
from .model import MultiPhaseCenterNet

__all__ = ["TrainingCase", "TrainingLesion", "load_cases_from_folder", "train_detector", "CHECKPOINT_FILE",
           "WEIGHTS_FILE"]

CHECKPOINT_FILE = "last.pt"
WEIGHTS_FILE = "mscn_detector.pt"
LOG_FILE = "train_log.json"
WEIGHTS_VERSION = "0.2.0"
WARMUP_STEPS = 50


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def learning_rate(step: int, total: int, base: float) -> float:
    if step < WARMUP_STEPS:
        return base * (step + 1) / WARMUP_STEPS
    t = (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _save(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # a crash mid-save never leaves a broken checkpoint behind


def train_detector(cases: Sequence[TrainingCase], config: DetectorConfig, out_dir: str | Path,
                   init_weights: str | Path | None = None, device: str = "auto",
                   progress: Callable[[float], None] | None = None,
                   log: Callable[[str], None] | None = None) -> Path:
    """Train on ``cases``; returns the final weights file. Resumes from ``out_dir/last.pt`` when present
    (the same config is required); ``init_weights`` starts a new run from existing weights (fine-tuning,
    e.g. a harvest round)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    seed_everything(config.seed)
    prepared: list[PreparedCase] = [prepare_case(c, config) for c in cases]
    sampler = BatchSampler(prepared, config)
    if not sampler.positives:
        raise ValueError("the training cases hold no lesion on a usable slice: nothing to learn from")
    # hard negatives come silently from files beside the studies (hard_negatives.json): say so, and record it
    hard = {c.name: len(c.hard_negatives) for c in cases if c.hard_negatives}
    if log:
        log(f"hard negatives (HNSL): {sum(hard.values())} in {len(hard)} of {len(cases)} studies" if hard
            else "hard negatives (HNSL): none")
    model = MultiPhaseCenterNet(config).to(dev)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    total = config.epochs * config.steps_per_epoch
    step, history, elapsed_before = 0, [], 0.0
    ckpt_path = out / CHECKPOINT_FILE
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if DetectorConfig.from_dict(ckpt["config"]).replace(epochs=config.epochs) != config:
            raise ValueError(f"{ckpt_path} was written with another configuration (only --epochs may change "
                             f"on resume); use a new --out folder or delete it to start over")
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimiser"])
        step, history, elapsed_before = ckpt["step"], ckpt["history"], ckpt.get("elapsed_s", 0.0)
        if log:
            log(f"resumed from {ckpt_path} at step {step}/{total}")
    elif init_weights is not None:
        init = torch.load(init_weights, map_location="cpu", weights_only=True)
        model.load_state_dict(init["model"])
        if log:
            log(f"initialised from {init_weights}")
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")
    start = time.perf_counter()
    model.train()
    running: dict[str, float] = {}
    while step < total:
        batch = sampler.sample(step)
        x = batch.pop("image").to(dev).float().div_(255.0)
        present = batch.pop("present").to(dev)
        targets = {k: v.to(dev) for k, v in batch.items()}
        for g in optimiser.param_groups:
            g["lr"] = learning_rate(step, total, config.learning_rate)
        with torch.autocast(dev.type, dtype=torch.float16, enabled=dev.type == "cuda"):
            outputs = model(x, present)
        losses = detection_loss(outputs, targets, config.wh_weight, config.offset_weight)
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(losses["loss"]).backward()
        scaler.unscale_(optimiser)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        scaler.step(optimiser)
        scaler.update()
        for k, v in losses.items():
            running[k] = running.get(k, 0.0) + float(v.detach())
        step += 1
        if progress:
            progress(step / total)
        if step % config.steps_per_epoch == 0 or step == total:
            n = (step - 1) % config.steps_per_epoch + 1
            epoch_stats = {k: v / n for k, v in running.items()}
            running = {}
            elapsed = elapsed_before + time.perf_counter() - start
            history.append({"step": step, "epoch": math.ceil(step / config.steps_per_epoch), "elapsed_s": elapsed,
                            **epoch_stats})
            if log:
                log(f"epoch {history[-1]['epoch']}/{config.epochs} step {step}: " +
                    " ".join(f"{k} {v:.4f}" for k, v in epoch_stats.items()) + f" ({elapsed:.0f} s)")
            _save(ckpt_path, {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                              "config": config.to_dict(), "history": history, "elapsed_s": elapsed})
    elapsed = elapsed_before + time.perf_counter() - start
    weights = out / WEIGHTS_FILE
    _save(weights, {"model": model.state_dict(), "config": config.to_dict(), "version": WEIGHTS_VERSION,
                    "steps": total, "train_cases": [c.name for c in cases], "hard_negatives": hard,
                    "train_time_s": elapsed})
    (out / LOG_FILE).write_text(json.dumps({"config": config.to_dict(), "history": history,
                                            "train_cases": [c.name for c in cases], "hard_negatives": hard,
                                            "device": str(dev), "train_time_s": elapsed}, indent=1))
    return weights
