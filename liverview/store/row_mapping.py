"""Conversions between the project's SQLite rows and the record dataclasses of records.py: ``*_values``
give the columns to write for a record, ``*_from_row`` build a record from a row read back."""

from __future__ import annotations

import json
import sqlite3
import zlib
from typing import Sequence

import numpy as np

from liverview.core.volume import Volume
from liverview.store.edit_log import Row
from liverview.store.records import (
    AuditEntry,
    BoxRecord,
    DecisionRecord,
    InvalidRecordError,
    LesionRecord,
    PhaseRecord,
    ProposalRecord,
    RecistRecord,
    StudyRecord,
)
from liverview.store.timestamps import parse_timestamp

# How the masks table names a voxel type, and the numpy type it stands for.
MASK_DTYPES = {"bool": np.bool_, "uint8": np.uint8}
_AXES = ("x", "y", "z")
_VOXEL_AXES = ("i", "j", "k")


def study_from_row(r: sqlite3.Row) -> StudyRecord:
    return StudyRecord(r["id"], r["uid"], r["description"], r["patient_id"], parse_timestamp(r["created_at"]),
                       modality=r["modality"])


def phase_from_row(r: sqlite3.Row) -> PhaseRecord:
    return PhaseRecord(r["id"], r["study_id"], r["kind"], r["source_path"], r["series_uid"],
                       bool(r["is_reference"]), pixel_units=r["pixel_units"])


def box_values(box: BoxRecord) -> Row:
    v: Row = {"kind": box.kind}
    for n, a in enumerate(_AXES):
        v[f"min_{a}"], v[f"max_{a}"] = box.min_mm[n], box.max_mm[n]
    for n, a in enumerate(_VOXEL_AXES):
        v[f"min_{a}"] = None if box.min_ijk is None else box.min_ijk[n]
        v[f"max_{a}"] = None if box.max_ijk is None else box.max_ijk[n]
    return v


def box_from_row(r: sqlite3.Row, with_id: bool = True) -> BoxRecord:
    voxels = r["min_i"] is not None
    return BoxRecord(
        r["kind"],
        (r["min_x"], r["min_y"], r["min_z"]), (r["max_x"], r["max_y"], r["max_z"]),
        (r["min_i"], r["min_j"], r["min_k"]) if voxels else None,
        (r["max_i"], r["max_j"], r["max_k"]) if voxels else None,
        r["id"] if with_id else None,
    )


def recist_values(lesion_id: int, m: RecistRecord) -> Row:
    v: Row = {"lesion_id": lesion_id, "phase": m.phase, "key_slice": m.key_slice}
    for end in (0, 1):
        for n, a in enumerate(_AXES):
            v[f"long_{a}{end}"] = m.long_axis[end][n]
            v[f"short_{a}{end}"] = None if m.short_axis is None else m.short_axis[end][n]
    return v


def recist_from_row(r: sqlite3.Row) -> RecistRecord | None:
    if r["phase"] is None:
        return None
    long_axis = tuple((r[f"long_x{e}"], r[f"long_y{e}"], r[f"long_z{e}"]) for e in (0, 1))
    short_axis = None if r["short_x0"] is None else \
        tuple((r[f"short_x{e}"], r[f"short_y{e}"], r[f"short_z{e}"]) for e in (0, 1))
    return RecistRecord(long_axis, short_axis, r["key_slice"], r["phase"])  # type: ignore[arg-type]


def lesion_from_row(r: sqlite3.Row, boxes: Sequence[BoxRecord]) -> LesionRecord:
    """A lesion from a row of lesions LEFT JOIN recist_marks, with its boxes."""
    return LesionRecord(
        id=r["id"], study_id=r["study_id"], lesion_class=r["lesion_class"], status=r["status"],
        notes=r["notes"], recist=recist_from_row(r), created_by=r["created_by"],
        created_at=parse_timestamp(r["created_at"]), updated_at=parse_timestamp(r["updated_at"]),
        deleted=bool(r["deleted"]), boxes=tuple(sorted(boxes, key=lambda b: b.kind)),
        tracking_uid=r["tracking_uid"] if "tracking_uid" in r.keys() else "",  # absent before schema 5
    )


def proposal_values(p: ProposalRecord, study_id: int, created_at: str) -> Row:
    """The columns of a new proposal: not yet linked to a lesion; its slice boxes go in the boxes table."""
    return {
        **box_values(p.box), "study_id": study_id, "score": p.score,
        "class_scores": json.dumps(dict(p.class_scores)), "lesion_class": p.lesion_class,
        "key_slice": p.key_slice, "source_model": p.source_model, "status": p.status,
        "lesion_id": None, "created_at": created_at}


def proposal_from_row(r: sqlite3.Row, slice_boxes: Sequence[BoxRecord]) -> ProposalRecord:
    box = box_from_row(r, with_id=False)
    return ProposalRecord(
        box=box, score=r["score"], source_model=r["source_model"], lesion_class=r["lesion_class"],
        class_scores=json.loads(r["class_scores"]), key_slice=r["key_slice"],
        slice_boxes=tuple(slice_boxes), id=r["id"], study_id=r["study_id"], status=r["status"],
        lesion_id=r["lesion_id"], created_at=parse_timestamp(r["created_at"]),
    )


def decision_from_row(r: sqlite3.Row) -> DecisionRecord:
    return DecisionRecord(r["id"], r["proposal_id"], r["decision"], r["reviewer"],
                          parse_timestamp(r["decided_at"]), r["model"], r["note"])


def mask_values(mask: Volume) -> Row:
    """The columns of a mask: its grid as JSON and its voxels zlib-compressed."""
    dtype = {np.dtype(np.bool_): "bool", np.dtype(np.uint8): "uint8"}.get(mask.array.dtype)
    if dtype is None:
        raise InvalidRecordError(f"a mask must be a bool or uint8 array, got {mask.array.dtype}: "
                                 "threshold or cast it first")
    return {
        "shape": json.dumps(list(mask.array.shape)), "dtype": dtype,
        "spacing": json.dumps(list(mask.spacing)), "origin": json.dumps(list(mask.origin)),
        "direction": json.dumps(np.asarray(mask.direction, float).ravel().tolist()),
        "data": zlib.compress(np.ascontiguousarray(mask.array).tobytes(), 6),
    }


def audit_entry_from_row(r: sqlite3.Row) -> AuditEntry:
    return AuditEntry(r["id"], parse_timestamp(r["at"]), r["who"], r["action"], r["entity"], r["entity_id"],
                      None if r["before_json"] is None else json.loads(r["before_json"]),
                      None if r["after_json"] is None else json.loads(r["after_json"]))
