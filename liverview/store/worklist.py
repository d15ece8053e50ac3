"""The worklist of a project of many studies (a scanned archive): one row per CT study with its patient, date,
phases and how many of its proposals wait for review, were accepted or rejected. Read in one query, so a
project of thousands of studies lists at once; the app's table shows these rows, sorted and filtered there.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Sequence

from liverview.core.study import PHASE_ORDER, PhaseKind
from liverview.store.entity_methods import EntityMethods

# Phases in acquisition order; the study date a DICOM header gave (the study browser's index), else none.
_WORKLIST_SQL = """
SELECT s.id, s.uid, s.patient_id, s.description, s.created_at,
       (SELECT group_concat(ph.kind, '|') FROM phases ph WHERE ph.study_id = s.id) AS phase_kinds,
       (SELECT max(x.study_date) FROM series_index x WHERE s.uid <> '' AND x.study_uid = s.uid) AS study_date,
       count(p.id) AS proposals,
       coalesce(sum(p.status = 'pending'), 0) AS to_review,
       coalesce(sum(p.status IN ('accepted', 'edited')), 0) AS accepted,
       coalesce(sum(p.status = 'rejected'), 0) AS rejected,
       coalesce(sum(p.status = 'flagged'), 0) AS flagged
FROM studies s LEFT JOIN proposals p ON p.study_id = s.id
WHERE s.modality = 'CT'
GROUP BY s.id
ORDER BY s.id
"""


@dataclass(frozen=True)
class WorklistRow:
    """One study of the worklist. ``accepted`` counts proposals made lesions as they were or after editing."""

    study_id: int
    uid: str
    patient_id: str
    description: str
    study_date: str  # YYYY-MM-DD from the DICOM header, "" when the study has none (volume files, phantoms)
    added: str  # YYYY-MM-DD the study was added to the project
    phases: tuple[str, ...]  # short names in acquisition order: NC, ART, PV, DEL, ? (unknown)
    proposals: int
    to_review: int
    accepted: int
    rejected: int
    flagged: int

    @property
    def date(self) -> str:
        """The study's date when known, else the day it was added."""
        return self.study_date or self.added

    @property
    def label(self) -> str:
        """How the study is named to people: patient and description."""
        return " ".join(t for t in (self.patient_id, self.description) if t) or f"study {self.study_id}"


def _dicom_date(text: str | None) -> str:
    t = (text or "").strip()
    return f"{t[:4]}-{t[4:6]}-{t[6:8]}" if len(t) == 8 and t.isdigit() else t


def _short_phases(kinds: str | None) -> tuple[str, ...]:
    rank = {k: n for n, k in enumerate(PHASE_ORDER)}
    parsed = []
    for name in (kinds or "").split("|"):
        if name:
            try:
                parsed.append(PhaseKind(name))
            except ValueError:
                parsed.append(PhaseKind.UNKNOWN)  # e.g. an ultrasound phase name: not a CT phase
    parsed.sort(key=lambda k: rank.get(k, len(PHASE_ORDER)))
    return tuple(k.short for k in parsed)


def _row(r: sqlite3.Row) -> WorklistRow:
    return WorklistRow(int(r["id"]), r["uid"], r["patient_id"], r["description"], _dicom_date(r["study_date"]),
                       str(r["created_at"])[:10], _short_phases(r["phase_kinds"]), int(r["proposals"]),
                       int(r["to_review"]), int(r["accepted"]), int(r["rejected"]), int(r["flagged"]))


class WorklistMethods(EntityMethods):
    """Mixed into Project."""

    def worklist(self) -> list[WorklistRow]:
        """Every CT study of the project with its review counts (one query), in the order they were added."""
        return [_row(r) for r in self._conn.execute(_WORKLIST_SQL)]


def next_to_review(rows: Sequence[WorklistRow], current_id: int | None) -> WorklistRow | None:
    """The study to review after ``current_id`` in the worklist's order (as shown: sorted, filtered): the next
    one below it with proposals to review, else the first such one above it (wrapping); never the current."""
    start = next((n + 1 for n, r in enumerate(rows) if r.study_id == current_id), 0)
    for r in [*rows[start:], *rows[:start]]:
        if r.study_id != current_id and r.to_review > 0:
            return r
    return None
