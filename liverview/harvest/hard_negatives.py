"""Hard negatives: proposals the detector is sure of (s_g >= 0.5) that are not lesions, top 5 per volume."""

from __future__ import annotations

from typing import Iterable

from liverview.harvest.lesion_score import ScoredProposal

MIN_DETECTOR_SCORE = 0.5
PER_VOLUME = 5


def select_hard_negatives(candidates: Iterable[ScoredProposal], min_detector_score: float = MIN_DETECTOR_SCORE,
                          per_volume: int = PER_VOLUME) -> dict[str, list[ScoredProposal]]:
    """Of ``candidates`` (proposals already judged not to be lesions), those with s_g >= min_detector_score,
    then the ``per_volume`` highest s_g of each volume (ties in input order), keyed by volume."""
    if per_volume < 0:
        raise ValueError(f"per_volume must be >= 0, got {per_volume}")
    by_volume: dict[str, list[ScoredProposal]] = {}
    for c in candidates:
        if c.s_g >= min_detector_score:
            by_volume.setdefault(c.volume, []).append(c)
    return {v: sorted(cs, key=lambda c: -c.s_g)[:per_volume] for v, cs in by_volume.items()}
