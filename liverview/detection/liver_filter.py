"""Keep only proposals that touch the liver: a proposal whose box has no voxel within ``margin_mm`` of the
liver mask is dropped (lesions at the liver's edge and masks that miss a bulging tumour are kept by the
margin)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy import ndimage

from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D, ProposalSet


@dataclass(frozen=True)
class LiverFilterResult:
    kept: ProposalSet
    dropped: tuple[Proposal3D, ...]
    liver_ml: float


def near_liver(mask: Volume, margin_mm: float) -> np.ndarray:
    """The liver mask grown by ``margin_mm`` (distance in mm on the mask's anisotropic grid)."""
    liver = np.asarray(mask.array) > 0
    if margin_mm <= 0:
        return liver
    sx, sy, sz = mask.spacing
    return ndimage.distance_transform_edt(~liver, sampling=(sz, sy, sx)) <= margin_mm


def filter_by_liver(proposals: ProposalSet, mask: Volume, margin_mm: float = 15.0) -> LiverFilterResult:
    """Split ``proposals`` (on the mask's grid) into those touching the grown liver and the rest."""
    zone = near_liver(mask, margin_mm)
    nz, ny, nx = zone.shape
    kept: list[Proposal3D] = []
    dropped: list[Proposal3D] = []
    for p in proposals.proposals:
        (i0, j0, k0), (i1, j1, k1) = p.box_ijk()
        box = zone[max(k0, 0):min(k1, nz - 1) + 1, max(j0, 0):min(j1, ny - 1) + 1, max(i0, 0):min(i1, nx - 1) + 1]
        (kept if box.any() else dropped).append(p)
    liver_ml = float((np.asarray(mask.array) > 0).sum() * np.prod(mask.spacing) / 1000.0)
    return LiverFilterResult(replace(proposals, proposals=tuple(kept)), tuple(dropped), liver_ml)


def cap_proposals(proposals: ProposalSet, limit: int) -> ProposalSet:
    """The ``limit`` best-scored proposals (a reader reviews a queue, not hundreds of boxes)."""
    best: Sequence[Proposal3D] = proposals.sorted_by_score()[:limit]
    return replace(proposals, proposals=tuple(best))
