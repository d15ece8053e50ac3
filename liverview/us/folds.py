"""Cross-validation folds over images: each image is held out exactly once, labels spread evenly."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def stratified_folds(labels: Sequence[str], n_folds: int, seed: int = 0) -> list[list[int]]:
    """Indices of each fold: every label's items shuffled (seeded) and dealt round-robin, continuing
    where the previous label stopped, so fold sizes differ by at most one."""
    if n_folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {n_folds}")
    if n_folds > len(labels):
        raise ValueError(f"{n_folds} folds need at least {n_folds} images, got {len(labels)}")
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    turn = 0
    for label in sorted(set(labels)):
        members = [i for i, v in enumerate(labels) if v == label]
        for i in rng.permutation(members):
            folds[turn % n_folds].append(int(i))
            turn += 1
    return [sorted(f) for f in folds]
