"""A small project with proposals on a synthetic volume, for the review tests."""

from __future__ import annotations

import numpy as np

from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D
from liverview.review.proposal_import import records_from_proposals
from liverview.store.project import Project


def reference_volume() -> Volume:
    return Volume(np.zeros((20, 64, 64), np.int16), (0.8, 0.8, 2.5), (-25.0, -25.0, -20.0))


def proposals(n: int, seed: int = 0) -> list[Proposal3D]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x0, y0 = rng.uniform(2, 40, 2)
        w, h = rng.uniform(3, 20, 2)
        z0 = int(rng.integers(0, 15))
        z1 = z0 + int(rng.integers(0, 4))
        out.append(Proposal3D((x0, y0, x0 + w, y0 + h), (z0, z1), float(rng.uniform(0.05, 0.99)), (z0 + z1) // 2,
                              {"hcc": 0.7, "cyst": 0.3}))
    return out


def project_with_proposals(path, n: int = 12, user: str = "dr-review") -> tuple[Project, int, Volume]:
    volume = reference_volume()
    project = Project.create(path, user)
    study_id = project.add_study(uid="study-1")
    imported = records_from_proposals(proposals(n), volume, "mscn-test")
    assert not imported.problems
    project.add_proposals(study_id, imported.records)
    return project, study_id, volume
