"""Train the lesion proposal classifier on crops of proposals known to be lesions or not (binary
cross-entropy, batches balanced between the two, flips and intensity jitter, fixed seed)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import LpcConfig
from .inference import resolve_device
from .model import MultiViewLPC

WEIGHTS_FILE = "lpc.pt"
LOG_FILE = "lpc_train_log.json"
WEIGHTS_VERSION = "0.1.0"


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flips of each view and a small contrast / brightness change per sample."""
    n = x.shape[0]
    for axis in (-1, -2):
        flip = torch.rand(n, generator=gen) < 0.5
        if flip.any():
            x[flip] = x[flip].flip(axis)
    scale = 1.0 + (torch.rand(n, 1, 1, 1, 1, generator=gen) - 0.5) * 0.2
    shift = (torch.rand(n, 1, 1, 1, 1, generator=gen) - 0.5) * 0.1
    return (x * scale + shift).clamp_(0.0, 1.0)


def train_lpc(crops: np.ndarray, labels: np.ndarray, config: LpcConfig, out_dir: str | Path,
              device: str = "auto", init_weights: str | Path | None = None,
              log: Callable[[str], None] | None = None, progress: Callable[[float], None] | None = None) -> Path:
    """Train on ``crops`` (N, 3, phases, S, S) with ``labels`` (True = lesion); returns the weights file.
    ``progress`` hears the share of steps done."""
    crops = np.asarray(crops, np.float32)
    y = np.asarray(labels, bool)
    if crops.ndim != 5 or crops.shape[1] != 3 or crops.shape[2] != len(config.phases):
        raise ValueError(f"crops must be (N, 3 views, {len(config.phases)} phases, S, S), got {crops.shape}")
    if len(crops) != len(y):
        raise ValueError(f"{len(crops)} crops but {len(y)} labels")
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(f"the classifier needs lesions and non-lesions to learn from; got {len(pos)} lesion(s) "
                         f"and {len(neg)} non-lesion(s) (review more proposals of the fully annotated volumes)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = MultiViewLPC(config).to(dev)
    if init_weights is not None:
        model.load_state_dict(torch.load(init_weights, map_location="cpu", weights_only=True)["model"])
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = config.epochs * max(1, math.ceil(len(y) / config.batch_size))
    half = config.batch_size // 2
    data = torch.from_numpy(crops)
    start, history = time.perf_counter(), []
    model.train()
    running = 0.0
    for step in range(steps):
        idx = np.r_[rng.choice(pos, half), rng.choice(neg, config.batch_size - half)]
        x = _augment(data[idx].clone(), gen).to(dev)
        target = torch.from_numpy(y[idx].astype(np.float32)).to(dev)
        for g in opt.param_groups:
            g["lr"] = config.learning_rate * 0.5 * (1 + math.cos(math.pi * step / steps))
        with torch.autocast(dev.type, dtype=torch.float16, enabled=dev.type == "cuda"):
            logits = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running += float(loss.detach())
        if (step + 1) % 50 == 0 or step + 1 == steps:
            n = (step % 50) + 1
            history.append({"step": step + 1, "loss": running / n, "elapsed_s": time.perf_counter() - start})
            running = 0.0
            if log:
                log(f"LPC step {step + 1}/{steps} loss {history[-1]['loss']:.4f}")
        if progress is not None:
            progress((step + 1) / steps)
    elapsed = time.perf_counter() - start
    weights = out / WEIGHTS_FILE
    tmp = weights.with_suffix(".pt.tmp")
    torch.save({"model": model.state_dict(), "config": config.to_dict(), "version": WEIGHTS_VERSION,
                "samples": int(len(y)), "positives": int(len(pos)), "steps": steps, "train_time_s": elapsed}, tmp)
    tmp.replace(weights)
    (out / LOG_FILE).write_text(json.dumps({"config": config.to_dict(), "samples": int(len(y)),
                                            "positives": int(len(pos)), "steps": steps, "device": str(dev),
                                            "train_time_s": elapsed, "history": history}, indent=1))
    return weights
