"""Hard negatives for HNSL (Cai et al. 2020): a detector's confident proposals in a study whose lesions are all
labelled, that touch no labelled lesion and no region kept out of the labels (a host scan's ignore mask, where
unlabelled real lesions may lie). Written next to a training study as ``hard_negatives.json`` (the proposals
format) and read back by ``load_cases_from_folder``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from liverview.detection.proposals import Proposal3D

HARD_NEGATIVES_FILE = "hard_negatives.json"


@dataclass(frozen=True)
class MiningRule:
    """Which proposals count as hard negatives: score at least ``min_score``, at most ``limit`` per study (best
    first), and no voxel of the proposal's box within ``margin_vox`` (x, y, z voxels) of a lesion's box."""

    min_score: float = 0.3
    limit: int = 10
    margin_vox: tuple[int, int, int] = (4, 4, 1)

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must lie in 0..1, got {self.min_score}")
        if self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")
        if any(m < 0 for m in self.margin_vox):
            raise ValueError(f"margins must be >= 0, got {self.margin_vox}")


def _boxes_overlap(a_lo, a_hi, b_lo, b_hi) -> bool:
    return all(a_lo[d] <= b_hi[d] and b_lo[d] <= a_hi[d] for d in range(3))


def mine_hard_negatives(proposals: Sequence[Proposal3D], lesion_boxes: Sequence[tuple[int, int, int, int, int, int]],
                        rule: MiningRule = MiningRule(), ignore: np.ndarray | None = None) -> list[Proposal3D]:
    """The proposals that are hard negatives under ``rule``, best first. ``lesion_boxes``: inclusive reference-voxel
    boxes (x0, y0, z0, x1, y1, z1) of every labelled lesion; ``ignore``: bool (z, y, x) on the same grid, True where
    lesions may be unlabelled (a proposal touching it is never taken as a negative)."""
    mx, my, mz = rule.margin_vox
    grown = [((x0 - mx, y0 - my, z0 - mz), (x1 + mx, y1 + my, z1 + mz)) for x0, y0, z0, x1, y1, z1 in lesion_boxes]
    out: list[Proposal3D] = []
    for p in sorted(proposals, key=lambda q: -q.score):
        if len(out) >= rule.limit or p.score < rule.min_score:
            break
        lo, hi = p.box_ijk()
        if any(_boxes_overlap(lo, hi, g_lo, g_hi) for g_lo, g_hi in grown):
            continue
        if ignore is not None:
            z0, z1 = max(lo[2], 0), min(hi[2], ignore.shape[0] - 1)
            y0, y1 = max(lo[1], 0), min(hi[1], ignore.shape[1] - 1)
            x0, x1 = max(lo[0], 0), min(hi[0], ignore.shape[2] - 1)
            if z1 >= z0 and y1 >= y0 and x1 >= x0 and ignore[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1].any():
                continue
        out.append(p)
    return out
