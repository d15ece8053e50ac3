"""The LPC's trainer for LiverView's ProposalClassifierTrainer protocol: options are LpcConfig fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from liverview.plugin_api.errors import ModelInputError
from liverview.plugin_api.protocols import LabelledProposals

from .config import LpcConfig
from .crops import multiview_crops
from .training import train_lpc


def config_from_options(options: Mapping[str, Any]) -> LpcConfig:
    known = {f.name for f in dataclasses.fields(LpcConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ModelInputError(f"lesion_proposal_classifier has no training option {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
    try:
        return LpcConfig().replace(**options)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(str(exc)) from None


class LpcTrainer:
    def train(self, examples: Sequence[LabelledProposals], out_dir: Path, options: Mapping[str, Any],
              device: str = "auto", log: Callable[[str], None] | None = None,
              progress: Callable[[float], None] | None = None) -> Path:
        config = config_from_options(options)
        used = [e for e in examples if len(e.proposals)]
        if not used:
            raise ModelInputError("the classifier needs labelled proposals to learn from; got none")
        crops = np.concatenate([multiview_crops(e.volumes, e.reference, list(e.proposals), config) for e in used])
        labels = np.array([bool(v) for e in used for v in e.labels], bool)
        try:
            return train_lpc(crops, labels, config, out_dir, device=device, log=log, progress=progress)
        except ValueError as exc:
            raise ModelInputError(str(exc)) from None

    # PreparingProposalClassifierTrainer (liverview.plugin_api.prepared_training): the crops are cut next to
    # each study (a Ray task), training runs on the crops alone; the same crops and order give the same weights.
    def prepare(self, example: LabelledProposals, options: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        config = config_from_options(options)
        crops = multiview_crops(example.volumes, example.reference, list(example.proposals), config)
        return crops, np.array([bool(v) for v in example.labels], bool)

    def train_prepared(self, prepared: Sequence[tuple[np.ndarray, np.ndarray]], out_dir: Path,
                       options: Mapping[str, Any], device: str = "auto",
                       log: Callable[[str], None] | None = None) -> Path:
        config = config_from_options(options)
        used = [(c, y) for c, y in prepared if len(y)]
        if not used:
            raise ModelInputError("the classifier needs labelled proposals to learn from; got none")
        crops = np.concatenate([c for c, _ in used])
        labels = np.concatenate([y for _, y in used])
        try:
            return train_lpc(crops, labels, config, out_dir, device=device, log=log)
        except ValueError as exc:
            raise ModelInputError(str(exc)) from None
