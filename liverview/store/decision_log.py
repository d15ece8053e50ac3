"""Every review decision of a project with what was decided on: the proposal (box in mm, score, class, model)
and its study (uid, patient). Read in one query, oldest first, for `liverview decisions` (auditing a
harvest, handing the verified proposals to other tools). Decisions taken back with undo are not in it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from liverview.store.entity_methods import EntityMethods
from liverview.store.timestamps import parse_timestamp

_DECISION_LOG_SQL = """
SELECT d.id AS decision_id, d.decision, d.reviewer, d.decided_at, d.note, d.model,
       p.id AS proposal_id, p.score, p.lesion_class, p.status, p.lesion_id, p.key_slice,
       p.min_x, p.min_y, p.min_z, p.max_x, p.max_y, p.max_z,
       s.id AS study_id, s.uid AS study_uid, s.patient_id, s.description
FROM review_decisions d JOIN proposals p ON p.id = d.proposal_id JOIN studies s ON s.id = p.study_id
ORDER BY d.id
"""


@dataclass(frozen=True)
class DecisionLogRow:
    """One decision; ``status`` is the proposal's status now (its last decision)."""

    decision_id: int
    decided_at: str  # ISO 8601, UTC
    reviewer: str
    decision: str  # accepted, edited, rejected, flagged
    note: str
    model: str  # the model that made the proposal
    proposal_id: int
    score: float
    lesion_class: str
    status: str
    lesion_id: int | None  # the lesion made from the proposal (accepted or edited)
    key_slice: int | None
    box_mm: tuple[float, float, float, float, float, float]  # min x, y, z, max x, y, z (patient mm)
    study_id: int
    study_uid: str
    patient_id: str
    study_description: str


def _row(r: sqlite3.Row) -> DecisionLogRow:
    return DecisionLogRow(
        int(r["decision_id"]), parse_timestamp(r["decided_at"]).isoformat(), r["reviewer"], r["decision"], r["note"],
        r["model"], int(r["proposal_id"]), float(r["score"]), r["lesion_class"], r["status"], r["lesion_id"],
        r["key_slice"], tuple(float(r[k]) for k in ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z")),
        int(r["study_id"]), r["study_uid"], r["patient_id"], r["description"])


class DecisionLogMethods(EntityMethods):
    """Mixed into Project."""

    def decision_log(self) -> list[DecisionLogRow]:
        """Every review decision of the project, oldest first (one query)."""
        return [_row(r) for r in self._conn.execute(_DECISION_LOG_SQL)]
