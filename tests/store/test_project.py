"""The project store: schema and versions, every edit saved at once, exact undo/redo (also after
reopening), the editor's lock, masks, proposals and review, and the audit log."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    BoxRecord,
    DeletedLesionError,
    InvalidRecordError,
    Migration,
    MigrationError,
    NewerSchemaError,
    NotAProjectError,
    Project,
    ProjectClosedError,
    ProjectExistsError,
    ProjectLockedError,
    ProjectNotFoundError,
    ProposalRecord,
    ReadOnlyProjectError,
    RecistRecord,
    SchemaError,
    StoreChange,
    UndoConflictError,
    UnknownEntityError,
    lock_path,
    migrate,
    read_lock_holder,
    read_version,
)

# Tables that hold the project's content; the audit log and the undo history are checked separately.
CONTENT_TABLES = ("meta", "studies", "phases", "lesions", "recist_marks", "boxes", "masks", "proposals",
                  "review_decisions")

R1 = RecistRecord(((10.0, 20.0, 30.0), (40.0, 24.0, 30.0)), ((25.0, 15.0, 30.0), (25.5, 29.0, 30.0)), 12, "PV")
R2 = RecistRecord(((-5.5, 1.25, 7.0), (3.0, 9.0, 7.0)), None, 4, "arterial")
BOX3 = BoxRecord("3d", (0.0, 10.0, 20.0), (30.0, 40.0, 50.0), (1, 2, 3), (11, 12, 13))
BOX2 = BoxRecord("2d", (-1.0, -2.0, 7.0), (5.0, 6.0, 7.0))


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every content row, read through a fresh read-only connection (so: what is committed)."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in CONTENT_TABLES}
    finally:
        conn.close()


def mask_volume(seed: int, dtype: type = np.bool_) -> Volume:
    rng = np.random.default_rng(seed)
    array = np.zeros((6, 20, 24), dtype)
    array[2:5, 4:15, 6:18] = (rng.random((3, 11, 12)) > 0.3).astype(dtype)
    c, s = np.cos(0.3), np.sin(0.3)
    direction = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, -1.0]])  # oblique and flipped
    return Volume(array, (0.7, 0.8, 2.5), (-100.0, 50.5, 12.25), direction)


def proposal(score: float, model: str = "mscn-r1", cls: str = "unknown", **kw) -> ProposalRecord:
    return ProposalRecord(BoxRecord("3d", (0.0, 0.0, 0.0), (10.0, 12.0, 6.0), (3, 4, 5), (17, 21, 8)), score,
                          model, lesion_class=cls, **kw)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "reading.lvproj"


@pytest.fixture
def project(path: Path):
    p = Project.create(path, "alice")
    yield p
    p.close()


class Seed:
    """A project with a study of two phases, two lesions (one with RECIST, box and mask), three proposals."""

    def __init__(self, p: Project) -> None:
        self.study = p.add_study("1.2.840.1", "CT abdomen", "P001")
        self.nc = p.add_phase(self.study, "NC", "/data/p001/nc")
        self.pv = p.add_phase(self.study, "portal venous", "/data/p001/pv", series_uid="1.2.840.1.4")
        self.l1 = p.add_lesion(self.study, "hcc", "segment VII", recist=R1, box=BOX3).id
        self.l2 = p.add_lesion(self.study, "cyst").id
        p.set_mask(self.l1, "pv", mask_volume(1))
        self.proposals = [q.id for q in p.add_proposals(self.study, [proposal(0.9), proposal(0.4), proposal(0.7)])]


@pytest.fixture
def seeded(project: Project) -> tuple[Project, Seed]:
    return project, Seed(project)


# --- schema and versions -------------------------------------------------------------------------

def test_create_writes_schema_version_1_in_wal_mode_with_full_sync(project: Project, path: Path):
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(CONTENT_TABLES) | {"audit", "undo_stack"} <= tables
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"lesions_study", "lesions_status", "proposals_study_score", "proposals_score"} <= indexes
    conn.close()
    assert project.schema_version == SCHEMA_VERSION == 5
    # Per-connection settings can only be read on the project's own connection.
    assert project._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert project._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_create_refuses_an_existing_file_and_open_a_missing_one(project: Project, path: Path):
    with pytest.raises(ProjectExistsError, match="already exists"):
        Project.create(path, "bob")
    with pytest.raises(ProjectNotFoundError, match="no project at"):
        Project.open(path.with_name("missing.lvproj"), "bob")
    with pytest.raises(InvalidRecordError, match="user name"):
        Project.create(path.with_name("other.lvproj"), " ")


def test_a_newer_schema_is_refused_with_a_message_saying_to_upgrade(project: Project, path: Path):
    project.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    expected = (f"this project was written by a newer LiverView (schema {SCHEMA_VERSION + 1} > {SCHEMA_VERSION}): "
                "upgrade LiverView to open it")
    for read_only in (False, True):
        with pytest.raises(NewerSchemaError) as info:
            Project.open(path, "alice", read_only=read_only)
        assert expected in str(info.value)
    assert snapshot(path)["meta"][0] is not None  # nothing was rewritten
    assert read_lock_holder(path) is None  # the refused opener let go of the lock


def test_files_that_are_not_projects_are_refused(tmp_path: Path):
    text = tmp_path / "notes.lvproj"
    text.write_text("not a database " * 100)
    with pytest.raises(NotAProjectError, match="not a LiverView project"):
        Project.open(text, "alice")
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    with pytest.raises(NotAProjectError, match="no schema version"):
        Project.open(other, "alice")


def test_an_empty_database_version_0_is_migrated_to_version_1_on_open(tmp_path: Path):
    empty = tmp_path / "empty.lvproj"
    sqlite3.connect(empty).close()  # an SQLite file with no tables: schema version 0
    assert empty.is_file()
    with pytest.raises(SchemaError, match="open it once for editing"):
        Project.open(empty, "alice", read_only=True)
    with Project.open(empty, "alice") as p:
        assert p.schema_version == SCHEMA_VERSION
        assert p.add_lesion(p.add_study(), "cyst").id == 1


def test_migration_steps_run_in_order_and_keep_the_data(project: Project, path: Path):
    lesion = project.add_lesion(project.add_study(), "hemangioma", "keep me")
    project.close()
    steps = MIGRATIONS + (
        Migration(SCHEMA_VERSION + 1, "lesion colour",
                  lambda c: c.execute("ALTER TABLE lesions ADD COLUMN colour TEXT")),
    )
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, steps) == SCHEMA_VERSION + 1
    assert read_version(conn) == SCHEMA_VERSION + 1
    columns = [r[1] for r in conn.execute("PRAGMA table_info(lesions)")]
    assert "colour" in columns
    assert conn.execute("SELECT notes FROM lesions WHERE id = ?", (lesion.id,)).fetchone() == ("keep me",)
    conn.close()
    with pytest.raises(NewerSchemaError, match=rf"schema {SCHEMA_VERSION + 1} > {SCHEMA_VERSION}"):
        Project.open(path, "alice")


def test_a_failing_migration_step_leaves_the_file_unchanged(project: Project, path: Path):
    project.close()
    before = snapshot(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk says no")

    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(MigrationError, match=f"upgrading to schema {SCHEMA_VERSION + 1} .* failed: disk says no"):
        migrate(conn, MIGRATIONS + (Migration(SCHEMA_VERSION + 1, "broken", broken),))
    assert read_version(conn) == SCHEMA_VERSION
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    conn.close()
    assert snapshot(path) == before
    with pytest.raises(ValueError, match="numbered 1, 2, 3"):
        migrate(sqlite3.connect(":memory:", isolation_level=None), (MIGRATIONS[0], MIGRATIONS[0]))


# --- edits are saved at once ---------------------------------------------------------------------

def test_every_edit_kind_is_committed_and_visible_after_reopening(seeded, path: Path):
    p, s = seeded
    p.update_lesion(s.l2, lesion_class="metastasis", status="confirmed", notes="two foci")
    p.set_recist(s.l2, R2)
    p.set_recist(s.l1, None)
    l3 = p.add_lesion(s.study, "unknown", box=BOX2).id
    p.delete_lesion(l3)
    p.set_mask(s.l2, "arterial", mask_volume(2, np.uint8))
    decision = p.decide(s.proposals[0], "accepted", "bob", note="clear HCC", lesion_id=s.l1)
    p.decide(s.proposals[1], "rejected", "bob")
    lesions = p.list_lesions(include_deleted=True)
    proposals = p.list_proposals()
    studies, phases = p.list_studies(), p.list_phases(s.study)
    committed = snapshot(path)  # a second connection already sees every edit
    p.close()

    with Project.open(path, "carol") as q:
        assert snapshot(path) == committed
        assert q.list_lesions(include_deleted=True) == lesions
        assert q.list_proposals() == proposals
        assert q.list_studies() == studies and q.list_phases(s.study) == phases
        assert q.get_lesion(s.l2).recist == R2 and q.get_lesion(s.l1).recist is None
        assert q.get_lesion(l3).deleted and q.get_lesion(l3).box("2d") == BoxRecord(**{**BOX2.__dict__, "id": 2})
        assert q.get_lesion(s.l1).box("3d").max_ijk == (11, 12, 13)
        assert q.decisions(s.proposals[0]) == [decision]
        assert q.get_proposal(s.proposals[0]).lesion_id == s.l1
        assert np.array_equal(q.get_mask(s.l2, "ART").array, mask_volume(2, np.uint8).array)


def test_lesions_are_listed_per_study_without_the_deleted_ones(seeded):
    p, s = seeded
    other = p.add_study("1.2.840.2")
    l3 = p.add_lesion(other, "cyst").id
    p.delete_lesion(s.l2)
    assert [x.id for x in p.list_lesions(s.study)] == [s.l1]
    assert [x.id for x in p.list_lesions(s.study, include_deleted=True)] == [s.l1, s.l2]
    assert [x.id for x in p.list_lesions()] == [s.l1, l3]
    first = p.get_lesion(s.l1)
    assert (first.lesion_class, first.notes, first.created_by, first.recist) == ("hcc", "segment VII", "alice", R1)


def test_bad_values_and_unknown_ids_are_refused_with_what_to_do(seeded, path: Path):
    p, s = seeded
    before = snapshot(path)
    with pytest.raises(InvalidRecordError, match="unknown lesion class 'tumour': use one of cyst, hemangioma"):
        p.add_lesion(s.study, "tumour")
    with pytest.raises(InvalidRecordError, match="cannot change size"):
        p.update_lesion(s.l1, size=3)
    with pytest.raises(InvalidRecordError, match="unknown lesion status"):
        p.update_lesion(s.l1, status="done")
    with pytest.raises(UnknownEntityError, match="no study 99"):
        p.add_lesion(99, "cyst")
    with pytest.raises(UnknownEntityError, match="no lesion 99"):
        p.get_lesion(99)
    with pytest.raises(InvalidRecordError, match="study 1.2.840.1 is already in the project"):
        p.add_study("1.2.840.1")
    p.delete_lesion(s.l2)
    with pytest.raises(DeletedLesionError, match="undo the deletion"):
        p.set_recist(s.l2, R2)
    with pytest.raises(DeletedLesionError):
        p.update_lesion(s.l2, notes="x")
    p.undo()
    assert snapshot(path) == before


def test_an_edit_that_changes_nothing_leaves_no_trace(seeded):
    p, s = seeded
    entries = len(p.audit_log())
    p.update_lesion(s.l1, lesion_class="hcc", notes="segment VII")
    p.set_recist(s.l1, R1)
    p.set_mask(s.l1, "pv", mask_volume(1))
    p.set_mask(s.l2, "pv", None)
    assert len(p.audit_log()) == entries


def test_a_closed_project_says_so(project: Project):
    project.close()
    project.close()
    with pytest.raises(ProjectClosedError, match="open it again"):
        project.list_lesions()


# --- undo / redo ---------------------------------------------------------------------------------

EDITS: dict[str, Callable[[Project, Seed], object]] = {
    "add_lesion": lambda p, s: p.add_lesion(s.study, "metastasis", "new", recist=R2, box=BOX2),
    "update_lesion": lambda p, s: p.update_lesion(s.l1, lesion_class="cyst", status="flagged", notes="?"),
    "set_recist": lambda p, s: p.set_recist(s.l1, R2),
    "set_recist_first": lambda p, s: p.set_recist(s.l2, R1),
    "set_recist_remove": lambda p, s: p.set_recist(s.l1, None),
    "delete_lesion": lambda p, s: p.delete_lesion(s.l1),
    "set_mask": lambda p, s: p.set_mask(s.l1, "pv", mask_volume(7, np.uint8)),
    "set_mask_first": lambda p, s: p.set_mask(s.l2, "NC", mask_volume(8)),
    "set_mask_remove": lambda p, s: p.set_mask(s.l1, "pv", None),
    "decide": lambda p, s: p.decide(s.proposals[1], "edited", "bob", model="lpc-v2", lesion_id=s.l2),
}
ACTIONS = {"set_recist_first": "set_recist", "set_recist_remove": "set_recist", "set_mask_first": "set_mask",
           "set_mask_remove": "set_mask"}


@pytest.mark.parametrize("kind", sorted(EDITS))
def test_undo_restores_exactly_the_state_before_each_edit_kind_and_redo_the_state_after(seeded, path, kind):
    p, s = seeded
    action = ACTIONS.get(kind, kind)
    before = snapshot(path)
    EDITS[kind](p, s)
    after = snapshot(path)
    assert after != before
    assert p.can_undo() and not p.can_redo()

    change = p.undo()
    assert change is not None and change.action == f"undo:{action}"
    assert snapshot(path) == before
    entry = p.audit_log(limit=1)[0]
    assert (entry.who, entry.action) == ("alice", f"undo:{action}")
    edit_entry = p.audit_log(limit=2)[1]
    assert (entry.before, entry.after) == (edit_entry.after, edit_entry.before)
    assert p.can_redo()

    assert p.redo().action == f"redo:{action}"
    assert snapshot(path) == after
    assert p.audit_log(limit=1)[0].action == f"redo:{action}"


@pytest.mark.parametrize("kind", sorted(EDITS))
def test_undo_and_redo_work_after_reopening_the_project(seeded, path, kind):
    p, s = seeded
    before = snapshot(path)
    EDITS[kind](p, s)
    after = snapshot(path)
    p.close()
    with Project.open(path, "alice") as q:
        assert q.undo() is not None
        assert snapshot(path) == before
    with Project.open(path, "alice") as q:
        assert q.can_redo()
        assert q.redo() is not None
        assert snapshot(path) == after


def test_a_session_of_edits_unwinds_step_by_step_and_winds_back(seeded, path):
    p, s = seeded
    states = [snapshot(path)]
    for kind in ("update_lesion", "set_recist", "set_mask", "decide", "add_lesion", "delete_lesion"):
        EDITS[kind](p, s)
        states.append(snapshot(path))
    for expected in reversed(states[:-1]):
        p.undo()
        assert snapshot(path) == expected
    for expected in states[1:]:
        p.redo()
        assert snapshot(path) == expected


def test_a_new_edit_clears_the_redo_history(seeded):
    p, s = seeded
    p.update_lesion(s.l1, notes="first")
    p.undo()
    assert p.can_redo()
    p.update_lesion(s.l1, notes="second")
    assert not p.can_redo()
    assert p.redo() is None
    assert p.undo().action == "undo:update_lesion"
    assert p.get_lesion(s.l1).notes == "segment VII"


def test_set_up_and_imports_are_not_what_undo_takes_back(project: Project):
    assert not project.can_undo() and project.undo() is None
    study = project.add_study()
    project.add_phase(study, "pv", "/pv")
    assert not project.can_undo()
    lesion = project.add_lesion(study, "cyst").id
    project.add_proposals(study, [proposal(0.5)])  # a background import lands after the reader's edit
    assert project.undo().action == "undo:add_lesion"
    assert project.list_lesions(include_deleted=True) == []
    assert len(project.list_proposals()) == 1
    actions = [e.action for e in reversed(project.audit_log())]
    assert actions == ["add_study", "add_phase", "add_lesion", "add_proposals", "undo:add_lesion"]
    assert lesion == 1


def test_undo_refuses_when_rows_were_changed_behind_its_back(seeded, path):
    p, s = seeded
    p.update_lesion(s.l1, notes="mine")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE lesions SET notes = 'someone else' WHERE id = ?", (s.l1,))
    conn.commit()
    conn.close()
    tampered = snapshot(path)
    with pytest.raises(UndoConflictError, match="changed outside the undo history"):
        p.undo()
    assert snapshot(path) == tampered
    assert p.can_undo()


# --- the editor's lock ---------------------------------------------------------------------------

def test_a_second_editor_is_refused_and_told_who_holds_the_project(project: Project, path: Path):
    with pytest.raises(ProjectLockedError) as info:
        Project.open(path, "bob")
    message = str(info.value)
    assert "alice" in message and socket.gethostname() in message and "read-only" in message
    holder = info.value.holder
    assert holder is not None and (holder.user, holder.hostname) == ("alice", socket.gethostname())
    project.close()
    with Project.open(path, "bob") as p:
        assert p.lock_holder.user == "bob"
    assert read_lock_holder(path) is None  # a clean close leaves an empty lock note


def test_a_read_only_opener_reads_live_and_cannot_write(seeded, path: Path):
    p, s = seeded
    with Project.open(path, "bob", read_only=True) as r:
        assert r.read_only and r.lock_holder.user == "alice"
        assert [x.id for x in r.list_lesions()] == [s.l1, s.l2]
        p.update_lesion(s.l1, notes="seen by bob")
        assert r.get_lesion(s.l1).notes == "seen by bob"
        before = snapshot(path)
        writes = [lambda: r.add_lesion(s.study, "cyst"), lambda: r.update_lesion(s.l1, notes="x"),
                  lambda: r.set_recist(s.l1, R2), lambda: r.delete_lesion(s.l1),
                  lambda: r.set_mask(s.l1, "pv", None), lambda: r.decide(s.proposals[0], "accepted", "bob"),
                  lambda: r.add_proposals(s.study, [proposal(0.3)]), lambda: r.add_study("9"), r.undo, r.redo]
        for write in writes:
            with pytest.raises(ReadOnlyProjectError, match="read-only .*alice.* reopen it for editing"):
                write()
        assert snapshot(path) == before


def test_a_stale_lock_of_a_dead_process_on_this_host_is_taken_over(project: Project, path: Path):
    project.close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    note = {"user": "crashed", "hostname": socket.gethostname(), "pid": dead_pid, "since": "2024-01-01T00:00:00"}
    lock_path(path).write_text(json.dumps(note))
    with Project.open(path, "bob") as p:
        assert p.took_over_lock_from is not None and p.took_over_lock_from.pid == dead_pid
        assert read_lock_holder(path).user == "bob"


def test_a_lock_from_another_computer_can_be_taken_over(project: Project, path: Path):
    project.close()
    note = {"user": "dan", "hostname": "ward-3-pc", "pid": 4242, "since": "2024-01-01T00:00:00"}
    lock_path(path).write_text(json.dumps(note))
    with pytest.raises(ProjectLockedError, match="dan on ward-3-pc .* another computer.*--take-over-lock") as info:
        Project.open(path, "bob")
    assert info.value.can_take_over and info.value.holder.since == "2024-01-01T00:00:00"
    with Project.open(path, "bob", take_over_lock=True) as p:
        assert p.took_over_lock_from.hostname == "ward-3-pc"
    lock_path(path).write_text(json.dumps(note))
    with Project.open(path, "bob", break_lock=True) as p:  # the old name still works
        assert p.took_over_lock_from.hostname == "ward-3-pc"


# --- masks ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.bool_, np.uint8])
def test_masks_round_trip_with_their_grid_and_are_stored_compressed(seeded, path: Path, dtype):
    p, s = seeded
    mask = mask_volume(3, dtype)
    p.set_mask(s.l2, "delayed", mask)
    back = p.get_mask(s.l2, "DEL")
    assert back.array.dtype == mask.array.dtype and np.array_equal(back.array, mask.array)
    assert back.spacing == mask.spacing and back.origin == mask.origin
    assert np.array_equal(back.direction, mask.direction)
    assert p.get_mask(s.l2, "arterial") is None
    blob = sqlite3.connect(path).execute("SELECT data FROM masks WHERE lesion_id = ?", (s.l2,)).fetchone()[0]
    assert zlib.decompress(blob) == mask.array.tobytes() and len(blob) < mask.array.nbytes / 2
    with pytest.raises(InvalidRecordError, match="bool or uint8"):
        p.set_mask(s.l2, "pv", Volume(np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(UnknownEntityError):
        p.get_mask(99, "pv")


# --- proposals and review ------------------------------------------------------------------------

def test_proposals_are_filtered_and_sorted_by_score(seeded):
    p, s = seeded
    other = p.add_study("1.2.840.2")
    slices = (BoxRecord("2d", (0, 0, 2), (5, 5, 2), (0, 0, 2), (9, 9, 2)),
              BoxRecord("2d", (1, 1, 3), (6, 6, 3), (1, 1, 3), (10, 10, 3)))
    [extra] = p.add_proposals(other, [proposal(0.95, cls="hcc", class_scores={"hcc": 0.8, "cyst": 0.1},
                                               key_slice=6, slice_boxes=slices)])
    assert [x.score for x in p.list_proposals()] == [0.95, 0.9, 0.7, 0.4]
    assert [x.score for x in p.list_proposals(s.study)] == [0.9, 0.7, 0.4]
    assert [x.score for x in p.list_proposals(min_score=0.7, max_score=0.9)] == [0.9, 0.7]
    got = p.get_proposal(extra.id)
    assert got == extra and got.class_scores == {"hcc": 0.8, "cyst": 0.1} and got.key_slice == 6
    assert [b.min_ijk for b in got.slice_boxes] == [(0, 0, 2), (1, 1, 3)]
    assert got.box.min_ijk == (3, 4, 5) and got.box.max_mm == (10.0, 12.0, 6.0)
    p.decide(s.proposals[2], "rejected", "bob")
    assert [x.id for x in p.list_proposals(status="pending")] == [extra.id, s.proposals[0], s.proposals[1]]
    assert [x.id for x in p.list_proposals(s.study, status="rejected")] == [s.proposals[2]]
    with pytest.raises(InvalidRecordError, match="unknown proposal status"):
        p.list_proposals(status="done")
    with pytest.raises(InvalidRecordError, match="voxel indices"):
        ProposalRecord(BoxRecord("3d", (0, 0, 0), (1, 1, 1)), 0.5, "mscn")


def test_a_decision_keeps_who_when_and_which_model(seeded):
    p, s = seeded
    t0 = datetime.now(timezone.utc)
    d = p.decide(s.proposals[0], "accepted", "bob", note="typical HCC", lesion_id=s.l1)
    assert (d.decision, d.reviewer, d.model, d.note) == ("accepted", "bob", "mscn-r1", "typical HCC")
    assert t0 <= d.decided_at <= datetime.now(timezone.utc)
    d2 = p.decide(s.proposals[0], "flagged", "carol", model="lpc-v2")
    assert p.decisions(s.proposals[0]) == [d, d2]
    q = p.get_proposal(s.proposals[0])
    assert (q.status, q.lesion_id) == ("flagged", s.l1)
    with pytest.raises(InvalidRecordError, match="unknown review decision"):
        p.decide(s.proposals[1], "ok", "bob")
    with pytest.raises(InvalidRecordError, match="rejected proposal cannot be linked"):
        p.decide(s.proposals[1], "rejected", "bob", lesion_id=s.l1)
    other = p.add_study("1.2.840.2")
    foreign = p.add_lesion(other, "cyst").id
    with pytest.raises(InvalidRecordError, match="another study"):
        p.decide(s.proposals[1], "accepted", "bob", lesion_id=foreign)


# --- audit and listeners -------------------------------------------------------------------------

def test_the_audit_log_records_who_when_and_before_after(seeded):
    p, s = seeded
    t0 = datetime.now(timezone.utc)
    p.update_lesion(s.l1, lesion_class="metastasis")
    p.set_mask(s.l1, "pv", mask_volume(5))
    mask_entry, entry = p.audit_log(limit=2)
    assert (entry.who, entry.action, entry.entity, entry.entity_id) == ("alice", "update_lesion", "lesion", s.l1)
    assert t0 <= entry.at <= datetime.now(timezone.utc)
    assert entry.before["lesions"][0]["lesion_class"] == "hcc"
    assert entry.after["lesions"][0]["lesion_class"] == "metastasis"
    blob_summary = mask_entry.after["masks"][0]["data"]
    assert set(blob_summary) == {"bytes", "sha256"}  # sizes and hashes, not the voxels
    assert [e.action for e in p.audit_log(entity="lesion", entity_id=s.l1)][:2] == ["set_mask", "update_lesion"]


def test_listeners_hear_of_each_change_after_it_is_committed(seeded, path: Path, caplog):
    p, s = seeded
    heard: list[tuple[StoreChange, str]] = []

    def listener(change: StoreChange) -> None:
        notes = sqlite3.connect(path).execute("SELECT notes FROM lesions WHERE id = ?", (s.l1,)).fetchone()[0]
        heard.append((change, notes))

    def broken(change: StoreChange) -> None:
        raise RuntimeError("a pane crashed")

    unsubscribe = p.subscribe(listener)
    p.subscribe(broken)
    p.update_lesion(s.l1, notes="after")
    p.undo()
    unsubscribe()
    p.redo()
    assert heard == [(StoreChange("lesion", s.l1, "update_lesion"), "after"),
                     (StoreChange("lesion", s.l1, "undo:update_lesion"), "segment VII")]
    assert p.get_lesion(s.l1).notes == "after"
    assert "a store listener failed" in caplog.text


# --- records -------------------------------------------------------------------------------------

def test_recist_records_measure_in_mm_and_validate():
    r = RecistRecord(((0, 0, 0), (3, 4, 0)), ((1, 1, 0), (1, 1, 2)), 7, "art")
    assert (r.long_mm, r.short_mm, r.phase) == (5.0, 2.0, "arterial")
    assert RecistRecord(((0, 0, 0), (0, 0, 1)), None, np.int64(3), "pv").short_mm is None
    with pytest.raises(InvalidRecordError, match="zero length"):
        RecistRecord(((1, 1, 1), (1, 1, 1)), None, 0, "pv")
    with pytest.raises(InvalidRecordError, match="finite"):
        RecistRecord(((0, 0, float("nan")), (1, 1, 1)), None, 0, "pv")
    with pytest.raises(InvalidRecordError, match="unknown phase"):
        RecistRecord(((0, 0, 0), (1, 1, 1)), None, 0, "hepatobiliary")
    with pytest.raises(InvalidRecordError, match="exceeds"):
        BoxRecord("3d", (0, 0, 5), (1, 1, 4))


def test_a_recist_measurement_becomes_a_record_on_its_phase():
    from liverview.measure.recist import RecistMeasurement

    m = RecistMeasurement(((0.0, 0.0, 5.0), (8.0, 6.0, 5.0)), ((1.0, 7.0, 5.0), (7.0, -1.0, 5.0)), 9)
    r = RecistRecord.from_measurement(m, "delayed")
    assert (r.long_mm, r.short_mm, r.key_slice, r.phase) == (10.0, 10.0, 9, "delayed")
    assert r.long_axis == m.long_axis and r.short_axis == m.short_axis


@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_project_dropped_without_close_lets_go_of_its_lock(path: Path):
    import gc

    Project.create(path, "alice")  # never closed: the UI lost it
    gc.collect()
    with Project.open(path, "bob") as p:
        assert p.took_over_lock_from.user == "alice"


# --- detection runs ------------------------------------------------------------------------------

def test_a_new_run_replaces_the_pending_proposals_and_keeps_the_decided_ones(seeded, path):
    p, s = seeded
    accepted, pending_a, pending_b = s.proposals
    p.decide(accepted, "accepted", "alice")
    heard: list[StoreChange] = []
    p.subscribe(heard.append)
    stored, removed = p.replace_pending_proposals(s.study, [proposal(0.8, model="mscn-r2"),
                                                             proposal(0.3, model="mscn-r2")])
    assert sorted(removed) == sorted([pending_a, pending_b])
    left = p.list_proposals(s.study)
    assert {q.id for q in left} == {accepted} | {q.id for q in stored}
    assert p.get_proposal(accepted).status == "accepted" and len(p.decisions(accepted)) == 1
    assert [q.source_model for q in stored] == ["mscn-r2", "mscn-r2"]
    assert heard and heard[-1].entity == "study" and heard[-1].action == "replace_pending_proposals"
    assert p.audit_log(limit=1)[0].action == "replace_pending_proposals"
    # not what undo takes back: the reader's decision is
    assert p.undo().action == "undo:decide"
    p.close()
    assert len(Project.open(path, "alice", read_only=True).list_proposals(s.study)) == 3


def test_a_new_run_may_keep_pending_proposals_it_repeats(seeded):
    p, s = seeded
    stored, removed = p.replace_pending_proposals(s.study, [], keep=[s.proposals[0]])
    assert stored == [] and sorted(removed) == sorted(s.proposals[1:])
    assert [q.id for q in p.list_proposals(s.study)] == [s.proposals[0]]


# --- undo groups: one decision, one undo step -------------------------------------------------------

def test_an_undo_group_is_one_step_and_takes_in_later_edits_of_what_it_made(seeded, path):
    p, s = seeded
    pid = s.proposals[0]
    with p.undo_group("review-edit", anchor=("proposal", pid), keep_open=True):
        lesion = p.add_lesion(s.study, "hcc", recist=R1)
        p.decide(pid, "edited", "alice", lesion_id=lesion.id)
    p.set_recist(lesion.id, R2)  # the reader adjusts the RECIST: still the same decision
    p.update_lesion(lesion.id, lesion_class="cyst")
    before_undo = snapshot(path)
    change = p.undo()
    assert change == StoreChange("proposal", pid, "undo:review-edit")
    assert p.get_proposal(pid).status == "pending" and p.decisions(pid) == []
    assert lesion.id not in {les.id for les in p.list_lesions(include_deleted=True)}  # no orphan
    assert p.redo() == StoreChange("proposal", pid, "redo:review-edit")
    assert snapshot(path) == before_undo
    p.close()
    reopened = Project.open(path, "alice")  # the group is in the file: after reopening, still one step
    assert reopened.undo().action == "undo:review-edit"
    assert reopened.get_proposal(pid).status == "pending"
    reopened.close()


def test_an_edit_of_something_else_ends_the_group(seeded):
    p, s = seeded
    with p.undo_group("review-edit", keep_open=True):
        lesion = p.add_lesion(s.study, "hcc", recist=R1)
    p.set_recist(s.l2, R2)  # another lesion: the group is over
    p.set_recist(lesion.id, R2)  # no longer part of it
    assert p.undo().action == "undo:set_recist" and p.get_lesion(lesion.id).recist == R1
    assert p.undo().action == "undo:set_recist" and p.get_lesion(s.l2).recist is None
    assert p.undo().action == "undo:review-edit" and lesion.id not in {les.id for les in p.list_lesions()}


def test_undo_and_end_undo_group_close_the_group(seeded):
    p, s = seeded
    with p.undo_group("review-edit", keep_open=True):
        lesion = p.add_lesion(s.study, "hcc", recist=R1)
    p.end_undo_group()
    p.set_recist(lesion.id, R2)
    assert p.undo().action == "undo:set_recist"
    with p.undo_group("review-edit", keep_open=True):
        other = p.add_lesion(s.study, "cyst", recist=R1)
    p.undo()
    p.redo()
    p.set_recist(other.id, R2)  # after an undo / redo the group is closed
    assert p.undo().action == "undo:set_recist"
