"""A LiverView project: one SQLite file with the studies, lesions, RECIST marks, boxes, masks, proposals,
review decisions, audit log and undo history of a reading session. No Qt: the UI listens with subscribe().

Durability: every edit is one transaction, committed before its method returns, that also writes its
audit row and its undo entry. The database runs in WAL mode with ``synchronous=FULL``: the WAL is synced
to disk at every commit, so an edit the user has seen survives a killed process *and* a power loss.
(WAL with NORMAL survives only a killed process: a power cut may drop the last commits.) FULL costs one
fsync per edit, a fraction of a millisecond on an SSD (see benchmarks/bench_store.py).

Concurrency: one editor per project, enforced by ``<project>.lock`` beside the file: an advisory
``flock`` held while the project is open (the kernel releases it when the process dies, even by SIGKILL)
and a JSON note of who holds it (user, host, pid, since) for the message a second opener gets; the editor
also holds an flock on the project file itself, so deleting the ``.lock`` lets no second editor in (see
project_lock.py). Readers (``read_only=True``) need no lock and see the editor's commits as they land.

Damage: a file SQLite's quick check finds damaged is never written to; it opens read-only only, with
``Project.damage`` saying what was found. The undo history is read from the file, so the SQL it leads to is
built only from the schema's own table and column names (edit_log.py).
A Project is used from the thread that opened it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from liverview.store.edit_log import Edit, Row, audit_rows, push_undo, step_history, write_audit
from liverview.store.decision_log import DecisionLogMethods
from liverview.store.guarded_connection import GuardedConnection
from liverview.store.lesion_methods import LesionMethods
from liverview.store.migrations import SCHEMA_VERSION, SchemaError, check_version, migrate
from liverview.store.project_errors import (
    DamagedProjectError,
    DeletedLesionError,
    ProjectClosedError,
    ProjectExistsError,
    ProjectIOError,
    ProjectNotFoundError,
    ProjectWriteError,
    ReadOnlyProjectError,
    UndoConflictError,
    UnknownEntityError,
    open_failure,
    write_failure,
)
from liverview.store.project_lock import (
    LockHolder,
    ProjectLock,
    ProjectLockedError,
    lock_path,
    read_lock_holder,
)
from liverview.store.proposal_methods import ProposalMethods
from liverview.store.records import AuditEntry, InvalidRecordError, StoreChange, StoreError
from liverview.store.row_mapping import audit_entry_from_row
from liverview.store.scan_methods import ScanMethods
from liverview.store.series_index_methods import SeriesIndexMethods
from liverview.store.study_methods import StudyMethods
from liverview.store.worklist import WorklistMethods

__all__ = [
    "DamagedProjectError", "DeletedLesionError", "Listener", "LockHolder", "Project", "ProjectClosedError",
    "ProjectExistsError", "ProjectIOError", "ProjectLockedError", "ProjectNotFoundError", "ProjectWriteError",
    "ReadOnlyProjectError", "Row", "UndoConflictError", "UnknownEntityError", "lock_path", "read_lock_holder",
]

_log = logging.getLogger(__name__)

Listener = Callable[[StoreChange], None]


@dataclass
class _UndoGroup:
    """Edits that undo as one step: every undoable edit while ``collecting``, then (kept open) later
    edits of the entities it touched, until an edit of anything else, an undo/redo or end_undo_group()."""

    record: dict[str, Any]  # stored with each edit: id, action, and the entity the step is about
    collecting: bool = True
    members: set[tuple[str, int | None]] = field(default_factory=set)


@dataclass
class _State:
    conn: sqlite3.Connection | None
    lock: ProjectLock | None
    listeners: list[Listener] = field(default_factory=list)
    group: _UndoGroup | None = None


class Project(StudyMethods, LesionMethods, ProposalMethods, ScanMethods, SeriesIndexMethods, WorklistMethods,
              DecisionLogMethods):
    """An open project. Use :meth:`create` or :meth:`open` (and :meth:`close`, or a ``with`` block).
    The entity methods come from study_methods.py, lesion_methods.py, proposal_methods.py and
    scan_methods.py (archive scans), series_index_methods.py (the study browser's index) and
    worklist.py (one row per study with its review counts)."""

    def __init__(self, path: Path, user: str, conn: sqlite3.Connection, lock: ProjectLock | None,
                 read_only: bool, damage: str | None = None) -> None:
        self._path = path
        self._user = user
        self._read_only = read_only
        self._damage = damage
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
        return cls._open(p, user, read_only=False, take_over=False, creating=True)

    @classmethod
    def open(cls, path: str | os.PathLike[str], user: str, read_only: bool = False,
             take_over_lock: bool = False, break_lock: bool = False) -> "Project":
        """Open an existing project. For editing (the default) it takes the project's lock, or raises
        ProjectLockedError naming who holds it; ``read_only=True`` needs no lock and refuses changes.
        An older schema is upgraded; a newer one raises NewerSchemaError. ``take_over_lock`` (old name:
        ``break_lock``) takes over a lock left by a LiverView on another computer that is known to be gone.
        A damaged file raises DamagedProjectError when opened for editing and is never written to; read-only
        it opens, with :attr:`damage` saying what SQLite found, to read what is left."""
        p = Path(path)
        if not p.is_file():
            raise ProjectNotFoundError(f"no project at {p}: check the path, or create a new project")
        return cls._open(p, user, read_only, take_over_lock or break_lock, creating=False)

    @classmethod
    def _open(cls, p: Path, user: str, read_only: bool, take_over: bool, creating: bool) -> "Project":
        if not user or not user.strip():
            raise InvalidRecordError("a user name is needed to open a project: the audit log records it")
        lock = None if read_only else ProjectLock.acquire(p, user, take_over)
        conn = None
        try:
            if read_only:
                conn = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None,
                                       factory=GuardedConnection)
                conn.execute("PRAGMA query_only = ON")
            else:
                conn = sqlite3.connect(p, isolation_level=None, factory=GuardedConnection)
            conn.where = str(p)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA foreign_keys = ON")
            damage = None
            try:
                version = check_version(conn, SCHEMA_VERSION, str(p))
            except DamagedProjectError as err:
                if not read_only:
                    raise
                damage = str(err)
                version = SCHEMA_VERSION  # a read-only look at a damaged file: read what the tables still hold
                _require_readable_schema(conn, p)
            if damage is None and not creating:
                damage = integrity_problem(conn)
                if damage is not None and not read_only:
                    raise DamagedProjectError(
                        f"{p} is damaged ({damage}); it was not changed. Open it read-only to see what can "
                        "still be read, or restore it from a backup")
            if read_only:
                if version < SCHEMA_VERSION:
                    raise SchemaError(f"{p} uses an older schema ({version} < {SCHEMA_VERSION}): "
                                      "open it once for editing to upgrade it")
            else:
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                    raise StoreError(f"{p}: SQLite refused write-ahead logging; is the folder a network share?")
                conn.execute("PRAGMA synchronous = FULL")
                migrate(conn, where=str(p), app_version=_app_version())
            conn.guard_reads = True  # from now on a failing read is a StoreError (guarded_connection.py)
            return cls(p, user, conn, lock, read_only, damage)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if lock is not None:
                lock.release()
            if creating and p.exists() and p.stat().st_size == 0:
                p.unlink()
            if isinstance(exc, sqlite3.Error):  # unreadable, locked, disk full: a StoreError the UI reports
                raise open_failure(exc, p) from exc
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
    def damage(self) -> str | None:
        """What SQLite found wrong with the file when it was opened (read-only), or None when it is sound."""
        return self._damage

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
        """One write transaction, committed or rolled back whole. SQLite failing (disk full, I/O error, the
        file locked by another program, damage found) comes out as ProjectWriteError or DamagedProjectError,
        StoreErrors the UI reports, never as a raw sqlite3 error that would escape its handlers."""
        self._require_writable()
        conn = self._conn
        if self._state.lock is not None:
            self._state.lock.check()  # the lock file is still ours (put back if it was deleted)
        conn.writing = True  # its errors are converted here, as a write's (not as a read's)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                _roll_back(conn, self._path)
                raise
        except sqlite3.Error as err:
            raise write_failure(err, self._path) from err
        finally:
            conn.writing = False

    @contextmanager
    def _edit(self, action: str, entity: str, entity_id: int | None = None,
              undoable: bool = True) -> Iterator[Edit]:
        """One edit: the body's writes, its audit row and (when ``undoable``) its undo entry commit
        together. Listeners hear of it after the commit; an edit that changed nothing leaves no trace."""
        with self._transaction() as conn:
            edit = Edit(conn, entity_id)
            yield edit
            changes = edit.changes
            if changes:
                write_audit(conn, self._user, action, entity, edit.entity_id,
                            audit_rows(changes, "before"), audit_rows(changes, "after"))
            if changes and undoable:
                push_undo(conn, action, entity, edit.entity_id, changes, self._group_for(entity, edit.entity_id))
        if changes:
            self._notify(StoreChange(entity, edit.entity_id, action))

    # --- undo groups ---------------------------------------------------------------------------
    @contextmanager
    def undo_group(self, action: str, anchor: tuple[str, int] | None = None,
                   keep_open: bool = False) -> Iterator[None]:
        """Every undoable edit inside the block is one undo step, reported as ``undo:<action>`` about
        ``anchor`` (entity, id) when given. ``keep_open``: later edits of the entities the block touched
        join the step too (a review decision and the adjustments of the lesion it made), until an edit of
        anything else, an undo or redo, or end_undo_group()."""
        record: dict[str, Any] = {"id": uuid.uuid4().hex, "action": str(action)}
        if anchor is not None:
            record["entity"], record["entity_id"] = anchor[0], int(anchor[1])
        group = _UndoGroup(record)
        self._state.group = group
        try:
            yield
        finally:
            group.collecting = False
            if not keep_open and self._state.group is group:
                self._state.group = None

    def end_undo_group(self) -> None:
        """Later edits are undone on their own again."""
        self._state.group = None

    def _group_for(self, entity: str, entity_id: int | None) -> dict[str, Any] | None:
        """The undo group an undoable edit of (entity, id) joins, if any (closing one it does not join)."""
        group = self._state.group
        if group is None:
            return None
        if group.collecting:
            group.members.add((entity, entity_id))
            return group.record
        if (entity, entity_id) in group.members:
            return group.record
        self._state.group = None
        return None

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
        """One step of the history: one edit, or every edit of one undo group (in one transaction)."""
        self._state.group = None
        stepped: list[StoreChange] = []
        group: dict[str, Any] | None = None
        with self._transaction() as conn:
            while True:
                following = _next_group(conn, undo)
                if stepped and (group is None or following is None or following.get("id") != group.get("id")):
                    break
                change = step_history(conn, self._user, undo)
                if change is None:
                    break
                stepped.append(change)
                group = following
        for change in stepped:
            self._notify(change)
        if not stepped:
            return None
        if group is not None and len(stepped) > 0:
            verb = "undo" if undo else "redo"
            last = stepped[-1]
            return StoreChange(group.get("entity", last.entity), group.get("entity_id", last.entity_id),
                               f"{verb}:{group['action']}")
        return stepped[-1]

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
        return [audit_entry_from_row(r) for r in self._conn.execute(sql, params)]


def _require_readable_schema(conn: sqlite3.Connection, where: Path) -> None:
    """Make a damaged file's list of tables readable on a read-only connection, or raise DamagedProjectError.
    SQLite refuses the whole schema when one table's root page is gone (a truncated file); writable_schema
    lets it skip that check, and the connection cannot write (mode=ro, query_only), so the tables that are
    left can still be read."""
    for writable_schema in ("OFF", "ON"):
        conn.execute(f"PRAGMA writable_schema = {writable_schema}")
        try:
            conn.execute("SELECT name FROM sqlite_master").fetchall()
            return
        except sqlite3.DatabaseError as err:
            problem = err
    raise DamagedProjectError(
        f"{where} is too damaged to read anything ({problem}); it was not changed. Restore it from a backup")


def _roll_back(conn: sqlite3.Connection, where: Path) -> None:
    """Roll back an open transaction; a rollback that fails too (the drive is gone) is logged, so that the
    error that failed the edit is the one reported."""
    if not conn.in_transaction:
        return  # SQLite already rolled back (it does after some I/O errors)
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        _log.exception("%s: rolling back a failed edit failed too", where)


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """What SQLite's quick check finds wrong with the file (first few findings), or None when it is sound."""
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
    except sqlite3.DatabaseError as err:
        return f"SQLite: {err}"
    return None if rows == ["ok"] else "SQLite: " + "; ".join(rows)


def _next_group(conn: sqlite3.Connection, undo: bool) -> dict[str, Any] | None:
    """The undo group of the edit the next undo (or redo) would step over; None when it has none."""
    order = "DESC" if undo else "ASC"
    top = conn.execute(f"SELECT command_json FROM undo_stack WHERE undone = ? ORDER BY seq {order} LIMIT 1",
                       (0 if undo else 1,)).fetchone()
    if top is None:
        return None
    try:
        command = json.loads(top["command_json"])
    except (TypeError, ValueError):
        return None  # a damaged entry: step_history reports it
    group = command.get("group") if isinstance(command, dict) else None
    return group if isinstance(group, dict) and isinstance(group.get("id"), str) else None


def _app_version() -> str:
    try:
        from importlib.metadata import version
        return f"liverview {version('liverview')}"
    except Exception:  # not installed as a distribution (a source checkout on sys.path)
        return "liverview"
