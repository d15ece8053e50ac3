"""What an edit leaves behind: the rows it changed, each read back before and after the write; the audit
row that records them; the undo entry that lets undo and redo restore either side exactly."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Sequence

from liverview.store.project_errors import UndoConflictError, UnknownEntityError
from liverview.store.records import StoreChange
from liverview.store.timestamps import utc_timestamp

Row = dict[str, Any]

# Tables the undo history may change, and the column that identifies a row of each.
ROW_KEYS = {
    "studies": "id", "phases": "id", "lesions": "id", "recist_marks": "lesion_id", "boxes": "id",
    "masks": "id", "proposals": "id", "review_decisions": "id",
}


# --- JSON of rows --------------------------------------------------------------------------------

def _encode(value: Any) -> Any:
    return {"$b64": base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value


def _decode(value: Any) -> Any:
    return base64.b64decode(value["$b64"]) if isinstance(value, dict) else value


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
    def from_json(cls, d: dict[str, Any]) -> "RowChange":
        dec = (lambda r: None if r is None else {k: _decode(v) for k, v in r.items()})
        return cls(d["table"], int(d["key"]), dec(d["before"]), dec(d["after"]))


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
        r = self._conn.execute(f"SELECT * FROM {table} WHERE {ROW_KEYS[table]} = ?", (key,)).fetchone()
        return None if r is None else dict(r)

    def _record(self, table: str, key: int, before: Row | None, after: Row | None) -> None:
        if (table, key) in self._changes:
            self._changes[(table, key)].after = after
        else:
            self._changes[(table, key)] = RowChange(table, key, before, after)

    def insert(self, table: str, values: Row) -> int:
        cols = list(values)
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
        cols = list(values)
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
              changes: Sequence[RowChange]) -> None:
    """Put an edit on top of the undo stack."""
    conn.execute("DELETE FROM undo_stack WHERE undone = 1")  # a new edit ends the redo history
    command = {"action": action, "entity": entity, "entity_id": entity_id,
               "changes": [ch.to_json() for ch in changes]}
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
    command = json.loads(top["command_json"])
    changes = [RowChange.from_json(c) for c in command["changes"]]
    verb = "undo" if undo else "redo"
    for ch in (reversed(changes) if undo else changes):
        current, target = (ch.after, ch.before) if undo else (ch.before, ch.after)
        restore_row(conn, ch.table, ch.key, current, target, f"{verb} {command['action']}")
    conn.execute("UPDATE undo_stack SET undone = ? WHERE id = ?", (1 if undo else 0, top["id"]))
    before, after = ("after", "before") if undo else ("before", "after")
    write_audit(conn, who, f"{verb}:{command['action']}", command["entity"], command["entity_id"],
                audit_rows(changes, before), audit_rows(changes, after))
    return StoreChange(command["entity"], command["entity_id"], f"{verb}:{command['action']}")


def restore_row(conn: sqlite3.Connection, table: str, key: int, expected: Row | None, target: Row | None,
                what: str) -> None:
    """Put one row back to ``target`` (None: delete it), provided it still is as the history left it."""
    if table not in ROW_KEYS:
        raise UndoConflictError(f"cannot {what}: the history names an unknown table {table!r}")
    keycol = ROW_KEYS[table]
    r = conn.execute(f"SELECT * FROM {table} WHERE {keycol} = ?", (key,)).fetchone()
    current = None if r is None else dict(r)
    if current != expected:
        raise UndoConflictError(f"cannot {what}: {table} row {key} was changed outside the undo history; "
                                "the project was left as it is")
    if target is None:
        conn.execute(f"DELETE FROM {table} WHERE {keycol} = ?", (key,))
    elif current is None:
        cols = list(target)
        conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                     [target[c] for c in cols])
    else:
        cols = [c for c in target if c != keycol]
        conn.execute(f"UPDATE {table} SET {', '.join(c + ' = ?' for c in cols)} WHERE {keycol} = ?",
                     [target[c] for c in cols] + [key])
