"""Proposals on a study's ignore mask, left out of an evaluation.

A real host scan with inserted lesions (`liverview synth-inserted`) may hold real lesions nobody labelled; the
generator writes them as an ignore mask. A proposal there is neither a hit nor a known false positive, so an
evaluation may leave it out: a proposal is ignored when the voxel at its box centre on its key slice lies in the
mask (the reference grid's voxels, z, y, x)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from liverview.detection.proposals import Proposal3D


def in_ignore_mask(proposal: Proposal3D, mask: np.ndarray) -> bool:
    x0, y0, x1, y1 = proposal.box
    z, y, x = proposal.key_slice, int((y0 + y1) / 2), int((x0 + x1) / 2)
    inside = 0 <= z < mask.shape[0] and 0 <= y < mask.shape[1] and 0 <= x < mask.shape[2]
    return bool(inside and mask[z, y, x])


def drop_ignored(proposals: Sequence[Proposal3D], mask: np.ndarray) -> list[Proposal3D]:
    """The proposals whose centre is not in ``mask`` (bool, z, y, x), in their order."""
    return [p for p in proposals if not in_ignore_mask(p, mask)]
