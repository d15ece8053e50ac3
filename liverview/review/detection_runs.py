"""A new detection run (or proposals file) against what the study's queue holds: the queue shows one run.

The new run's proposals replace the pending ones of earlier runs. Decided proposals (accepted, rejected,
edited, flagged) stay with their decisions; a new proposal on the same lesion as a decided one (same
identity, or boxes overlapping by ``MATCH_IOU``) is not added again, so a lesion is never reviewed twice.
A pending proposal the new run repeats exactly is kept as it is (same id, same place in the queue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from liverview.store.records import ProposalRecord

MATCH_IOU = 0.5  # 3D IoU of mm boxes above which a new proposal is the same finding as a decided one


def proposal_identity(p: ProposalRecord) -> tuple:
    """Same model, same voxel box, same key slice, same score: the same proposal (a run repeated)."""
    return (p.source_model, p.box.min_ijk, p.box.max_ijk, p.key_slice, round(p.score, 6))


def box_iou(a: ProposalRecord, b: ProposalRecord) -> float:
    """3D IoU of two proposals' boxes in mm."""
    lo = np.maximum(a.box.min_mm, b.box.min_mm)
    hi = np.minimum(a.box.max_mm, b.box.max_mm)
    inter = float(np.prod(np.clip(hi - lo, 0.0, None)))
    va = float(np.prod(np.subtract(a.box.max_mm, a.box.min_mm)))
    vb = float(np.prod(np.subtract(b.box.max_mm, b.box.min_mm)))
    union = va + vb - inter
    return inter / union if union > 0 else 0.0


@dataclass
class RunPlan:
    """What storing a new run does to the queue."""

    fresh: list[ProposalRecord] = field(default_factory=list)  # to store
    keep: list[int] = field(default_factory=list)  # pending proposals the run repeats: kept as they are
    replaced: list[int] = field(default_factory=list)  # pending proposals of earlier runs: removed
    decided: int = 0  # decided proposals kept
    matched_decided: int = 0  # new proposals on a lesion already decided: not added

    def describe(self, source: str) -> str:
        """One status line: what came in, what it replaced, what was kept."""
        parts = [f"{len(self.fresh)} proposals from {source}"]
        if self.replaced:
            parts.append(f"replaced the {len(self.replaced)} pending proposals of the previous run")
        if self.keep:
            parts.append(f"{len(self.keep)} already in the project were not added again")
        if self.decided:
            parts.append(f"kept the {self.decided} decided ones")
        if self.matched_decided:
            parts.append(f"{self.matched_decided} on a lesion already decided were not added")
        return "; ".join(parts)


def plan_run(existing: Sequence[ProposalRecord], incoming: Sequence[ProposalRecord]) -> RunPlan:
    """Compare a new run with the study's proposals (``existing``, as stored)."""
    pending = {proposal_identity(p): p.id for p in existing if p.status == "pending" and p.lesion_id is None}
    decided = [p for p in existing if not (p.status == "pending" and p.lesion_id is None)]
    decided_ids = {proposal_identity(p) for p in decided}
    plan = RunPlan(decided=len(decided))
    kept: set[int] = set()
    for r in incoming:
        ident = proposal_identity(r)
        if ident in pending:
            if pending[ident] not in kept:
                kept.add(pending[ident])
                plan.keep.append(pending[ident])
        elif ident in decided_ids or any(box_iou(r, d) >= MATCH_IOU for d in decided):
            plan.matched_decided += 1
        else:
            plan.fresh.append(r)
    plan.replaced = [pid for pid in pending.values() if pid not in kept]
    return plan
