"""A LiverView project: one SQLite file with the studies, lesions, RECIST marks, boxes, masks, proposals,
review decisions, audit log and undo history of a reading session. No Qt: the UI listens with subscribe().

Durability: every edit is one transaction, committed before its method returns, that also writes its
audit row and its undo entry. The database runs in WAL mode with ``synchronous=FULL``: the WAL is synced
to disk at every commit, so an edit the user has seen survives a killed process *and* a power loss.
(WAL with NORMAL survives only a killed process: a power cut may drop the last commits.) FULL costs one
fsync per edit, a fraction of a millisecond on an SSD (see benchmarks/bench_store.py).

Concurrency: one editor per project, enforced by ``<project>.lock`` beside the file: an advisory
``flock`` held while the project is open (the kernel releases it when the process dies, even by SIGKILL)
and a JSON note of who holds it (user, host, pid, since) for the message a second opener gets.
Readers (``read_only=True``) need no lock and see the editor's commits as they land.
A Project is used from the thread that opened it.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import logging
import os
import socket
import sqlite3
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Sequence

import numpy as np

from liverview.core.study import PhaseKind
from liverview.core.volume import GeometryError, Volume
from liverview.store.migrations import SCHEMA_VERSION, SchemaError, check_version, migrate
from liverview.store.records import (
    AuditEntry,
    BoxRecord,
    DecisionRecord,
    InvalidRecordError,
    LesionRecord,
    PhaseRecord,
    ProposalRecord,
    RecistRecord,
    StoreChange,
    StoreError,
    StudyRecord,
    check_decision,
    check_lesion_class,
    check_lesion_status,
    check_modality,
    check_pixel_units,
    check_proposal_status,
    normalize_phase,
)

try:  # POSIX only; without it a project can still be opened read-only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_log = logging.getLogger(__name__)

Row = dict[str, Any]
Listener = Callable[[StoreChange], None]

# Tables the undo history may change, and the column that identifies a row of each.
_KEYS = {
    "studies": "id", "phases": "id", "lesions": "id", "recist_marks": "lesion_id", "boxes": "id",
    "masks": "id", "proposals": "id", "review_decisions": "id",
}
_LESION_FIELDS = ("lesion_class", "status", "notes")
_MASK_DTYPES = {"bool": np.bool_, "uint8": np.uint8}
_AXES = ("x", "y", "z")
_VOXEL_AXES = ("i", "j", "k")


class ProjectNotFoundError(StoreError):
    """No project file at the path given."""


class ProjectExistsError(StoreError):
    """Project.create was given a path that already holds a file."""


class ProjectClosedError(StoreError):
    """The project was closed; open it again to use it."""


class ProjectLockedError(StoreError):
    """Another LiverView holds the project for editing. ``holder`` says who, when known."""

    def __init__(self, message: str, holder: "LockHolder | None") -> None:
        super().__init__(message)
        self.holder = holder


class ReadOnlyProjectError(StoreError):
    """A change was asked of a project opened read-only."""


class UnknownEntityError(StoreError, LookupError):
    """No study, phase, lesion or proposal with that id in the project."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


class DeletedLesionError(StoreError):
    """The lesion was deleted; it can only be brought back by undo."""


class UndoConflictError(StoreError):
    """The rows an undo or redo would restore were changed by something outside the undo history."""


