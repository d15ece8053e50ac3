"""What an edit leaves behind: the rows it changed, each read back before and after the write; the audit
row that records them; the undo entry that lets undo and redo restore either side exactly.

A project file is data, never code: the undo history is read from the file, so every table and column
name it carries is checked against the schema this code creates (``schema_columns``, built from the
migrations, never from the file) before any SQL is built from it; values must be plain SQL values."""

from __future__ import annotations

import base64
import hashlib
import json
import binascii
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

from liverview.store.project_errors import DamagedProjectError, UndoConflictError, UnknownEntityError
from liverview.store.records import StoreChange
from liverview.store.timestamps import utc_timestamp

Row = dict[str, Any]

# Tables the undo history may change, and the column that identifies a row of each.
ROW_KEYS = {
    "studies": "id", "phases": "id", "lesions": "id", "recist_marks": "lesion_id", "boxes": "id",
    "masks": "id", "proposals": "id", "review_decisions": "id",
}


_SQL_VALUES = (type(None), int, float, str, bytes)


@lru_cache(maxsize=1)
def schema_columns() -> dict[str, frozenset[str]]:
    """The columns of each table the undo history may change, as this code's own migrations create them
    (in a throw-away in-memory database): the only names SQL is ever built from."""
    from liverview.store.migrations import MIGRATIONS

    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for step in MIGRATIONS:
            step.apply(conn)
        return {table: frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))
                for table in ROW_KEYS}
    finally:
        conn.close()


def checked_names(table: str, columns: Sequence[str], what: str) -> list[str]:
    """``columns`` when ``table`` and each column are the schema's own; else DamagedProjectError (the names
    came from a damaged or crafted file, and nothing was run)."""
    allowed = schema_columns().get(table)
    if allowed is None:
        raise DamagedProjectError(f"cannot {what}: the project names a table {table!r} the schema does not "
                                  "have; the file is damaged or was tampered with, and nothing was changed")
    unknown = [c for c in columns if not isinstance(c, str) or c not in allowed]
    if unknown:
        raise DamagedProjectError(f"cannot {what}: the project names column(s) {unknown!r} that table {table} "
                                  "does not have; the file is damaged or was tampered with, and nothing was changed")
    return list(columns)


def _checked_row(table: str, row: Any, what: str) -> Row | None:
    if row is None:
        return None
    if not isinstance(row, dict):
        raise DamagedProjectError(f"cannot {what}: a {table} row in the undo history is not a row; the file "
                                  "is damaged or was tampered with, and nothing was changed")
    checked_names(table, list(row), what)
    bad = [k for k, v in row.items() if not isinstance(v, _SQL_VALUES)]
    if bad:
        raise DamagedProjectError(f"cannot {what}: {table} column(s) {bad!r} in the undo history hold values "
                                  "that are not SQL values; the file is damaged, and nothing was changed")
    return row


# --- JSON of rows --------------------------------------------------------------------------------

