"""The Project's lesions: their class, status and notes, RECIST mark, boxes and per-phase masks. Every
change is one undoable edit."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from liverview.core.study import PhaseKind
from liverview.core.volume import GeometryError, Volume
from liverview.store.edit_log import Edit, Row, write_audit
from liverview.store.entity_methods import EntityMethods
from liverview.store.project_errors import UnknownEntityError
from liverview.store.records import (
    BoxRecord,
    InvalidRecordError,
    LesionRecord,
    RecistRecord,
    StoreChange,
    StoreError,
    check_lesion_class,
    check_lesion_status,
    normalize_phase,
)
from liverview.store.row_mapping import (
    MASK_DTYPES,
    box_from_row,
    box_values,
    lesion_from_row,
    mask_values,
    recist_values,
)
from liverview.store.timestamps import utc_timestamp

# The fields update_lesion may change.
_LESION_FIELDS = ("lesion_class", "status", "notes")
_IMPORT_CHUNK = 50_000  # rows per executemany call of import_lesions (progress is reported between them)
_RECIST_COLUMNS = ("lesion_id", "phase", "key_slice",
                   "long_x0", "long_y0", "long_z0", "long_x1", "long_y1", "long_z1",
                   "short_x0", "short_y0", "short_z0", "short_x1", "short_y1", "short_z1")


@dataclass
class RecistBatch:
    """Many RECIST marks at once, as arrays (one row per lesion): long and short axis end points (N, 2, 3)
    in LPS mm, key slices (N,), the phase of each, and the lesion notes."""

    long_axis: np.ndarray
    short_axis: np.ndarray
    key_slice: np.ndarray
    phases: Sequence[str]
    notes: Sequence[str]

    def __len__(self) -> int:
        return int(len(self.key_slice))

    def checked(self) -> "RecistBatch":
        """The batch with its phases normalized; InvalidRecordError when a shape or value is wrong."""
        n = len(self)
        long_axis = np.asarray(self.long_axis, dtype=float)
        short_axis = np.asarray(self.short_axis, dtype=float)
        key_slice = np.asarray(self.key_slice)
        if long_axis.shape != (n, 2, 3) or short_axis.shape != (n, 2, 3) or len(self.phases) != n \
                or len(self.notes) != n:
            raise InvalidRecordError(f"a RECIST batch needs (N, 2, 3) axes and N key slices, phases and notes; "
                                     f"got {long_axis.shape}, {short_axis.shape}, {n}, {len(self.phases)}, "
                                     f"{len(self.notes)}")
        if not (np.isfinite(long_axis).all() and np.isfinite(short_axis).all()):
            raise InvalidRecordError("a RECIST batch holds non-finite end points")
        if key_slice.dtype.kind not in "iu" or (n and key_slice.min() < 0):
            raise InvalidRecordError("RECIST key slices must be whole numbers >= 0")
        if n and (np.linalg.norm(long_axis[:, 1] - long_axis[:, 0], axis=1) == 0).any():
            raise InvalidRecordError("a RECIST long axis in the batch has zero length")
        names = {p: normalize_phase(p) for p in set(self.phases)}
        return RecistBatch(long_axis, short_axis, key_slice.astype(np.int64),
                           [names[p] for p in self.phases], [str(t) for t in self.notes])


@dataclass(frozen=True)
class ImportedLesion:
    """One lesion read from another tool's file: class, optional RECIST mark, masks per phase, and the reader
    the file names ("" = the project's user)."""

    lesion_class: str
    notes: str = ""
    recist: RecistRecord | None = None
    masks: tuple[tuple[str, Volume], ...] = ()  # (phase, mask on that phase's grid)
    created_by: str = ""
    tracking_uid: str = ""  # the file's DICOM tracking UID for the lesion, kept with a new lesion
    into_lesion: int | None = None  # the study's lesion this one is (same tracking UID): add what it lacks


@dataclass
class ImportOutcome:
    """What one imported file did: new lesion ids, existing lesions that gained a RECIST mark or masks, and
    one line per part left out because the existing lesion already had one."""

    added: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _insert_row(conn, table: str, values: dict[str, Any]) -> None:
    """One row of an import, inside the caller's transaction (imports are not on the undo stack)."""
    conn.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                 tuple(values.values()))