# --- time and JSON -------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _encode(value: Any) -> Any:
    return {"$b64": base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value


def _decode(value: Any) -> Any:
    return base64.b64decode(value["$b64"]) if isinstance(value, dict) else value


def _summary(value: Any) -> Any:
    """Binary columns in the audit log: their size and hash, not the bytes."""
    if isinstance(value, bytes):
        return {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    return value


# --- the lock file -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LockHolder:
    """Who holds a project for editing, as written in its lock file."""

    user: str
    hostname: str
    pid: int
    since: str

    def describe(self) -> str:
        return f"{self.user} on {self.hostname} (process {self.pid}, since {self.since})"


def lock_path(project_path: Path) -> Path:
    """The lock file beside a project: ``<name>.lock``. It stays after close, emptied."""
    return project_path.with_name(project_path.name + ".lock")


def _parse_holder(data: bytes) -> LockHolder | None:
    try:
        d = json.loads(data.decode("utf-8"))
        return LockHolder(str(d["user"]), str(d["hostname"]), int(d["pid"]), str(d["since"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def read_lock_holder(project_path: str | os.PathLike[str]) -> LockHolder | None:
    """Who the lock file names (it may be stale: only the flock tells whether they still hold it)."""
    try:
        return _parse_holder(lock_path(Path(project_path)).read_bytes())
    except OSError:
        return None


class _ProjectLock:
    """The editor's hold on a project: an flock on the lock file plus a note of who holds it. The file
    object owns the descriptor, so a Project dropped without close() still lets go when collected."""

    def __init__(self, file: BinaryIO, took_over: LockHolder | None) -> None:
        self._file: BinaryIO | None = file
        self.took_over = took_over

    @classmethod
    def acquire(cls, project_path: Path, user: str, break_lock: bool) -> "_ProjectLock":
        if fcntl is None:  # pragma: no cover - Windows
            raise StoreError("editing a project needs file locking (fcntl), which this platform lacks: "
                             "open it read-only")
        file = os.fdopen(os.open(lock_path(project_path), os.O_RDWR | os.O_CREAT, 0o644), "r+b", buffering=0)
        fd = file.fileno()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = _parse_holder(os.pread(fd, 4096, 0))
                who = holder.describe() if holder else "another LiverView"
                raise ProjectLockedError(
                    f"{project_path} is open for editing by {who}: open it read-only, "
                    "or ask them to close it", holder) from None
            previous = _parse_holder(os.pread(fd, 4096, 0))
            host = socket.gethostname()
            if previous is not None and previous.hostname != host and not break_lock:
                # The flock may not reach across computers on a network share, so trust the note.
                raise ProjectLockedError(
                    f"{project_path} is open for editing by {previous.describe()} on another computer: "
                    "open it read-only; if LiverView is no longer running there, open it with "
                    "break_lock=True", previous)
            # Same host: we hold the flock, so the process the note names is gone (or is a reused pid).
            me = LockHolder(user, host, os.getpid(), _now())
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me.__dict__).encode("utf-8"), 0)
            os.fsync(fd)
            return cls(file, previous)
        except BaseException:
            file.close()  # closing the descriptor also drops the flock
            raise

    def release(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            os.ftruncate(file.fileno(), 0)  # keep the file (deleting it races with the next opener)
        finally:
            file.close()


# --- recording the rows an edit changes ------------------------------------------------------------

@dataclass
class _RowChange:
    table: str
    key: int
    before: Row | None
    after: Row | None

    def to_json(self) -> dict[str, Any]:
        enc = (lambda r: None if r is None else {k: _encode(v) for k, v in r.items()})
        return {"table": self.table, "key": self.key, "before": enc(self.before), "after": enc(self.after)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "_RowChange":
        dec = (lambda r: None if r is None else {k: _decode(v) for k, v in r.items()})
        return cls(d["table"], int(d["key"]), dec(d["before"]), dec(d["after"]))


def _audit_rows(changes: Sequence[_RowChange], side: str) -> str | None:
    """JSON of the rows on one side ('before' or 'after') of a change, grouped by table."""
    grouped: dict[str, list[Row]] = {}
    for ch in changes:
        row = getattr(ch, side)
        if row is not None:
            grouped.setdefault(ch.table, []).append({k: _summary(v) for k, v in row.items()})
    return json.dumps(grouped) if grouped else None


class _Edit:
    """The rows one edit changes, each read back before and after the write, so that undo and redo
    can restore either side exactly."""

    def __init__(self, conn: sqlite3.Connection, entity_id: int | None) -> None:
        self._conn = conn
        self._changes: dict[tuple[str, int], _RowChange] = {}
        self.entity_id = entity_id

    def row(self, table: str, key: int) -> Row | None:
        r = self._conn.execute(f"SELECT * FROM {table} WHERE {_KEYS[table]} = ?", (key,)).fetchone()
        return None if r is None else dict(r)

    def _record(self, table: str, key: int, before: Row | None, after: Row | None) -> None:
        if (table, key) in self._changes:
            self._changes[(table, key)].after = after
        else:
            self._changes[(table, key)] = _RowChange(table, key, before, after)

    def insert(self, table: str, values: Row) -> int:
        cols = list(values)
        cur = self._conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [values[c] for c in cols])
        key = int(values[_KEYS[table]]) if _KEYS[table] in values else int(cur.lastrowid)
        self._record(table, key, None, self.row(table, key))
        return key

    def update(self, table: str, key: int, values: Row) -> None:
        before = self.row(table, key)
        if before is None:
            raise UnknownEntityError(f"no row {key} in {table}")
        cols = list(values)
        self._conn.execute(f"UPDATE {table} SET {', '.join(c + ' = ?' for c in cols)} "
                           f"WHERE {_KEYS[table]} = ?", [values[c] for c in cols] + [key])
        self._record(table, key, before, self.row(table, key))

    def delete(self, table: str, key: int) -> None:
        before = self.row(table, key)
        if before is None:
            return
        self._conn.execute(f"DELETE FROM {table} WHERE {_KEYS[table]} = ?", (key,))
        self._record(table, key, before, None)

    @property
    def changes(self) -> list[_RowChange]:
        return [ch for ch in self._changes.values() if ch.before != ch.after]


# --- row <-> record ------------------------------------------------------------------------------

def _box_values(box: BoxRecord) -> Row:
    v: Row = {"kind": box.kind}
    for n, a in enumerate(_AXES):
        v[f"min_{a}"], v[f"max_{a}"] = box.min_mm[n], box.max_mm[n]
    for n, a in enumerate(_VOXEL_AXES):
        v[f"min_{a}"] = None if box.min_ijk is None else box.min_ijk[n]
        v[f"max_{a}"] = None if box.max_ijk is None else box.max_ijk[n]
    return v


def _box_from_row(r: sqlite3.Row, with_id: bool = True) -> BoxRecord:
    voxels = r["min_i"] is not None
    return BoxRecord(
        r["kind"],
        (r["min_x"], r["min_y"], r["min_z"]), (r["max_x"], r["max_y"], r["max_z"]),
        (r["min_i"], r["min_j"], r["min_k"]) if voxels else None,
        (r["max_i"], r["max_j"], r["max_k"]) if voxels else None,
        r["id"] if with_id else None,
    )


def _recist_values(lesion_id: int, m: RecistRecord) -> Row:
    v: Row = {"lesion_id": lesion_id, "phase": m.phase, "key_slice": m.key_slice}
    for end in (0, 1):
        for n, a in enumerate(_AXES):
            v[f"long_{a}{end}"] = m.long_axis[end][n]
            v[f"short_{a}{end}"] = None if m.short_axis is None else m.short_axis[end][n]
    return v


def _recist_from_row(r: sqlite3.Row) -> RecistRecord | None:
    if r["phase"] is None:
        return None
    long_axis = tuple((r[f"long_x{e}"], r[f"long_y{e}"], r[f"long_z{e}"]) for e in (0, 1))
    short_axis = None if r["short_x0"] is None else \
        tuple((r[f"short_x{e}"], r[f"short_y{e}"], r[f"short_z{e}"]) for e in (0, 1))
    return RecistRecord(long_axis, short_axis, r["key_slice"], r["phase"])  # type: ignore[arg-type]


def _lesion_from_row(r: sqlite3.Row, boxes: Sequence[BoxRecord]) -> LesionRecord:
    return LesionRecord(
        id=r["id"], study_id=r["study_id"], lesion_class=r["lesion_class"], status=r["status"],
        notes=r["notes"], recist=_recist_from_row(r), created_by=r["created_by"],
        created_at=_time(r["created_at"]), updated_at=_time(r["updated_at"]), deleted=bool(r["deleted"]),
        boxes=tuple(sorted(boxes, key=lambda b: b.kind)),
    )


def _proposal_from_row(r: sqlite3.Row, slice_boxes: Sequence[BoxRecord]) -> ProposalRecord:
    box = _box_from_row(r, with_id=False)
    return ProposalRecord(
        box=box, score=r["score"], source_model=r["source_model"], lesion_class=r["lesion_class"],
        class_scores=json.loads(r["class_scores"]), key_slice=r["key_slice"],
        slice_boxes=tuple(slice_boxes), id=r["id"], study_id=r["study_id"], status=r["status"],
        lesion_id=r["lesion_id"], created_at=_time(r["created_at"]),
    )


def _decision_from_row(r: sqlite3.Row) -> DecisionRecord:
    return DecisionRecord(r["id"], r["proposal_id"], r["decision"], r["reviewer"], _time(r["decided_at"]),
                          r["model"], r["note"])


def _mask_values(mask: Volume) -> Row:
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


# --- the project ---------------------------------------------------------------------------------

@dataclass
class _State:
    conn: sqlite3.Connection | None
    lock: _ProjectLock | None
    listeners: list[Listener] = field(default_factory=list)


class Project:
    """An open project. Use :meth:`create` or :meth:`open` (and :meth:`close`, or a ``with`` block)."""

    def __init__(self, path: Path, user: str, conn: sqlite3.Connection, lock: _ProjectLock | None,
                 read_only: bool) -> None:
        self._path = path
        self._user = user
        self._read_only = read_only
        self._state = _State(conn, lock)

    # --- opening and closing ---------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str], user: str) -> "Project":
        """A new, empty project at ``path`` (which must not exist yet), open for editing by ``user``."""
        p = Path(path)
        if p.exists():
            raise ProjectExistsError(f"{p} already exists: open it, or choose another name for the new project")
        if not p.parent.is_dir():
            raise ProjectNotFoundError(f"cannot create {p}: the folder {p.parent} does not exist")
        return cls._open(p, user, read_only=False, break_lock=False, creating=True)

    @classmethod
    def open(cls, path: str | os.PathLike[str], user: str, read_only: bool = False,
             break_lock: bool = False) -> "Project":
        """Open an existing project. For editing (the default) it takes the project's lock, or raises
        ProjectLockedError naming who holds it; ``read_only=True`` needs no lock and refuses changes.
        An older schema is upgraded; a newer one raises NewerSchemaError. ``break_lock`` takes over a
        lock left by a LiverView on another computer that is known to be gone."""
        p = Path(path)
        if not p.is_file():
            raise ProjectNotFoundError(f"no project at {p}: check the path, or create a new project")
        return cls._open(p, user, read_only, break_lock, creating=False)

    @classmethod
    def _open(cls, p: Path, user: str, read_only: bool, break_lock: bool, creating: bool) -> "Project":
        if not user or not user.strip():
            raise InvalidRecordError("a user name is needed to open a project: the audit log records it")
        lock = None if read_only else _ProjectLock.acquire(p, user, break_lock)
        conn = None
        try:
            if read_only:
                conn = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
                conn.execute("PRAGMA query_only = ON")
            else:
                conn = sqlite3.connect(p, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA foreign_keys = ON")
            version = check_version(conn, SCHEMA_VERSION, str(p))
            if read_only:
                if version < SCHEMA_VERSION:
                    raise SchemaError(f"{p} uses an older schema ({version} < {SCHEMA_VERSION}): "
                                      "open it once for editing to upgrade it")
            else:
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                    raise StoreError(f"{p}: SQLite refused write-ahead logging; is the folder a network share?")
                conn.execute("PRAGMA synchronous = FULL")
                migrate(conn, where=str(p), app_version=_app_version())
            return cls(p, user, conn, lock, read_only)
        except BaseException:
            if conn is not None:
                conn.close()
            if lock is not None:
                lock.release()
            if creating and p.exists() and p.stat().st_size == 0:
                p.unlink()
            raise

    def close(self) -> None:
        """Close the database and release the lock. Every edit was already committed; safe to repeat."""
        conn, lock = self._state.conn, self._state.lock
        self._state.conn = self._state.lock = None
        try:
            if conn is not None:
                conn.close()
        finally:
            if lock is not None:
                lock.release()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def user(self) -> str:
        return self._user

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def closed(self) -> bool:
        return self._state.conn is None

    @property
    def schema_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])

    @property
    def lock_holder(self) -> LockHolder | None:
        """Who the lock file names: this session when editing, the editor (if any) when read-only."""
        return read_lock_holder(self._path)

    @property
    def took_over_lock_from(self) -> LockHolder | None:
        """The session whose stale lock this one took over (a crashed LiverView), else None."""
        return self._state.lock.took_over if self._state.lock else None

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = self._state.conn
        if conn is None:
            raise ProjectClosedError(f"{self._path} was closed: open it again")
        return conn

    # --- listeners -------------------------------------------------------------------------------
    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(StoreChange)`` after every committed change; returns a function that unsubscribes.
        A listener that raises is logged and does not stop the others (the change is already saved)."""
        self._state.listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._state.listeners:
                self._state.listeners.remove(callback)
        return unsubscribe

    def _notify(self, change: StoreChange) -> None:
        for callback in list(self._state.listeners):
            try:
                callback(change)
            except Exception:
                _log.exception("a store listener failed on %s", change)

    # --- the edit transaction --------------------------------------------------------------------
    def _require_writable(self) -> None:
        if self._read_only:
            holder = self.lock_holder
            who = f" ({holder.describe()} is editing it)" if holder else ""
            raise ReadOnlyProjectError(f"{self._path} is open read-only{who}: reopen it for editing to change it")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._require_writable()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _audit(self, conn: sqlite3.Connection, action: str, entity: str, entity_id: int | None,
               before: str | None, after: str | None) -> None:
        conn.execute("INSERT INTO audit (at, who, action, entity, entity_id, before_json, after_json) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (_now(), self._user, action, entity, entity_id, before, after))

    @contextmanager
    def _edit(self, action: str, entity: str, entity_id: int | None = None,
              undoable: bool = True) -> Iterator[_Edit]:
        """One edit: the body's writes, its audit row and (when ``undoable``) its undo entry commit
        together. Listeners hear of it after the commit; an edit that changed nothing leaves no trace."""
        with self._transaction() as conn:
            edit = _Edit(conn, entity_id)
            yield edit
            changes = edit.changes
            if changes:
                self._audit(conn, action, entity, edit.entity_id,
                            _audit_rows(changes, "before"), _audit_rows(changes, "after"))
            if changes and undoable:
                conn.execute("DELETE FROM undo_stack WHERE undone = 1")  # a new edit ends the redo history
                command = {"action": action, "entity": entity, "entity_id": edit.entity_id,
                           "changes": [ch.to_json() for ch in changes]}
                conn.execute("INSERT INTO undo_stack (seq, command_json) "
                             "VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM undo_stack), ?)",
                             (json.dumps(command),))
        if changes:
            self._notify(StoreChange(entity, edit.entity_id, action))

    # --- undo / redo -----------------------------------------------------------------------------
    def can_undo(self) -> bool:
        return self._conn.execute("SELECT 1 FROM undo_stack WHERE undone = 0 LIMIT 1").fetchone() is not None

    def can_redo(self) -> bool:
        return self._conn.execute("SELECT 1 FROM undo_stack WHERE undone = 1 LIMIT 1").fetchone() is not None

    def undo(self) -> StoreChange | None:
        """Revert the last edit not yet undone (also one made before the project was reopened) exactly,
        and log it in the audit. Returns what changed, or None when there is nothing to undo."""
        return self._step(undo=True)

    def redo(self) -> StoreChange | None:
        """Apply again the edit undone last; None when there is nothing to redo (a new edit clears it)."""
        return self._step(undo=False)

    def _step(self, undo: bool) -> StoreChange | None:
        order = "DESC" if undo else "ASC"
        with self._transaction() as conn:
            top = conn.execute(f"SELECT id, command_json FROM undo_stack WHERE undone = ? "
                               f"ORDER BY seq {order} LIMIT 1", (0 if undo else 1,)).fetchone()
            if top is None:
                return None
            command = json.loads(top["command_json"])
            changes = [_RowChange.from_json(c) for c in command["changes"]]
            verb = "undo" if undo else "redo"
            for ch in (reversed(changes) if undo else changes):
                current, target = (ch.after, ch.before) if undo else (ch.before, ch.after)
                self._restore(conn, ch.table, ch.key, current, target, f"{verb} {command['action']}")
            conn.execute("UPDATE undo_stack SET undone = ? WHERE id = ?", (1 if undo else 0, top["id"]))
            before, after = ("after", "before") if undo else ("before", "after")
            self._audit(conn, f"{verb}:{command['action']}", command["entity"], command["entity_id"],
                        _audit_rows(changes, before), _audit_rows(changes, after))
        change = StoreChange(command["entity"], command["entity_id"], f"{verb}:{command['action']}")
        self._notify(change)
        return change

    @staticmethod
    def _restore(conn: sqlite3.Connection, table: str, key: int, expected: Row | None, target: Row | None,
                 what: str) -> None:
        if table not in _KEYS:
            raise UndoConflictError(f"cannot {what}: the history names an unknown table {table!r}")
        keycol = _KEYS[table]
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

    # --- lookups shared by the edits ---------------------------------------------------------------
    def _require(self, table: str, entity_id: int, what: str) -> sqlite3.Row:
        r = self._conn.execute(f"SELECT * FROM {table} WHERE id = ?", (entity_id,)).fetchone()
        if r is None:
            raise UnknownEntityError(f"no {what} {entity_id} in {self._path.name}")
        return r

    def _live_lesion(self, lesion_id: int) -> sqlite3.Row:
        r = self._require("lesions", lesion_id, "lesion")
        if r["deleted"]:
            raise DeletedLesionError(f"lesion {lesion_id} was deleted: undo the deletion to edit it")
        return r

    # --- studies and phases ----------------------------------------------------------------------
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
                                                     "patient_id": patient_id, "created_at": _now(),
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
        return [StudyRecord(r["id"], r["uid"], r["description"], r["patient_id"], _time(r["created_at"]),
                            modality=r["modality"])
                for r in self._conn.execute("SELECT * FROM studies ORDER BY id")]

    def list_phases(self, study_id: int) -> list[PhaseRecord]:
        return [PhaseRecord(r["id"], r["study_id"], r["kind"], r["source_path"], r["series_uid"],
                            bool(r["is_reference"]), pixel_units=r["pixel_units"])
                for r in self._conn.execute("SELECT * FROM phases WHERE study_id = ? ORDER BY id", (study_id,))]

    # --- lesions ---------------------------------------------------------------------------------
    def add_lesion(self, study_id: int, lesion_class: str, notes: str = "", recist: RecistRecord | None = None,
                   box: BoxRecord | None = None, status: str = "draft") -> LesionRecord:
        """A new lesion of ``study_id`` created by this project's user, with optional RECIST mark and box."""
        values = {"study_id": study_id, "lesion_class": check_lesion_class(lesion_class),
                  "status": check_lesion_status(status), "notes": str(notes), "created_by": self._user}
        if recist is not None and not isinstance(recist, RecistRecord):
            raise InvalidRecordError(f"recist must be a RecistRecord, got {type(recist).__name__}")
        if box is not None and not isinstance(box, BoxRecord):
            raise InvalidRecordError(f"box must be a BoxRecord, got {type(box).__name__}")
        with self._edit("add_lesion", "lesion") as edit:
            self._require("studies", study_id, "study")
            now = _now()
            lesion_id = edit.insert("lesions", {**values, "created_at": now, "updated_at": now})
            edit.entity_id = lesion_id
            if recist is not None:
                edit.insert("recist_marks", _recist_values(lesion_id, recist))
            if box is not None:
                edit.insert("boxes", {**_box_values(box), "lesion_id": lesion_id})
        return self.get_lesion(lesion_id)

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
                edit.update("lesions", lesion_id, {**changed, "updated_at": _now()})
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
                new = _recist_values(lesion_id, recist)
                if old is None:
                    edit.insert("recist_marks", new)
                elif old != new:
                    edit.update("recist_marks", lesion_id, {k: v for k, v in new.items() if k != "lesion_id"})
            if edit.changes:
                edit.update("lesions", lesion_id, {"updated_at": _now()})
        return self.get_lesion(lesion_id)

    def delete_lesion(self, lesion_id: int) -> None:
        """Delete a lesion (kept in the file, marked deleted, so undo can bring it back)."""
        with self._edit("delete_lesion", "lesion", lesion_id) as edit:
            self._live_lesion(lesion_id)
            edit.update("lesions", lesion_id, {"deleted": 1, "updated_at": _now()})

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
            boxes.setdefault(r["lesion_id"], []).append(_box_from_row(r))
        rows = conn.execute(f"SELECT l.*, r.* FROM lesions l LEFT JOIN recist_marks r ON r.lesion_id = l.id "
                            f"{where} ORDER BY l.id", params)
        return [_lesion_from_row(r, boxes.get(r["id"], ())) for r in rows]

    # --- masks -----------------------------------------------------------------------------------
    def set_mask(self, lesion_id: int, phase: str | PhaseKind, mask: Volume | None) -> None:
        """Store the lesion's mask on ``phase`` (a bool/uint8 Volume: voxels and their grid), replacing
        any earlier one; None removes it. Voxels are stored zlib-compressed."""
        phase_name = normalize_phase(phase)
        if mask is not None and not isinstance(mask, Volume):
            raise InvalidRecordError(f"a mask must be a Volume (array + geometry), got {type(mask).__name__}")
        new = None if mask is None else _mask_values(mask)
        with self._edit("set_mask", "lesion", lesion_id) as edit:
            self._live_lesion(lesion_id)
            old = self._conn.execute("SELECT * FROM masks WHERE lesion_id = ? AND phase = ?",
                                     (lesion_id, phase_name)).fetchone()
            if new is None:
                if old is not None:
                    edit.delete("masks", old["id"])
            elif old is None:
                edit.insert("masks", {**new, "lesion_id": lesion_id, "phase": phase_name, "updated_at": _now()})
            elif any(old[k] != v for k, v in new.items()):
                edit.update("masks", old["id"], {**new, "updated_at": _now()})
            if edit.changes:
                edit.update("lesions", lesion_id, {"updated_at": _now()})

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
            array = np.frombuffer(zlib.decompress(r["data"]), dtype=_MASK_DTYPES[r["dtype"]]).reshape(shape)
            return Volume(array.copy(), tuple(json.loads(r["spacing"])), tuple(json.loads(r["origin"])),
                          np.array(json.loads(r["direction"]), float).reshape(3, 3),
                          name=f"lesion {lesion_id} mask ({phase_name})")
        except (zlib.error, ValueError, KeyError, GeometryError) as err:
            raise StoreError(f"the {phase_name} mask of lesion {lesion_id} in {self._path.name} is damaged "
                             f"({err}): draw it again") from None

    # --- proposals and review --------------------------------------------------------------------
    def add_proposals(self, study_id: int, proposals: Iterable[ProposalRecord]) -> list[ProposalRecord]:
        """Store a detector's proposals for a study in one transaction; returns them as saved, in the
        order given (ids, study and time are the store's). Audited, but not on the undo stack: a
        background import must never be what the reader's Ctrl+Z takes back; their decisions are."""
        items = list(proposals)
        for p in items:
            if not isinstance(p, ProposalRecord):
                raise InvalidRecordError(f"proposals must be ProposalRecord objects, got {type(p).__name__}")
            if p.lesion_id is not None:
                raise InvalidRecordError("a new proposal cannot be linked to a lesion yet: link it with decide()")
        if not items:
            return []
        ids: list[int] = []
        with self._edit("add_proposals", "study", study_id, undoable=False) as edit:
            self._require("studies", study_id, "study")
            now = _now()
            for p in items:
                pid = edit.insert("proposals", {
                    **_box_values(p.box), "study_id": study_id, "score": p.score,
                    "class_scores": json.dumps(dict(p.class_scores)), "lesion_class": p.lesion_class,
                    "key_slice": p.key_slice, "source_model": p.source_model, "status": p.status,
                    "lesion_id": None, "created_at": now})
                ids.append(pid)
                for b in p.slice_boxes:
                    edit.insert("boxes", {**_box_values(b), "proposal_id": pid})
        by_id = {p.id: p for p in self._proposals("WHERE p.study_id = ?", (study_id,))}
        return [by_id[i] for i in ids]

    def get_proposal(self, proposal_id: int) -> ProposalRecord:
        found = self._proposals("WHERE p.id = ?", (proposal_id,))
        if not found:
            raise UnknownEntityError(f"no proposal {proposal_id} in {self._path.name}")
        return found[0]

    def list_proposals(self, study_id: int | None = None, status: str | None = None,
                       min_score: float | None = None, max_score: float | None = None) -> list[ProposalRecord]:
        """Proposals, highest score first, filtered by study, review status and score range (inclusive)."""
        where, params = [], []
        if study_id is not None:
            where.append("p.study_id = ?")
            params.append(study_id)
        if status is not None:
            where.append("p.status = ?")
            params.append(check_proposal_status(status))
        if min_score is not None:
            where.append("p.score >= ?")
            params.append(float(min_score))
        if max_score is not None:
            where.append("p.score <= ?")
            params.append(float(max_score))
        return self._proposals(("WHERE " + " AND ".join(where)) if where else "", tuple(params))

    def _proposals(self, where: str, params: tuple[Any, ...]) -> list[ProposalRecord]:
        conn = self._conn
        boxes: dict[int, list[BoxRecord]] = {}
        for r in conn.execute(f"SELECT b.* FROM boxes b JOIN proposals p ON p.id = b.proposal_id {where} "
                              "ORDER BY b.id", params):
            boxes.setdefault(r["proposal_id"], []).append(_box_from_row(r))
        rows = conn.execute(f"SELECT p.* FROM proposals p {where} ORDER BY p.score DESC, p.id", params)
        return [_proposal_from_row(r, boxes.get(r["id"], ())) for r in rows]

    def decide(self, proposal_id: int, decision: str, reviewer: str, model: str | None = None, note: str = "",
               lesion_id: int | None = None) -> DecisionRecord:
        """Record a review decision ('accepted', 'rejected', 'edited', 'flagged') with its time, and set
        the proposal's status to it. ``model`` defaults to the model that made the proposal; ``lesion_id``
        links the lesion the reviewer made from it (create it first with add_lesion)."""
        check_decision(decision)
        if not reviewer or not str(reviewer).strip():
            raise InvalidRecordError("a review decision needs the reviewer's name")
        if lesion_id is not None and decision == "rejected":
            raise InvalidRecordError("a rejected proposal cannot be linked to a lesion")
        with self._edit("decide", "proposal", proposal_id) as edit:
            proposal = self._require("proposals", proposal_id, "proposal")
            if lesion_id is not None:
                lesion = self._live_lesion(lesion_id)
                if lesion["study_id"] != proposal["study_id"]:
                    raise InvalidRecordError(f"lesion {lesion_id} belongs to another study than proposal "
                                             f"{proposal_id}")
            decision_id = edit.insert("review_decisions", {
                "proposal_id": proposal_id, "decision": decision, "reviewer": str(reviewer),
                "decided_at": _now(), "model": proposal["source_model"] if model is None else str(model),
                "note": str(note)})
            update: Row = {"status": decision}
            if lesion_id is not None:
                update["lesion_id"] = lesion_id
            edit.update("proposals", proposal_id, update)
        return _decision_from_row(self._conn.execute("SELECT * FROM review_decisions WHERE id = ?",
                                                     (decision_id,)).fetchone())

    def decisions(self, proposal_id: int) -> list[DecisionRecord]:
        """Every decision taken on a proposal, oldest first."""
        return [_decision_from_row(r) for r in self._conn.execute(
            "SELECT * FROM review_decisions WHERE proposal_id = ? ORDER BY id", (proposal_id,))]

    # --- audit -----------------------------------------------------------------------------------
    def audit_log(self, limit: int | None = None, entity: str | None = None,
                  entity_id: int | None = None) -> list[AuditEntry]:
        """Audit entries, newest first, optionally of one entity ('lesion', 'proposal', ...)."""
        where, params = [], []
        if entity is not None:
            where.append("entity = ?")
            params.append(entity)
        if entity_id is not None:
            where.append("entity_id = ?")
            params.append(entity_id)
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [AuditEntry(r["id"], _time(r["at"]), r["who"], r["action"], r["entity"], r["entity_id"],
                           None if r["before_json"] is None else json.loads(r["before_json"]),
                           None if r["after_json"] is None else json.loads(r["after_json"]))
                for r in self._conn.execute(sql, params)]


def _app_version() -> str:
    try:
        from importlib.metadata import version
        return f"liverview {version('liverview')}"
    except Exception:  # not installed as a distribution (a source checkout on sys.path)
        return "liverview"