def _encode(value: Any) -> Any:
    return {"$b64": base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value


def _decode(value: Any) -> Any:
    return base64.b64decode(value["$b64"], validate=True) if isinstance(value, dict) else value


def _summary(value: Any) -> Any:
    """Binary columns in the audit log: their size and hash, not the bytes."""
    if isinstance(value, bytes):
        return {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    return value


@dataclass
class RowChange:
    """One row of one table, as it was before an edit and after it (None: absent)."""

    table: str
    key: int
    before: Row | None
    after: Row | None

    def to_json(self) -> dict[str, Any]:
        enc = (lambda r: None if r is None else {k: _encode(v) for k, v in r.items()})
        return {"table": self.table, "key": self.key, "before": enc(self.before), "after": enc(self.after)}

    @classmethod
    def from_json(cls, d: dict[str, Any], what: str = "undo") -> "RowChange":
        """The change as stored in the undo history, its names and values checked (DamagedProjectError)."""
        try:
            dec = (lambda r: None if r is None else {k: _decode(v) for k, v in r.items()})
            table, key = d["table"], d["key"]
            before, after = dec(d["before"]), dec(d["after"])
        except (KeyError, TypeError, AttributeError, ValueError, binascii.Error) as err:
            raise DamagedProjectError(f"cannot {what}: an entry of the undo history is malformed ({err!r}); "
                                      "the file is damaged, and nothing was changed") from None
        if not isinstance(table, str) or not isinstance(key, int) or isinstance(key, bool):
            raise DamagedProjectError(f"cannot {what}: an entry of the undo history names no valid table and "
                                      "row; the file is damaged, and nothing was changed")
        checked_names(table, [], what)
        return cls(table, key, _checked_row(table, before, what), _checked_row(table, after, what))


def audit_rows(changes: Sequence[RowChange], side: str) -> str | None:
    """JSON of the rows on one side ('before' or 'after') of a change, grouped by table."""
    grouped: dict[str, list[Row]] = {}
    for ch in changes:
        row = getattr(ch, side)
        if row is not None:
            grouped.setdefault(ch.table, []).append({k: _summary(v) for k, v in row.items()})
    return json.dumps(grouped) if grouped else None


# --- recording an edit ---------------------------------------------------------------------------

class Edit:
    """The rows one edit changes, each read back before and after the write, so that undo and redo
    can restore either side exactly."""

    def __init__(self, conn: sqlite3.Connection, entity_id: int | None) -> None:
        self._conn = conn
        self._changes: dict[tuple[str, int], RowChange] = {}
        self.entity_id = entity_id

    def row(self, table: str, key: int) -> Row | None:
        checked_names(table, [], "read a row")
        r = self._conn.execute(f"SELECT * FROM {table} WHERE {ROW_KEYS[table]} = ?", (key,)).fetchone()
        return None if r is None else dict(r)

    def _record(self, table: str, key: int, before: Row | None, after: Row | None) -> None:
        if (table, key) in self._changes:
            self._changes[(table, key)].after = after
        else:
            self._changes[(table, key)] = RowChange(table, key, before, after)

    def insert(self, table: str, values: Row) -> int:
        cols = checked_names(table, list(values), "save the edit")
        cur = self._conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [values[c] for c in cols])
        key = int(values[ROW_KEYS[table]]) if ROW_KEYS[table] in values else int(cur.lastrowid)
        self._record(table, key, None, self.row(table, key))
        return key

    def update(self, table: str, key: int, values: Row) -> None:
        before = self.row(table, key)
        if before is None:
            raise UnknownEntityError(f"no row {key} in {table}")
        cols = checked_names(table, list(values), "save the edit")
        self._conn.execute(f"UPDATE {table} SET {', '.join(c + ' = ?' for c in cols)} "
                           f"WHERE {ROW_KEYS[table]} = ?", [values[c] for c in cols] + [key])
        self._record(table, key, before, self.row(table, key))

    def delete(self, table: str, key: int) -> None:
        before = self.row(table, key)
        if before is None:
            return
        self._conn.execute(f"DELETE FROM {table} WHERE {ROW_KEYS[table]} = ?", (key,))
        self._record(table, key, before, None)

    @property
    def changes(self) -> list[RowChange]:
        return [ch for ch in self._changes.values() if ch.before != ch.after]


def write_audit(conn: sqlite3.Connection, who: str, action: str, entity: str, entity_id: int | None,
                before: str | None, after: str | None) -> None:
    """One audit row, stamped now; the caller's transaction commits it with the change it records."""
    conn.execute("INSERT INTO audit (at, who, action, entity, entity_id, before_json, after_json) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (utc_timestamp(), who, action, entity, entity_id, before, after))


def push_undo(conn: sqlite3.Connection, action: str, entity: str, entity_id: int | None,
              changes: Sequence[RowChange], group: dict[str, Any] | None = None) -> None:
    """Put an edit on top of the undo stack; consecutive edits of one ``group`` (same "id") undo as one."""
    conn.execute("DELETE FROM undo_stack WHERE undone = 1")  # a new edit ends the redo history
    command = {"action": action, "entity": entity, "entity_id": entity_id,
               "changes": [ch.to_json() for ch in changes]}
    if group is not None:
        command["group"] = group
    conn.execute("INSERT INTO undo_stack (seq, command_json) "
                 "VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM undo_stack), ?)",
                 (json.dumps(command),))


# --- undo / redo ---------------------------------------------------------------------------------

def step_history(conn: sqlite3.Connection, who: str, undo: bool) -> StoreChange | None:
    """Undo the last edit not yet undone, or redo the one undone last, inside the caller's transaction,
    and audit it as ``who``. Returns what changed, or None when there is nothing to step over."""
    order = "DESC" if undo else "ASC"
    top = conn.execute(f"SELECT id, command_json FROM undo_stack WHERE undone = ? "
                       f"ORDER BY seq {order} LIMIT 1", (0 if undo else 1,)).fetchone()
    if top is None:
        return None
    verb = "undo" if undo else "redo"
    try:
        command = json.loads(top["command_json"])
        raw_changes, action, entity = command["changes"], command["action"], command["entity"]
        entity_id = command["entity_id"]
        if not isinstance(raw_changes, list) or not isinstance(action, str) or not isinstance(entity, str) \
                or not (entity_id is None or (isinstance(entity_id, int) and not isinstance(entity_id, bool))):
            raise TypeError("unexpected types")
    except (ValueError, KeyError, TypeError) as err:
        raise DamagedProjectError(f"cannot {verb}: the last entry of the undo history is malformed ({err}); "
                                  "the file is damaged, and nothing was changed") from None
    changes = [RowChange.from_json(c, verb) for c in raw_changes]
    for ch in (reversed(changes) if undo else changes):
        current, target = (ch.after, ch.before) if undo else (ch.before, ch.after)
        restore_row(conn, ch.table, ch.key, current, target, f"{verb} {action}")
    conn.execute("UPDATE undo_stack SET undone = ? WHERE id = ?", (1 if undo else 0, top["id"]))
    before, after = ("after", "before") if undo else ("before", "after")
    write_audit(conn, who, f"{verb}:{action}", entity, entity_id,
                audit_rows(changes, before), audit_rows(changes, after))
    return StoreChange(entity, entity_id, f"{verb}:{action}")


def restore_row(conn: sqlite3.Connection, table: str, key: int, expected: Row | None, target: Row | None,
                what: str) -> None:
    """Put one row back to ``target`` (None: delete it), provided it still is as the history left it."""
    checked_names(table, [], what)
    expected, target = _checked_row(table, expected, what), _checked_row(table, target, what)
    keycol = ROW_KEYS[table]
    r = conn.execute(f"SELECT * FROM {table} WHERE {keycol} = ?", (key,)).fetchone()
    current = None if r is None else dict(r)
    if current != expected:
        raise UndoConflictError(f"cannot {what}: {table} row {key} was changed outside the undo history; "
                                "the project was left as it is")
    if target is None:
        conn.execute(f"DELETE FROM {table} WHERE {keycol} = ?", (key,))
    elif current is None:
        if target.get(keycol) != key:
            raise DamagedProjectError(f"cannot {what}: the {table} row to restore does not carry its key {key}; "
                                      "the file is damaged, and nothing was changed")
        cols = list(target)
        conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                     [target[c] for c in cols])
    else:
        cols = [c for c in target if c != keycol]
        conn.execute(f"UPDATE {table} SET {', '.join(c + ' = ?' for c in cols)} WHERE {keycol} = ?",
                     [target[c] for c in cols] + [key])