# Edits that record who measured a lesion's RECIST mark (see LesionMethods.measured_by).
_MEASURING_ACTIONS = ("add_lesion", "set_recist")


class LesionMethods(EntityMethods):
    """Mixed into Project."""

    def add_lesion(self, study_id: int, lesion_class: str, notes: str = "", recist: RecistRecord | None = None,
                   box: BoxRecord | None = None, status: str = "draft") -> LesionRecord:
        """A new lesion of ``study_id`` created by this project's user, with optional RECIST mark and box."""
        values = self._new_lesion_values(study_id, lesion_class, notes, recist, box, status)
        with self._edit("add_lesion", "lesion") as edit:
            lesion_id = self._insert_lesion(edit, values, recist, box)
            edit.entity_id = lesion_id
        return self.get_lesion(lesion_id)

    def _new_lesion_values(self, study_id: int, lesion_class: str, notes: str, recist: RecistRecord | None,
                           box: BoxRecord | None, status: str) -> Row:
        """The checked lesions row of a new lesion (before any write)."""
        if recist is not None and not isinstance(recist, RecistRecord):
            raise InvalidRecordError(f"recist must be a RecistRecord, got {type(recist).__name__}")
        if box is not None and not isinstance(box, BoxRecord):
            raise InvalidRecordError(f"box must be a BoxRecord, got {type(box).__name__}")
        return {"study_id": study_id, "lesion_class": check_lesion_class(lesion_class),
                "status": check_lesion_status(status), "notes": str(notes), "created_by": self._user}

    def _insert_lesion(self, edit: Edit, values: Row, recist: RecistRecord | None, box: BoxRecord | None) -> int:
        """Write a new lesion (row, RECIST mark, box) inside ``edit``; returns its id."""
        self._require("studies", values["study_id"], "study")
        now = utc_timestamp()
        lesion_id = edit.insert("lesions", {**values, "created_at": now, "updated_at": now})
        if recist is not None:
            edit.insert("recist_marks", recist_values(lesion_id, recist))
        if box is not None:
            edit.insert("boxes", {**box_values(box), "lesion_id": lesion_id})
        return lesion_id

    def import_lesions(self, study_id: int, batch: RecistBatch, source: str, lesion_class: str = "unknown",
                       progress: Callable[[int, int], None] | None = None) -> list[int]:
        """Add one lesion with its RECIST mark per row of ``batch`` in one transaction: all of them or, if
        anything fails or the user interrupts, none. Audited as one 'import_lesions' entry (source, count,
        ids); like other imports it is not on the undo stack. ``progress(done, total)`` is called between
        chunks. Returns the new lesion ids, in batch order."""
        batch = batch.checked()
        lesion_class = check_lesion_class(lesion_class)
        n = len(batch)
        if n == 0:
            return []
        now = utc_timestamp()
        with self._transaction() as conn:
            self._require("studies", study_id, "study")
            seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'lesions'").fetchone()
            top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM lesions").fetchone()[0]
            first = max(int(seq[0]) if seq else 0, int(top)) + 1
            ids = range(first, first + n)
            ends = np.concatenate([batch.long_axis.reshape(n, 6), batch.short_axis.reshape(n, 6)], axis=1).tolist()
            keys = batch.key_slice.tolist()
            marks = f"INSERT INTO recist_marks ({', '.join(_RECIST_COLUMNS)}) VALUES ({', '.join('?' * 15)})"
            for lo in range(0, n, _IMPORT_CHUNK):
                hi = min(lo + _IMPORT_CHUNK, n)
                conn.executemany(
                    "INSERT INTO lesions (id, study_id, lesion_class, status, notes, created_by, created_at, "
                    "updated_at) VALUES (?, ?, ?, 'draft', ?, ?, ?, ?)",
                    ((first + r, study_id, lesion_class, batch.notes[r], self._user, now, now) for r in range(lo, hi)))
                conn.executemany(marks, ((first + r, batch.phases[r], keys[r], *ends[r]) for r in range(lo, hi)))
                if progress is not None:
                    progress(hi, n)
            summary = {"lesions": {"count": n, "first_id": ids[0], "last_id": ids[-1], "source": source}}
            write_audit(conn, self._user, "import_lesions", "study", study_id, None, json.dumps(summary))
        self._notify(StoreChange("study", study_id, "import_lesions"))
        return list(ids)

    def add_imported_lesions(self, study_id: int, lesions: Sequence[ImportedLesion], source: str) -> ImportOutcome:
        """Add the lesions of one imported file in one transaction: all of them or, if anything fails, none.
        An item with ``into_lesion`` adds its RECIST mark and masks to that lesion of the study where it has none
        (what it already has is kept and listed). Audited as one 'import_annotations' entry (source, ids); like
        other imports not on the undo stack."""
        rows = []
        for item in lesions:
            if item.recist is not None and not isinstance(item.recist, RecistRecord):
                raise InvalidRecordError(f"recist must be a RecistRecord, got {type(item.recist).__name__}")
            masks = [(normalize_phase(phase), mask_values(mask)) for phase, mask in item.masks]
            rows.append((check_lesion_class(item.lesion_class), item, masks))
        outcome = ImportOutcome()
        if not rows:
            return outcome
        now = utc_timestamp()
        ids = outcome.added
        with self._transaction() as conn:
            self._require("studies", study_id, "study")
            for lesion_class, item, masks in rows:
                if item.into_lesion is not None:
                    self._complete_lesion(conn, study_id, item, masks, now, outcome)
                    continue
                cur = conn.execute(
                    "INSERT INTO lesions (study_id, lesion_class, status, notes, created_by, created_at, updated_at, "
                    "tracking_uid) VALUES (?, ?, 'draft', ?, ?, ?, ?, ?)",
                    (study_id, lesion_class, str(item.notes), item.created_by or self._user, now, now,
                     str(item.tracking_uid)))
                lesion_id = int(cur.lastrowid)
                ids.append(lesion_id)
                if item.recist is not None:
                    _insert_row(conn, "recist_marks", recist_values(lesion_id, item.recist))
                for phase, values in masks:
                    _insert_row(conn, "masks", {**values, "lesion_id": lesion_id, "phase": phase, "updated_at": now})
            summary = {"lesions": {"count": len(ids), "ids": ids, "source": source,
                                   "completed": outcome.completed}}
            write_audit(conn, self._user, "import_annotations", "study", study_id, None, json.dumps(summary))
        self._notify(StoreChange("study", study_id, "import_annotations"))
        return outcome

    def _complete_lesion(self, conn, study_id: int, item: ImportedLesion, masks: list, now: str,
                         outcome: ImportOutcome) -> None:
        """Add the item's RECIST mark and masks to its existing lesion where that has none (inside the
        caller's transaction)."""
        lesion_id = int(item.into_lesion)
        row = conn.execute("SELECT study_id, deleted FROM lesions WHERE id = ?", (lesion_id,)).fetchone()
        if row is None or row["deleted"] or row["study_id"] != study_id:
            raise InvalidRecordError(f"lesion {lesion_id} is not a lesion of study {study_id}")
        changed = False
        if item.recist is not None:
            if conn.execute("SELECT 1 FROM recist_marks WHERE lesion_id = ?", (lesion_id,)).fetchone():
                outcome.kept.append(f"lesion {lesion_id} keeps its own RECIST mark")
            else:
                _insert_row(conn, "recist_marks", recist_values(lesion_id, item.recist))
                changed = True
        for phase, values in masks:
            if conn.execute("SELECT 1 FROM masks WHERE lesion_id = ? AND phase = ?", (lesion_id, phase)).fetchone():
                outcome.kept.append(f"lesion {lesion_id} keeps its own {phase} mask")
                continue
            _insert_row(conn, "masks", {**values, "lesion_id": lesion_id, "phase": phase, "updated_at": now})
            changed = True
        if changed:
            conn.execute("UPDATE lesions SET updated_at = ? WHERE id = ?", (now, lesion_id))
            if lesion_id not in outcome.completed:
                outcome.completed.append(lesion_id)

    def measured_by(self, lesion_id: int) -> str:
        """The reader who made the lesion's current RECIST mark: who last set it, by the audit log, else who
        created the lesion (imports record the reader there)."""
        row = self._require("lesions", lesion_id, "lesion")
        for r in self._conn.execute(
                "SELECT who, after_json FROM audit WHERE entity = 'lesion' AND entity_id = ? AND action IN (?, ?) "
                "ORDER BY id DESC", (lesion_id, *_MEASURING_ACTIONS)):
            after = json.loads(r["after_json"]) if r["after_json"] else {}
            if after.get("recist_marks"):
                return str(r["who"])
        return str(row["created_by"])

    def update_lesion(self, lesion_id: int, **fields: str) -> LesionRecord:
        """Change a lesion's ``lesion_class``, ``status`` and/or ``notes``; returns the lesion as saved."""
        unknown = sorted(set(fields) - set(_LESION_FIELDS))
        if unknown:
            raise InvalidRecordError(f"update_lesion cannot change {', '.join(unknown)}: "
                                     f"it changes {', '.join(_LESION_FIELDS)}")
        if "lesion_class" in fields:
            check_lesion_class(fields["lesion_class"])
        if "status" in fields:
            check_lesion_status(fields["status"])
        if "notes" in fields:
            fields["notes"] = str(fields["notes"])
        with self._edit("update_lesion", "lesion", lesion_id) as edit:
            current = self._live_lesion(lesion_id)
            changed = {k: v for k, v in fields.items() if current[k] != v}
            if changed:
                edit.update("lesions", lesion_id, {**changed, "updated_at": utc_timestamp()})
        return self.get_lesion(lesion_id)

    def set_recist(self, lesion_id: int, recist: RecistRecord | None) -> LesionRecord:
        """Replace the lesion's RECIST mark (None removes it); returns the lesion as saved."""
        if recist is not None and not isinstance(recist, RecistRecord):
            raise InvalidRecordError(f"recist must be a RecistRecord or None, got {type(recist).__name__}")
        with self._edit("set_recist", "lesion", lesion_id) as edit:
            self._live_lesion(lesion_id)
            old = edit.row("recist_marks", lesion_id)
            if recist is None:
                if old is not None:
                    edit.delete("recist_marks", lesion_id)
            else:
                new = recist_values(lesion_id, recist)
                if old is None:
                    edit.insert("recist_marks", new)
                elif old != new:
                    edit.update("recist_marks", lesion_id, {k: v for k, v in new.items() if k != "lesion_id"})
            if edit.changes:
                edit.update("lesions", lesion_id, {"updated_at": utc_timestamp()})
        return self.get_lesion(lesion_id)

    def delete_lesion(self, lesion_id: int) -> None:
        """Delete a lesion (kept in the file, marked deleted, so undo can bring it back)."""
        with self._edit("delete_lesion", "lesion", lesion_id) as edit:
            self._live_lesion(lesion_id)
            edit.update("lesions", lesion_id, {"deleted": 1, "updated_at": utc_timestamp()})

    def get_lesion(self, lesion_id: int) -> LesionRecord:
        """The lesion, deleted or not; UnknownEntityError when the project never had it."""
        found = self._lesions("WHERE l.id = ?", (lesion_id,))
        if not found:
            raise UnknownEntityError(f"no lesion {lesion_id} in {self._path.name}")
        return found[0]

    def list_lesions(self, study_id: int | None = None, include_deleted: bool = False) -> list[LesionRecord]:
        """Lesions in creation order, of one study or all; deleted ones only when asked."""
        where, params = [], []
        if study_id is not None:
            where.append("l.study_id = ?")
            params.append(study_id)
        if not include_deleted:
            where.append("l.deleted = 0")
        return self._lesions(("WHERE " + " AND ".join(where)) if where else "", tuple(params))

    def _lesions(self, where: str, params: tuple[Any, ...]) -> list[LesionRecord]:
        conn = self._conn
        boxes: dict[int, list[BoxRecord]] = {}
        for r in conn.execute(f"SELECT b.* FROM boxes b JOIN lesions l ON l.id = b.lesion_id {where}", params):
            boxes.setdefault(r["lesion_id"], []).append(box_from_row(r))
        rows = conn.execute(f"SELECT l.*, r.* FROM lesions l LEFT JOIN recist_marks r ON r.lesion_id = l.id "
                            f"{where} ORDER BY l.id", params)
        return [lesion_from_row(r, boxes.get(r["id"], ())) for r in rows]

    # --- masks -----------------------------------------------------------------------------------
    def set_mask(self, lesion_id: int, phase: str | PhaseKind, mask: Volume | None) -> None:
        """Store the lesion's mask on ``phase`` (a bool/uint8 Volume: voxels and their grid), replacing
        any earlier one; None removes it. Voxels are stored zlib-compressed."""
        phase_name = normalize_phase(phase)
        if mask is not None and not isinstance(mask, Volume):
            raise InvalidRecordError(f"a mask must be a Volume (array + geometry), got {type(mask).__name__}")
        new = None if mask is None else mask_values(mask)
        with self._edit("set_mask", "lesion", lesion_id) as edit:
            self._live_lesion(lesion_id)
            old = self._conn.execute("SELECT * FROM masks WHERE lesion_id = ? AND phase = ?",
                                     (lesion_id, phase_name)).fetchone()
            if new is None:
                if old is not None:
                    edit.delete("masks", old["id"])
            elif old is None:
                edit.insert("masks", {**new, "lesion_id": lesion_id, "phase": phase_name,
                                      "updated_at": utc_timestamp()})
            elif any(old[k] != v for k, v in new.items()):
                edit.update("masks", old["id"], {**new, "updated_at": utc_timestamp()})
            if edit.changes:
                edit.update("lesions", lesion_id, {"updated_at": utc_timestamp()})

    def get_mask(self, lesion_id: int, phase: str | PhaseKind) -> Volume | None:
        """The lesion's mask on ``phase`` as a Volume on its own grid, or None when it has none."""
        phase_name = normalize_phase(phase)
        self._require("lesions", lesion_id, "lesion")
        r = self._conn.execute("SELECT * FROM masks WHERE lesion_id = ? AND phase = ?",
                               (lesion_id, phase_name)).fetchone()
        if r is None:
            return None
        shape = tuple(json.loads(r["shape"]))
        try:
            array = np.frombuffer(zlib.decompress(r["data"]), dtype=MASK_DTYPES[r["dtype"]]).reshape(shape)
            return Volume(array.copy(), tuple(json.loads(r["spacing"])), tuple(json.loads(r["origin"])),
                          np.array(json.loads(r["direction"]), float).reshape(3, 3),
                          name=f"lesion {lesion_id} mask ({phase_name})")
        except (zlib.error, ValueError, KeyError, GeometryError) as err:
            raise StoreError(f"the {phase_name} mask of lesion {lesion_id} in {self._path.name} is damaged "
                             f"({err}): draw it again") from None
