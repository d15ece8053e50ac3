"""The errors an open project raises besides the record checks (records.py) and the lock
(project_lock.py): each names what went wrong and what the user can do about it."""

from __future__ import annotations

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
