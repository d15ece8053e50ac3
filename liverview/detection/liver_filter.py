"""Keep only proposals that touch the liver: a proposal whose box has no voxel within ``margin_mm`` of the
liver mask is dropped (lesions at the liver's edge and masks that miss a bulging tumour are kept by the
margin)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
from scipy import ndimage

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D, ProposalSet
from liverview.plugin_api.errors import ModelInputError
from liverview.plugin_api.protocols import LiverSegmenter, Progress

DEFAULT_MARGIN_MM = 15.0
DEFAULT_MAX_PROPOSALS = 50


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


@dataclass(frozen=True)
class ReadableProposals:
    """What :func:`readable_proposals_outcome` kept and why: ``liver_ml`` is None when no liver mask was made
    (no segmenter, or it refused the study: every proposal kept then); ``dropped`` counts the proposals away from
    the liver, ``capped`` those beyond the cap."""

    result: ProposalSet
    notes: tuple[str, ...]
    found: int
    dropped: int = 0
    capped: int = 0
    liver_ml: float | None = None


def readable_proposals_outcome(result: ProposalSet, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
                               liver: LiverSegmenter | None, margin_mm: float = DEFAULT_MARGIN_MM,
                               max_proposals: int = DEFAULT_MAX_PROPOSALS,
                               progress: Progress | None = None) -> ReadableProposals:
    """What a reader gets from a detector: proposals near the liver (when ``liver`` is given and finds
    one), at most ``max_proposals`` (0 = all), best first; a line per step saying what was dropped, and the
    counts. ``progress`` follows the liver mask (the long part)."""
    notes = []
    found = len(result.proposals)
    dropped, liver_ml = 0, None
    if liver is not None:
        try:
            hook = {} if progress is None else {"progress": progress}  # older segmenters take no progress
            filtered = filter_by_liver(result, liver.segment(volumes, reference, **hook), margin_mm)
        except ModelInputError as exc:
            notes.append(f"no liver mask ({exc}); every proposal is kept")
        else:
            result, dropped, liver_ml = filtered.kept, len(filtered.dropped), filtered.liver_ml
            notes.append(f"liver mask ({liver.name}): {filtered.liver_ml:.0f} mL; {dropped} of "
                         f"{found} proposals dropped as more than {margin_mm:g} mm from it")
    capped = 0
    if max_proposals and len(result.proposals) > max_proposals:
        notes.append(f"kept the {max_proposals} best of {len(result.proposals)} proposals")
        capped = len(result.proposals) - max_proposals
        result = cap_proposals(result, max_proposals)
    return ReadableProposals(result, tuple(notes), found, dropped, capped, liver_ml)


def readable_proposals(result: ProposalSet, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
                       liver: LiverSegmenter | None, margin_mm: float = DEFAULT_MARGIN_MM,
                       max_proposals: int = DEFAULT_MAX_PROPOSALS,
                       progress: Progress | None = None) -> tuple[ProposalSet, list[str]]:
    """:func:`readable_proposals_outcome`'s proposals and notes."""
    outcome = readable_proposals_outcome(result, volumes, reference, liver, margin_mm, max_proposals, progress)
    return outcome.result, list(outcome.notes)
