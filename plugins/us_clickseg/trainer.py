"""The click network's trainer for LiverView's ClickSegmenterTrainer protocol.

Options: TrainConfig fields (steps, batch_size, lr, seed, max_minutes, checkpoint_every, stop_at_step,
num_threads, source_weights, ...), NetConfig fields (input_size, widths, encoder, ...), and ``name`` / ``meta``
stored in the weights. ``encoder="resnet"`` starts from :data:`.model.RESNET_DEFAULTS` (input_size, widths,
fc_hidden) where the options do not name them."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from liverview.plugin_api.errors import ModelInputError
from liverview.us.click_simulation import ReaderBox
from liverview.us.lesion_dataset import LoadedLesion

from .model import RESNET_DEFAULTS, NetConfig
from .sampling import lesion_probabilities
from .training import TrainConfig, train

_STORED = ("name", "meta")


def configs_from_options(options: Mapping[str, Any]) -> TrainConfig:
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)} - {"net"}
    net_keys = {f.name for f in dataclasses.fields(NetConfig)}
    unknown = sorted(set(options) - train_keys - net_keys - set(_STORED))
    if unknown:
        raise ModelInputError(f"us_clickseg has no training option {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(train_keys | net_keys | set(_STORED)))})")
    net_options = dict(RESNET_DEFAULTS) if options.get("encoder") == "resnet" else {}
    net_options.update({k: v for k, v in options.items() if k in net_keys and v is not None})
    try:
        net = NetConfig(**{k: (tuple(v) if k == "widths" else v) for k, v in net_options.items()})
    except ValueError as exc:
        raise ModelInputError(str(exc)) from exc
    if net.input_size < 32 or net.input_size % 2 ** (len(net.widths) - 1):
        raise ModelInputError(f"input_size must be >= 32 and divisible by {2 ** (len(net.widths) - 1)}")
    train_options = {k: v for k, v in options.items() if k in train_keys}
    if train_options.get("source_weights") is not None:
        train_options["source_weights"] = _source_weights(train_options["source_weights"])
    if train_options.get("box_margin") is not None:
        train_options["box_margin"] = tuple(float(v) for v in train_options["box_margin"])
    cfg = TrainConfig(**train_options, net=net)
    try:
        ReaderBox(cfg.box_margin, cfg.box_jitter)
    except (ValueError, TypeError) as exc:
        raise ModelInputError(f"box_margin / box_jitter: {exc}") from exc
    if not 0.0 <= float(cfg.model_click_share) <= 1.0:
        raise ModelInputError(f"model_click_share must lie in 0..1, got {cfg.model_click_share}")
    if cfg.model_click_share > 0 and not net.prior_channel:
        raise ModelInputError("model_click_share (clicks where the net is wrong) needs the prior channel: "
                              "add prior_channel (train-us --prior-channel)")
    return cfg


def _source_weights(value: Any) -> dict[str, float]:
    """{source: weight >= 0} from a mapping, e.g. {"aul": 0.4, "busi": 0.4, "synthetic": 0.2}."""
    if not isinstance(value, Mapping) or not value:
        raise ModelInputError(f"source_weights must map sources (synthetic, busi, aul) to weights, got {value!r}")
    try:
        weights = {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"source_weights: every weight must be a number, got {dict(value)!r}") from exc
    if any(not math.isfinite(v) or v < 0 for v in weights.values()) or sum(weights.values()) <= 0:
        raise ModelInputError(f"source_weights must be >= 0 and not all 0, got {weights}")
    return weights


class ClickSegTrainer:
    def train(self, lesions: Sequence[LoadedLesion], out_dir: Path, options: Mapping[str, Any],
              init_weights: Path | None = None, device: str = "auto", resume: bool = False,
              log: Callable[[str], None] | None = None, progress: Callable[[float], None] | None = None) -> Path:
        cfg = configs_from_options(options)
        try:
            lesion_probabilities(list(lesions), cfg.source_weights)
        except ValueError as exc:  # a source of the data without a weight: say so before any work
            raise ModelInputError(str(exc)) from exc
        say = log or (lambda _m: None)
        result = train(list(lesions), out_dir, cfg, device=device, resume=resume, init_weights=init_weights,
                       name=str(options.get("name") or Path(out_dir).name), meta=dict(options.get("meta") or {}),
                       log=say, progress=progress)
        say(f"done: {result.steps_done} steps in {result.minutes:.1f} min"
            f"{' (stopped by --max-minutes)' if result.stopped_by_budget else ''}; smoothed loss "
            f"{result.final_loss:.4f}; weights {result.weights_path}")
        return result.weights_path
