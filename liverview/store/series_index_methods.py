"""The Project's study-browser index (schema 4, table ``series_index``): what an indexed folder holds, patient >
study > series, so the browser shows it again without walking the folder. Bookkeeping, like the scan rows: not
audited, not undoable; re-indexing a series (same key) replaces its row."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable, Iterable, Sequence

from liverview.core.indexed_series import IndexedSeries
from liverview.store.entity_methods import EntityMethods
from liverview.store.timestamps import utc_timestamp

_COLUMNS = ("series_key", "modality", "source_kind", "files", "patient_id", "patient_name", "study_uid",
            "study_date", "study_description", "series_uid", "series_description", "series_number", "phase",
            "frames", "indexed_at")


def _row_values(s: IndexedSeries, now: str) -> tuple:
    return (s.key, s.modality, s.source_kind, json.dumps([str(f) for f in s.files]), s.patient_id, s.patient_name,
            s.study_uid, s.study_date, s.study_description, s.series_uid, s.series_description, s.series_number,
            s.phase, s.frames, now)


def _from_row(r: sqlite3.Row) -> IndexedSeries:
    return IndexedSeries(key=r["series_key"], modality=r["modality"], source_kind=r["source_kind"],
                         files=tuple(Path(f) for f in json.loads(r["files"])), patient_id=r["patient_id"],
                         patient_name=r["patient_name"], study_uid=r["study_uid"], study_date=r["study_date"],
                         study_description=r["study_description"], series_uid=r["series_uid"],
                         series_description=r["series_description"], series_number=r["series_number"],
                         phase=r["phase"], frames=r["frames"])


class SeriesIndexMethods(EntityMethods):
    """Mixed into Project."""

    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def index_series(self, series: Sequence[IndexedSeries]) -> int:
        """Add (or refresh, by key) entries in one transaction; returns how many were written."""
        now = utc_timestamp()
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
        with self._transaction() as conn:
            conn.executemany(
                f"INSERT INTO series_index ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
                f"ON CONFLICT(series_key) DO UPDATE SET {updates}", [_row_values(s, now) for s in series])
        return len(series)

    def indexed_series(self) -> list[IndexedSeries]:
        """Every indexed entry, in the order first indexed."""
        return [_from_row(r) for r in self._conn.execute("SELECT * FROM series_index ORDER BY id")]

    def forget_indexed_series(self, keys: Iterable[str]) -> int:
        """Take entries out of the index (their files are left alone); returns how many were removed."""
        keys = list(keys)
        with self._transaction() as conn:
            removed = conn.executemany("DELETE FROM series_index WHERE series_key = ?", [(k,) for k in keys])
        return removed.rowcount
