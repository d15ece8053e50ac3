"""An SQLite connection whose reads fail as StoreErrors: a damaged page, an I/O error or a locked file met while
reading an open project comes out as DamagedProjectError or ProjectIOError, which the UI reports, instead of a raw
sqlite3 error that escapes its handlers. Writes are converted by Project._transaction (its message says the edit
was not saved), so statements run while ``writing`` is set, or inside a transaction, are left as they are; so
are those run before ``guard_reads`` is set (opening checks the file with its own handling)."""

from __future__ import annotations

import sqlite3
from typing import Any

from liverview.store.project_errors import read_failure


class GuardedConnection(sqlite3.Connection):
    """sqlite3.connect(..., factory=GuardedConnection). Its cursors are GuardedCursors, ``execute`` too (the C
    ``Connection.execute`` would make a plain cursor)."""

    guard_reads = False  # set once the project is open
    writing = False  # set by Project._transaction around a write
    where = "the project"

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or GuardedCursor)

    def execute(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().executemany(*args)

    def converts(self) -> bool:
        return self.guard_reads and not self.writing and not self.in_transaction


class GuardedCursor(sqlite3.Cursor):
    """Every step of a read (execute, fetch, iteration) converts SQLite's errors; see the module doc."""

    def _run(self, step: Any, *args: Any) -> Any:
        try:
            return step(*args)
        except sqlite3.Error as err:
            conn = self.connection
            if isinstance(conn, GuardedConnection) and conn.converts():
                raise read_failure(err, conn.where) from err
            raise

    def execute(self, *args: Any) -> "GuardedCursor":  # type: ignore[override]
        return self._run(super().execute, *args)

    def executemany(self, *args: Any) -> "GuardedCursor":  # type: ignore[override]
        return self._run(super().executemany, *args)

    def fetchone(self) -> Any:
        return self._run(super().fetchone)

    def fetchmany(self, *args: Any) -> list[Any]:
        return self._run(super().fetchmany, *args)

    def fetchall(self) -> list[Any]:
        return self._run(super().fetchall)

    def __next__(self) -> Any:
        return self._run(super().__next__)
