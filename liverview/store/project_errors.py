"""The errors an open project raises besides the record checks (records.py) and the lock
(project_lock.py): each names what went wrong and what the user can do about it."""

from __future__ import annotations

import sqlite3

from liverview.store.records import StoreError


class ProjectNotFoundError(StoreError):
    """No project file at the path given."""


class ProjectExistsError(StoreError):
    """Project.create was given a path that already holds a file."""


class ProjectClosedError(StoreError):
    """The project was closed; open it again to use it."""


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


class DamagedProjectError(StoreError):
    """The project file is damaged: SQLite reports a malformed database, or its contents break the schema's
    own rules (an undo entry naming a table or column the schema does not have). It is never written to;
    it can still be opened read-only to read what is left."""


class ProjectIOError(StoreError):
    """SQLite could not read or write the project file (disk full, an I/O error, the file locked by another
    program, no permission). The message says what SQLite reported and what the user can do."""


class ProjectWriteError(ProjectIOError):
    """An edit could not be written. Its transaction was rolled back whole: nothing of the edit was saved,
    and every edit committed before is intact."""


def is_corruption(err: sqlite3.Error) -> bool:
    """SQLite found the file damaged (SQLITE_CORRUPT, "malformed"): not busy, full, or not a database at all."""
    name = getattr(err, "sqlite_errorname", "") or ""
    return name.startswith("SQLITE_CORRUPT") or "malformed" in str(err)


def _hint(err: sqlite3.Error) -> str:
    """What the user can do about a failed read or write, from SQLite's error code (or its message)."""
    name, text = getattr(err, "sqlite_errorname", "") or "", str(err).lower()
    if name.startswith("SQLITE_FULL") or "is full" in text:
        return "Free some disk space, then try again"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return "Another program is using the project file; close it, then try again"
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return "The file or its folder cannot be written: check its permissions, or open it read-only"
    return "Check the drive the project is on (full, removed, or failing?), then try again"


def write_failure(err: sqlite3.Error, where: object) -> StoreError:
    """The error a failed write transaction is reported as: a damaged file as DamagedProjectError, anything
    else as ProjectWriteError. Either way the transaction was rolled back."""
    if is_corruption(err):
        return DamagedProjectError(
            f"{where} is damaged ({err}); nothing of this edit was saved. Close it, open it read-only to see "
            "what can still be read, or restore it from a backup")
    return ProjectWriteError(
        f"could not save to {where}: {err}; nothing of this edit was saved, earlier edits are safe. {_hint(err)}")


def open_failure(err: sqlite3.Error, where: object) -> StoreError:
    """The error a failure of SQLite while opening a project is reported as (nothing was changed)."""
    if is_corruption(err):
        return DamagedProjectError(
            f"{where} is damaged ({err}); it was not changed. Open it read-only to see what can still be read, "
            "or restore it from a backup")
    return ProjectIOError(f"could not open {where}: {err}; it was not changed. {_hint(err)}")


def read_failure(err: sqlite3.Error, where: object) -> StoreError:
    """The error a failed read of an open project is reported as (reading changes nothing)."""
    if is_corruption(err):
        return DamagedProjectError(
            f"{where} is damaged ({err}): this part of it cannot be read. Restore it from a backup")
    return ProjectIOError(f"could not read {where}: {err}. {_hint(err)}")
