"""The Project's studies and phases: identifiers and where each phase's volume lives (set-up, so audited
but not undoable)."""

from __future__ import annotations

import os

from liverview.core.study import PhaseKind
from liverview.store.entity_methods import EntityMethods
from liverview.store.records import (
    InvalidRecordError,
    PhaseRecord,
    StudyRecord,
    check_modality,
    check_pixel_units,
    normalize_phase,
)
from liverview.store.row_mapping import phase_from_row, study_from_row
from liverview.store.timestamps import utc_timestamp


class StudyMethods(EntityMethods):
    """Mixed into Project."""

    def add_study(self, uid: str = "", description: str = "", patient_id: str = "", modality: str = "CT") -> int:
        """Register a study (identifiers only); returns its id. A non-empty UID may appear once.
        ``modality`` is "CT" or "US". Audited, but not on the undo stack: undo takes back the reader's
        annotations, not the set-up."""
        modality = check_modality(modality)
        with self._edit("add_study", "study", undoable=False) as edit:
            if uid:
                same = self._conn.execute("SELECT id FROM studies WHERE uid = ?", (uid,)).fetchone()
                if same is not None:
                    raise InvalidRecordError(f"study {uid} is already in the project (id {same['id']})")
            edit.entity_id = edit.insert("studies", {"uid": uid, "description": description,
                                                     "patient_id": patient_id, "created_at": utc_timestamp(),
                                                     "modality": modality})
        return int(edit.entity_id)

    def add_phase(self, study_id: int, kind: str | PhaseKind, source_path: str | os.PathLike[str],
                  series_uid: str = "", reference: bool | None = None, pixel_units: str = "mm") -> int:
        """Record where a phase's volume lives; returns its id. ``reference=None`` makes the study's
        first phase its reference; ``True`` moves the reference to this phase. ``pixel_units="px"``
        marks an image without a stated pixel size. Audited, not undoable."""
        kind_name = normalize_phase(kind)
        pixel_units = check_pixel_units(pixel_units)
        with self._edit("add_phase", "phase", undoable=False) as edit:
            self._require("studies", study_id, "study")
            current = self._conn.execute("SELECT id FROM phases WHERE study_id = ? AND is_reference = 1",
                                         (study_id,)).fetchone()
            is_ref = current is None if reference is None else bool(reference)
            if is_ref and current is not None:
                edit.update("phases", current["id"], {"is_reference": 0})
            edit.entity_id = edit.insert("phases", {
                "study_id": study_id, "kind": kind_name, "source_path": str(source_path),
                "series_uid": series_uid, "is_reference": int(is_ref), "pixel_units": pixel_units})
        return int(edit.entity_id)

    def list_studies(self) -> list[StudyRecord]:
        return [study_from_row(r) for r in self._conn.execute("SELECT * FROM studies ORDER BY id")]

    def list_phases(self, study_id: int) -> list[PhaseRecord]:
        return [phase_from_row(r)
                for r in self._conn.execute("SELECT * FROM phases WHERE study_id = ? ORDER BY id", (study_id,))]
