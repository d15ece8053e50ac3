"""A small phantom study and proposals on it (true lesions first, then decoys), for the review UI tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from liverview.core.study import PhaseKind
from liverview.detection.proposals import Proposal3D, ProposalSet, write_proposals
from liverview.synth.ct_phantom import generate_ct_study


@lru_cache(maxsize=2)
def phantom(seed: int = 5):
    return generate_ct_study(seed, n_lesions=5, shape=(32, 160, 160), spacing_mm=(1.0, 1.0, 2.5))


def phantom_proposals(n: int, seed: int = 5) -> ProposalSet:
    """True lesions (high scores) then random boxes in the volume (lower scores), n in all."""
    ph = phantom(seed)
    rng = np.random.default_rng(seed)
    out = []
    for les in ph.lesions:
        x0, y0, z0, x1, y1, z1 = les.box_ijk
        out.append(Proposal3D((x0, y0, x1 + 1, y1 + 1), (z0, z1), float(rng.uniform(0.8, 0.99)), les.key_slice,
                              {les.lesion_class: 0.9}))
    nz, ny, nx = ph.shape
    while len(out) < n:
        x0, y0 = rng.uniform(30, nx - 50), rng.uniform(30, ny - 50)
        w, h = rng.uniform(6, 20, 2)
        z0 = int(rng.integers(2, nz - 6))
        out.append(Proposal3D((x0, y0, x0 + w, y0 + h), (z0, z0 + 3), float(rng.uniform(0.1, 0.7)), z0 + 1,
                              {"metastasis": 0.5}))
    return ProposalSet.for_volume(out[:n], ph.phases[PhaseKind.NON_CONTRAST], model="test-boxes")


def write_phantom_proposals(path: Path, n: int, seed: int = 5) -> Path:
    return write_proposals(path, phantom_proposals(n, seed))
