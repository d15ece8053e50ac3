"""The Project's record of archive scans (`liverview scan`): per study identity, done (with its study row and
proposals) or failed (with the message and how many attempts were made). A finished study is written in one
transaction together with its study row, phases and proposals, so a killed scan never leaves half a study.

The scan rows are bookkeeping, not annotations: the study, phase and proposal rows a scan writes are audited
like any import; the ``scan_results`` row beside them is not (it is neither undoable nor part of a reading).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Sequence

from liverview.core.study import PhaseKind
from liverview.store.entity_methods import EntityMethods
from liverview.store.proposal_methods import check_new_proposals, insert_proposals
from liverview.store.records import InvalidRecordError, ProposalRecord, normalize_phase
from liverview.store.timestamps import parse_timestamp, utc_timestamp

SCAN_STATUSES = ("done", "failed")
MAX_MESSAGE_CHARS = 4000  # a failure's message as stored (tracebacks are cut, the first line is what matters)


class StudyAlreadyScannedError(InvalidRecordError):
    """The study was already recorded as scanned; writing it again would duplicate its proposals."""


@dataclass(frozen=True)
class ScannedPhase:
    """Where one phase of a scanned study came from (what the project's phases table records)."""

    kind: str | PhaseKind
    source_path: str
    series_uid: str = ""
    reference: bool = False


@dataclass(frozen=True)
class ScanRecord:
    """What the project knows of one study of a scanned archive."""

    study_key: str  # DICOM StudyInstanceUID, or "sha256:..." of the study's files
    status: str  # "done" or "failed"
    attempts: int  # how many times it was run (each failure counts, and the run that finished it)
    source: str  # where it was last found (a path: shown to people, never used to identify it)
    study_id: int | None = None  # the studies row, when done
    signature: str = ""  # sizes and times of its files when the key was computed (saves hashing again)
    message: str = ""  # why the last attempt failed
    model: str = ""  # the detector that made its proposals
    proposals: int = 0
    seconds: float | None = None
    updated_at: datetime | None = None


def _scan_from_row(r: sqlite3.Row) -> ScanRecord:
    return ScanRecord(r["study_key"], r["status"], r["attempts"], r["source"], r["study_id"], r["signature"],
                      r["message"], r["model"], r["proposals"], r["seconds"], parse_timestamp(r["updated_at"]))


class ScanMethods(EntityMethods):
    """Mixed into Project."""

    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]  # Project's plain transaction

    def scan_records(self) -> dict[str, ScanRecord]:
        """Every scanned or failed study, by study key."""
        return {r["study_key"]: _scan_from_row(r)
                for r in self._conn.execute("SELECT * FROM scan_results ORDER BY id")}

    def failed_scans(self) -> list[ScanRecord]:
        """The studies whose last scan failed: they have no worklist row, and readers must hear of them."""
        return [_scan_from_row(r) for r in
                self._conn.execute("SELECT * FROM scan_results WHERE status = 'failed' ORDER BY id")]

    def scan_record(self, study_key: str) -> ScanRecord | None:
        r = self._conn.execute("SELECT * FROM scan_results WHERE study_key = ?", (study_key,)).fetchone()
        return None if r is None else _scan_from_row(r)

    def record_scanned_study(self, study_key: str, source: str, phases: Sequence[ScannedPhase],
                             proposals: Iterable[ProposalRecord], model: str, description: str = "",
                             patient_id: str = "", signature: str = "", seconds: float | None = None) -> int:
        """Store a finished study in one transaction: its study row (reused when the project already has one
        with this key as UID, e.g. opened in the app before), its phases (when the row has none), its
        proposals and its scan row marked done. Returns the study id. StudyAlreadyScannedError when the key
        is already done: a study's proposals are never stored twice."""
        if not study_key:
            raise InvalidRecordError("a scanned study needs its identity (StudyInstanceUID or content hash)")
        items = check_new_proposals(proposals)
        kinds = [normalize_phase(p.kind) for p in phases]
        if not phases or sum(bool(p.reference) for p in phases) != 1:
            raise InvalidRecordError(f"study {study_key}: give its phases with exactly one reference phase")
        with self._edit("scan_study", "study", undoable=False) as edit:
            conn = self._conn
            previous = conn.execute("SELECT * FROM scan_results WHERE study_key = ?", (study_key,)).fetchone()
            if previous is not None and previous["status"] == "done":
                raise StudyAlreadyScannedError(f"study {study_key} was already scanned (study id "
                                               f"{previous['study_id']}); its proposals are not stored again")
            row = conn.execute("SELECT id FROM studies WHERE uid = ?", (study_key,)).fetchone()
            if row is None:
                study_id = edit.insert("studies", {"uid": study_key, "description": description,
                                                   "patient_id": patient_id, "created_at": utc_timestamp(),
                                                   "modality": "CT"})
            else:
                study_id = int(row["id"])
            edit.entity_id = study_id
            if conn.execute("SELECT 1 FROM phases WHERE study_id = ? LIMIT 1", (study_id,)).fetchone() is None:
                for phase, kind in zip(phases, kinds):
                    edit.insert("phases", {"study_id": study_id, "kind": kind, "source_path": phase.source_path,
                                           "series_uid": phase.series_uid, "is_reference": int(bool(phase.reference)),
                                           "pixel_units": "mm"})
            insert_proposals(edit, study_id, items)
            values = {"study_id": study_id, "source": str(source), "signature": signature, "status": "done",
                      "attempts": (previous["attempts"] if previous is not None else 0) + 1, "message": "",
                      "model": model, "proposals": len(items), "seconds": seconds, "updated_at": utc_timestamp()}
            _upsert_scan_row(conn, study_key, values)
        return study_id

    def record_scan_failure(self, study_key: str, source: str, message: str, signature: str = "",
                            seconds: float | None = None) -> int:
        """Record that a study failed (unreadable, out of memory, its worker died, ...) with the message;
        returns how many attempts it has had. A study already done is left as it is."""
        if not study_key:
            raise InvalidRecordError("a scanned study needs its identity (StudyInstanceUID or content hash)")
        text = str(message).strip() or "failed without a message"
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS - 20] + " ... (message cut)"
        with self._transaction() as conn:
            previous = conn.execute("SELECT * FROM scan_results WHERE study_key = ?", (study_key,)).fetchone()
            if previous is not None and previous["status"] == "done":
                return int(previous["attempts"])
            attempts = (previous["attempts"] if previous is not None else 0) + 1
            _upsert_scan_row(conn, study_key, {
                "study_id": None, "source": str(source), "signature": signature, "status": "failed",
                "attempts": attempts, "message": text, "model": "", "proposals": 0, "seconds": seconds,
                "updated_at": utc_timestamp()})
        return attempts


def _upsert_scan_row(conn: sqlite3.Connection, study_key: str, values: dict[str, object]) -> None:
    cols = ["study_key", *values]
    conn.execute(f"INSERT INTO scan_results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                 f"ON CONFLICT(study_key) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in values)}",
                 [study_key, *values.values()])
