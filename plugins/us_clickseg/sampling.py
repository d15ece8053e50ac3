"""Which lesions a training batch draws: by source (synthetic phantoms, BUSI breast, AUL liver) with the
run's ``source_weights``, then uniformly within the source; and what each source taught the class head."""

from __future__ import annotations

import math

import numpy as np

from liverview.us.lesion_dataset import LoadedLesion


def source_of(lesion: LoadedLesion) -> str:
    """The lesion's ``record.source`` ("synthetic", "busi", "aul"); "unknown" for records that name none."""
    return lesion.record.source or "unknown"


def lesion_probabilities(lesions: list[LoadedLesion], source_weights: dict[str, float] | None) -> np.ndarray:
    """How likely each lesion is drawn for a sample: its source's share of ``source_weights`` (renormalised
    over the sources present), split evenly among that source's lesions, which is drawing a source by the
    weights and then a lesion uniformly within it; uniform over lesions when None."""
    n = len(lesions)
    if source_weights is None:
        return np.full(n, 1.0 / n)
    sources = [source_of(lz) for lz in lesions]
    missing = sorted(set(sources) - set(source_weights))
    if missing:
        raise ValueError(f"source_weights gives no weight to source {', '.join(missing)} "
                         f"(weights for: {', '.join(sorted(source_weights))})")
    if any(not (math.isfinite(float(v)) and float(v) >= 0) for v in source_weights.values()):
        raise ValueError(f"source_weights must be finite and >= 0, got {source_weights}")
    per_source = {s: sources.count(s) for s in set(sources)}
    p = np.array([float(source_weights[s]) / per_source[s] for s in sources])
    if p.sum() <= 0:
        raise ValueError(f"source_weights give every source of the data weight 0: {source_weights}")
    return p / p.sum()


def draw_lesions(probabilities: np.ndarray | None, n_lesions: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """Indices of ``count`` lesions; None: uniform (the draw of runs without source_weights, kept exactly)."""
    if probabilities is None:
        return rng.integers(n_lesions, size=count)
    return rng.choice(n_lesions, size=count, p=probabilities)


def class_head_sources(lesions: list[LoadedLesion], probabilities: np.ndarray) -> dict[str, list[str]]:
    """Which sources taught the class head what: 4-class labels, and benign/malignant (every drawn lesion)."""
    used = [lz for lz, p in zip(lesions, probabilities) if p > 0]
    return {"four_class_from": sorted({source_of(lz) for lz in used if lz.record.class_index >= 0}),
            "benign_malignant_from": sorted({source_of(lz) for lz in used})}
