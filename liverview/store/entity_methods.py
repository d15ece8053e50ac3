"""The base of the Project's entity method groups (studies, lesions, proposals): what they use of the
Project they are mixed into, and the id lookups their edits share."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable

from liverview.store.edit_log import Edit
from liverview.store.project_errors import DeletedLesionError, UnknownEntityError
from liverview.store.records import StoreChange


class EntityMethods:
    """Mixed into Project, which provides these (see project.py)."""

    _path: Path
    _user: str
    _conn: sqlite3.Connection  # the open connection; ProjectClosedError once closed
    # _edit(action, entity, entity_id=None, undoable=True): one audited, committed edit
    _edit: Callable[..., AbstractContextManager[Edit]]
    # _transaction(): one committed write transaction (rolled back on any error); _notify: tell the listeners
    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _notify: Callable[[StoreChange], None]

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
