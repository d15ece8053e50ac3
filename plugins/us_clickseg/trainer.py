"""The click network's trainer for LiverView's ClickSegmenterTrainer protocol.

Options: TrainConfig fields (steps, batch_size, lr, seed, max_minutes, checkpoint_every, stop_at_step,
num_threads, ...), NetConfig fields (input_size, widths), and ``name`` / ``meta`` stored in the weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from liverview.plugin_api.errors import ModelInputError
from liverview.us.lesion_dataset import LoadedLesion

from .model import NetConfig
from .training import TrainConfig, train

_STORED = ("name", "meta")


def configs_from_options(options: Mapping[str, Any]) -> TrainConfig:
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)} - {"net"}
    net_keys = {f.name for f in dataclasses.fields(NetConfig)}
    unknown = sorted(set(options) - train_keys - net_keys - set(_STORED))
    if unknown:
        raise ModelInputError(f"us_clickseg has no training option {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(train_keys | net_keys | set(_STORED)))})")
    net = NetConfig(**{k: (tuple(v) if k == "widths" else v) for k, v in options.items() if k in net_keys})
    if net.input_size < 32 or net.input_size % 2 ** (len(net.widths) - 1):
        raise ModelInputError(f"input_size must be >= 32 and divisible by {2 ** (len(net.widths) - 1)}")
    return TrainConfig(**{k: v for k, v in options.items() if k in train_keys}, net=net)


class ClickSegTrainer:
    def train(self, lesions: Sequence[LoadedLesion], out_dir: Path, options: Mapping[str, Any],
              init_weights: Path | None = None, device: str = "auto", resume: bool = False,
              log: Callable[[str], None] | None = None) -> Path:
        cfg = configs_from_options(options)
        say = log or (lambda _m: None)
        result = train(list(lesions), out_dir, cfg, device=device, resume=resume, init_weights=init_weights,
                       name=str(options.get("name") or Path(out_dir).name), meta=dict(options.get("meta") or {}),
                       log=say)
        say(f"done: {result.steps_done} steps in {result.minutes:.1f} min"
            f"{' (stopped by --max-minutes)' if result.stopped_by_budget else ''}; smoothed loss "
            f"{result.final_loss:.4f}; weights {result.weights_path}")
        return result.weights_path
