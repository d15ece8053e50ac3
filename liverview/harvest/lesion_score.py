"""Lesion score s = s_g * s_c and the score threshold that keeps precision >= 95 % on reviewed volumes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from liverview.detection.proposals import Proposal3D


@dataclass(frozen=True)
class ScoredProposal:
    """A proposal of one volume with its detector score s_g (= ``proposal.score``) and the proposal
    classifier's lesion probability s_c; ``index`` is its position in the volume's proposal list."""

    volume: str
    index: int
    proposal: Proposal3D
    s_c: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.s_c) and 0.0 <= self.s_c <= 1.0):
            raise ValueError(f"s_c must be a probability in [0, 1], got {self.s_c!r}")

    @property
    def s_g(self) -> float:
        return self.proposal.score

    @property
    def score(self) -> float:
        """The lesion score s = s_g * s_c."""
        return lesion_score(self.s_g, self.s_c)


def lesion_score(s_g: float, s_c: float) -> float:
    """s = s_g * s_c: a proposal is harvested only when the detector and the classifier both believe it."""
    return float(s_g) * float(s_c)


@dataclass(frozen=True)
class PrecisionThreshold:
    """The lowest score threshold whose kept set (score >= threshold) reaches the precision asked for,
    with that set's precision and recall (share of the positives kept). ``threshold`` is None when no
    threshold reaches it; then nothing may be harvested."""

    threshold: float | None
    min_precision: float
    precision: float
    recall: float
    kept: int
    positives: int
    candidates: int

    def keeps(self, score: float) -> bool:
        return self.threshold is not None and score >= self.threshold


def threshold_for_precision(scores: Sequence[float], is_positive: Sequence[bool],
                            min_precision: float = 0.95) -> PrecisionThreshold:
    """Among the distinct scores t, the lowest one whose set {score >= t} has precision >= min_precision
    (the most recall at that precision). Tied scores are kept or dropped together."""
    s = np.asarray(scores, float)
    y = np.asarray(is_positive, bool)
    if s.shape != y.shape:
        raise ValueError(f"{len(s)} scores but {len(y)} labels")
    if not 0.0 < min_precision <= 1.0:
        raise ValueError(f"min_precision must be in (0, 1], got {min_precision}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    n_pos = int(y.sum())
    none = PrecisionThreshold(None, min_precision, math.nan, 0.0, 0, n_pos, len(s))
    if n_pos == 0:
        return none
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    kept = np.arange(1, len(s) + 1)
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    precision = tp / kept
    ok = np.flatnonzero(last_of_tie & (precision >= min_precision))
    if len(ok) == 0:
        return none
    i = int(ok[-1])  # the lowest qualifying threshold keeps the most
    return PrecisionThreshold(float(s[i]), min_precision, float(precision[i]), float(tp[i] / n_pos), int(kept[i]),
                              n_pos, len(s))
