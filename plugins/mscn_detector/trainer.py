"""The detector's trainer for LiverView's DetectorTrainer protocol: options are DetectorConfig fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from liverview.core.study import PhaseKind
from liverview.detection.training_data import TrainingCase
from liverview.plugin_api.errors import ModelInputError

from .config import DetectorConfig
from .training import train_detector


def config_from_options(options: Mapping[str, Any], base: DetectorConfig | None = None) -> DetectorConfig:
    """``base`` (default: the shipped model's config) with ``options`` applied; unknown keys are refused."""
    base = base or DetectorConfig()
    known = {f.name for f in dataclasses.fields(DetectorConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ModelInputError(f"mscn_detector has no training option {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
    changes = dict(options)
    if "phases" in changes:
        changes["phases"] = tuple(PhaseKind.parse(str(p)).value for p in changes["phases"])
    for key in ("epochs", "steps_per_epoch", "batch_size"):
        if key in changes and int(changes[key]) < 1:
            raise ModelInputError(f"{key} must be at least 1, got {changes[key]}")
    try:
        return base.replace(**changes)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"mscn_detector training options: {exc}") from None


class MscnDetectorTrainer:
    """Trains from scratch, resumes from out_dir/last.pt, or fine-tunes ``init_weights``: their config is
    kept, ``options`` change the schedule (e.g. a harvest round's short HNSL fine-tuning) and the learning
    rate is halved unless given."""

    def train(self, cases: Sequence[TrainingCase], out_dir: Path, options: Mapping[str, Any],
              init_weights: Path | None = None, device: str = "auto",
              progress: Callable[[float], None] | None = None, log: Callable[[str], None] | None = None) -> Path:
        base = None
        if init_weights is not None:
            base = DetectorConfig.from_dict(torch.load(init_weights, map_location="cpu", weights_only=True)["config"])
            options = {"learning_rate": base.learning_rate / 2, **options}
        config = config_from_options(options, base)
        return train_detector(cases, config, out_dir, init_weights=init_weights, device=device,
                              progress=progress, log=log)
