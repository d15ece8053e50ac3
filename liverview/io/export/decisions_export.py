"""The review decisions of a project as CSV (one row per decision, for spreadsheets and audits) or JSON (the
same rows as objects). Boxes are in patient mm, times in UTC."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from liverview.io.replace_on_success import replaced_on_success
from liverview.store.decision_log import DecisionLogRow

DECISION_FORMATS = {"csv": "one row per decision", "json": "a list of decision objects"}
CSV_COLUMNS = ("decided_at", "reviewer", "decision", "note", "study_uid", "patient_id", "study_description",
               "proposal_id", "score", "lesion_class", "status_now", "lesion_id", "key_slice",
               "min_x_mm", "min_y_mm", "min_z_mm", "max_x_mm", "max_y_mm", "max_z_mm", "model")


def _csv_row(r: DecisionLogRow) -> list[object]:
    return [r.decided_at, r.reviewer, r.decision, r.note, r.study_uid, r.patient_id, r.study_description,
            r.proposal_id, f"{r.score:.4f}", r.lesion_class, r.status, "" if r.lesion_id is None else r.lesion_id,
            "" if r.key_slice is None else r.key_slice, *(f"{v:.2f}" for v in r.box_mm), r.model]


def write_decisions(rows: Sequence[DecisionLogRow], path: Path, fmt: str) -> None:
    """Write ``rows`` to ``path`` in ``fmt`` (csv or json), through a temporary file: a failed write leaves
    no half file under the name."""
    if fmt not in DECISION_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose {' or '.join(DECISION_FORMATS)}")
    path = Path(path)
    with replaced_on_success(path) as (partial,), open(partial, "w", newline="", encoding="utf-8") as fh:
        if fmt == "csv":
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(_csv_row(r) for r in rows)
        else:
            json.dump([{**asdict(r), "box_mm": list(r.box_mm)} for r in rows], fh, indent=1)
            fh.write("\n")
