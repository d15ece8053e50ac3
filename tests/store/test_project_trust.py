"""A project file is data, never code, and a damaged one is never written to: undo builds SQL only from the
schema's own names, a damaged page is reported and opened read-only, the lock can be taken over, and a
deleted lock file lets no second editor in."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from liverview.cli import EXIT_DAMAGED, exit_status
from liverview.store.edit_log import ROW_KEYS, schema_columns
from liverview.store.migrations import NotAProjectError
from liverview.store.project import (
    DamagedProjectError,
    Project,
    ProjectLockedError,
    ProjectWriteError,
    lock_path,
    read_lock_holder,
)
from tests.malformed_corpus import damage_project_page


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "reading.lvproj"
    with Project.create(p, "alice") as project:
        study = project.add_study()
        for cls in ("cyst", "hcc", "metastasis"):
            project.add_lesion(study, cls)
    return p


def craft_undo(path: Path, command: dict | str) -> None:
    """Put an entry on top of the undo stack with a raw SQLite connection, as a hostile file would hold."""
    conn = sqlite3.connect(path)
    text = command if isinstance(command, str) else json.dumps(command)
    conn.execute("INSERT INTO undo_stack (seq, command_json) VALUES "
                 "((SELECT MAX(seq) + 1 FROM undo_stack), ?)", (text,))
    conn.commit()
    conn.close()


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


# --- undo history from the file -------------------------------------------------------------------

INJECTIONS = {
    "column": {"table": "lesions", "key": 99,
               "before": {"id": 99, "notes) VALUES (1); DROP TABLE audit; --": 1}, "after": None},
    "column_in_select": {"table": "lesions", "key": 99,
                         "before": {"id": 99, "lesion_class) SELECT name FROM sqlite_master --": "x"}, "after": None},
    "table": {"table": "audit; DROP TABLE lesions", "key": 1, "before": None, "after": None},
    "schema_table": {"table": "sqlite_master", "key": 1, "before": None, "after": None},
    "value": {"table": "lesions", "key": 99, "before": {"id": 99, "notes": {"nested": "object"}}, "after": None},
    "key": {"table": "lesions", "key": "1 OR 1=1", "before": None, "after": None},
}


@pytest.mark.parametrize("kind", sorted(INJECTIONS))
def test_a_crafted_undo_entry_cannot_run_sql(path: Path, kind: str):
    craft_undo(path, {"action": "evil", "entity": "lesion", "entity_id": 1, "changes": [INJECTIONS[kind]]})
    before_tables = tables(path)
    with Project.open(path, "bob") as project:
        lesions = project.list_lesions()
        with pytest.raises(DamagedProjectError, match="tampered|damaged"):
            project.undo()
        assert project.list_lesions() == lesions
        assert project.can_undo()  # the hostile entry was not marked undone
        assert [e.action for e in project.audit_log(limit=1)] == ["add_lesion"]
    assert tables(path) == before_tables


@pytest.mark.parametrize("text", ["{not json", json.dumps({"action": "x"}), json.dumps([1, 2]),
                                  json.dumps({"action": 1, "entity": "l", "entity_id": None, "changes": []})])
def test_a_malformed_undo_entry_is_reported_as_damage(path: Path, text: str):
    craft_undo(path, text)
    with Project.open(path, "bob") as project:
        with pytest.raises(DamagedProjectError, match="malformed"):
            project.undo()


def test_the_whitelist_is_the_schema_this_code_creates(path: Path):
    conn = sqlite3.connect(path)
    try:
        for table in ROW_KEYS:
            live = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            assert schema_columns()[table] == live
    finally:
        conn.close()


def test_undo_and_redo_still_work(path: Path):
    with Project.open(path, "bob") as project:
        assert project.undo().action == "undo:add_lesion"
        assert len(project.list_lesions()) == 2
        assert project.redo().action == "redo:add_lesion"
        assert len(project.list_lesions()) == 3


# --- a damaged file ---------------------------------------------------------------------------------

def test_a_damaged_page_is_reported_never_written_and_opens_read_only(path: Path):
    damage_project_page(path)  # the page of the meta table (schema version)
    fingerprint = digest(path)
    with pytest.raises(DamagedProjectError, match="is damaged.*read-only"):
        Project.open(path, "bob")
    assert digest(path) == fingerprint and read_lock_holder(path) is None
    with Project.open(path, "bob", read_only=True) as project:
        assert project.damage and "damaged" in project.damage
        assert [lesion.lesion_class for lesion in project.list_lesions()] == ["cyst", "hcc", "metastasis"]
    assert digest(path) == fingerprint


def test_a_damaged_data_page_is_found_by_the_quick_check(path: Path):
    conn = sqlite3.connect(path)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'lesions'").fetchone()[0]
    conn.close()
    damage_project_page(path, page)
    fingerprint = digest(path)
    with pytest.raises(DamagedProjectError, match="SQLite"):
        Project.open(path, "bob")
    with Project.open(path, "bob", read_only=True) as project:
        assert project.damage
    assert digest(path) == fingerprint


# --- the lock ---------------------------------------------------------------------------------------

def test_a_deleted_lock_file_lets_no_second_editor_in_and_is_put_back(path: Path):
    with Project.open(path, "alice") as alice:
        os.remove(lock_path(path))
        with pytest.raises(ProjectLockedError, match="lock file .* was deleted"):
            Project.open(path, "bob")
        study = alice.list_studies()[0].id
        alice.add_lesion(study, "cyst")  # the next edit puts the lock file back
        assert read_lock_holder(path).user == "alice"
        with pytest.raises(ProjectLockedError, match="alice"):
            Project.open(path, "bob")
    with Project.open(path, "bob") as bob:
        assert len(bob.list_lesions()) == 4


def test_a_lock_file_replaced_and_held_by_another_process_stops_the_edit(path: Path):
    with Project.open(path, "alice") as alice:
        os.remove(lock_path(path))
        holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
             "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)", str(lock_path(path))],
            stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            count = len(alice.list_lesions())
            with pytest.raises(ProjectLockedError, match="replaced while you were editing"):
                alice.add_lesion(alice.list_studies()[0].id, "cyst")
            assert len(alice.list_lesions()) == count
        finally:
            holder.kill()
            holder.wait()


# --- a write that fails -----------------------------------------------------------------------------

@contextmanager
def disk_full(folder: Path) -> Iterator[int]:
    """No file may grow past the largest one in ``folder`` now, as on a full disk (RLIMIT_FSIZE: a write past
    it fails with EFBIG, SIGXFSZ ignored); yields that size."""
    limit = max(f.stat().st_size for f in folder.iterdir())
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


@contextmanager
def locked_by_another_program(project: Project) -> Iterator[None]:
    """A second connection (another program) holds the write lock; the project gives up waiting at once."""
    other = sqlite3.connect(project.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    project._conn.execute("PRAGMA busy_timeout = 50")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_write_on_a_full_disk_is_a_store_error_and_loses_nothing(path: Path):
    with Project.open(path, "alice") as project:
        study = project.list_studies()[0].id
        before = project.list_lesions()
        with disk_full(path.parent) as limit:
            with pytest.raises(ProjectWriteError, match="could not save .*nothing of this edit was saved"):
                project.add_lesion(study, "hcc", notes="x" * (limit + 65536))  # must grow a file past the limit
            assert project.list_lesions() == before  # rolled back whole; the earlier edits are there
        project.add_lesion(study, "cyst")  # with room again, editing goes on
    with Project.open(path, "bob", read_only=True) as reopened:
        assert reopened.damage is None
        assert [lesion.lesion_class for lesion in reopened.list_lesions()] == ["cyst", "hcc", "metastasis", "cyst"]


def test_a_write_to_a_file_another_program_locked_is_a_store_error_and_loses_nothing(path: Path):
    with Project.open(path, "alice") as project:
        study = project.list_studies()[0].id
        before, history = project.list_lesions(), project.audit_log()
        with locked_by_another_program(project):
            with pytest.raises(ProjectWriteError, match="database is locked.*nothing of this edit.*Another program"):
                project.add_lesion(study, "hcc")
            with pytest.raises(ProjectWriteError, match="database is locked"):
                project.undo()
            assert project.list_lesions() == before and project.audit_log() == history
        assert project.undo().action == "undo:add_lesion"  # the lock gone, undo works and steps the last edit
        assert [lesion.lesion_class for lesion in project.list_lesions()] == ["cyst", "hcc"]


# --- a truncated file --------------------------------------------------------------------------------

def test_a_truncated_project_is_damaged_not_a_foreign_file_and_opens_read_only(path: Path):
    with Project.open(path, "alice") as project:
        study = project.list_studies()[0].id
        for _ in range(300):
            project.add_lesion(study, "hcc", notes="x" * 200)
    os.truncate(path, path.stat().st_size // 2)  # a copy or crash that kept half of the file
    fingerprint = digest(path)
    with pytest.raises(DamagedProjectError, match="is damaged .*malformed.*read-only") as info:
        Project.open(path, "bob")
    assert not isinstance(info.value, NotAProjectError) and exit_status(info.value) == EXIT_DAMAGED
    with Project.open(path, "bob", read_only=True) as project:
        assert project.damage and "malformed" in project.damage
        assert len(project.list_studies()) == 1  # what is left can be read
        with pytest.raises(DamagedProjectError, match="cannot be read"):  # what is not is a StoreError
            project.list_lesions()
    assert digest(path) == fingerprint and read_lock_holder(path) is None
