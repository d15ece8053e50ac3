"""Schema 3: the scan_results table of `liverview scan`. A finished study is written in one transaction with
its study row, phases and proposals, never twice; a failure keeps its message and counts attempts; older
projects upgrade on open."""

import sqlite3
from pathlib import Path

import pytest

from liverview.store import BoxRecord, Project, ProjectWriteError, ProposalRecord
from liverview.store.migrations import MIGRATIONS, SCHEMA_VERSION, migrate, read_version
from liverview.store.scan_methods import ScannedPhase, StudyAlreadyScannedError

PHASES = (ScannedPhase("non-contrast", "/a/nc.nii.gz", reference=True), ScannedPhase("arterial", "/a/art.nii.gz"))


def _proposal(score: float) -> ProposalRecord:
    box = BoxRecord("3d", (0.0, 0.0, 0.0), (10.0, 10.0, 5.0), (0, 0, 0), (3, 3, 2))
    return ProposalRecord(box=box, score=score, source_model="det/1", lesion_class="hcc",
                          class_scores={"hcc": score}, key_slice=1)


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "scan.lvproj", "scanner") as p:
        yield p


def test_a_finished_study_is_stored_with_phases_proposals_and_its_scan_row(project: Project):
    study_id = project.record_scanned_study("sha256:abc", "/archive/s1", PHASES, [_proposal(0.9), _proposal(0.4)],
                                            "det/1", description="s1", signature="[1]", seconds=2.5)
    (study,) = project.list_studies()
    assert (study.id, study.uid, study.description) == (study_id, "sha256:abc", "s1")
    assert [(p.kind, p.is_reference) for p in project.list_phases(study_id)] == [("non-contrast", True),
                                                                                ("arterial", False)]
    assert [p.score for p in project.list_proposals(study_id)] == [0.9, 0.4]
    record = project.scan_record("sha256:abc")
    assert (record.status, record.attempts, record.study_id, record.proposals, record.model, record.seconds) == (
        "done", 1, study_id, 2, "det/1", 2.5)
    assert record.source == "/archive/s1" and record.signature == "[1]"
    assert not project.can_undo()  # an import, not the reader's edit


def test_a_study_is_never_stored_twice(project: Project):
    project.record_scanned_study("1.2.3", "/a", PHASES, [_proposal(0.9)], "det/1")
    with pytest.raises(StudyAlreadyScannedError, match="already scanned"):
        project.record_scanned_study("1.2.3", "/b", PHASES, [_proposal(0.9)], "det/1")
    assert len(project.list_studies()) == 1 and len(project.list_proposals()) == 1


def test_a_study_opened_in_the_app_before_keeps_its_row_and_phases(project: Project):
    study_id = project.add_study(uid="1.2.3", description="opened")
    project.add_phase(study_id, "portal venous", "/dicom", "9.8")
    assert project.record_scanned_study("1.2.3", "/dicom", PHASES, [_proposal(0.7)], "det/1") == study_id
    assert [p.kind for p in project.list_phases(study_id)] == ["portal venous"]
    assert len(project.list_proposals(study_id)) == 1


def test_failures_count_attempts_keep_the_message_and_a_later_success_clears_it(project: Project):
    assert project.record_scan_failure("k", "/a", "LoadError: truncated file") == 1
    assert project.record_scan_failure("k", "/a", "x" * 10000) == 2
    record = project.scan_record("k")
    assert (record.status, record.attempts, record.study_id) == ("failed", 2, None)
    assert len(record.message) < 4100 and record.message.endswith("(message cut)")
    project.record_scanned_study("k", "/a", PHASES, [], "det/1")
    record = project.scan_record("k")
    assert (record.status, record.attempts, record.message) == ("done", 3, "")
    assert project.record_scan_failure("k", "/a", "late failure") == 3  # a done study stays done
    assert project.scan_record("k").status == "done"


def test_a_study_whose_last_write_fails_leaves_nothing_behind(project: Project, monkeypatch):
    def disk_full(*args):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("liverview.store.scan_methods._upsert_scan_row", disk_full)
    with pytest.raises(ProjectWriteError, match="disk is full.*nothing of this edit was saved"):
        project.record_scanned_study("k", "/a", PHASES, [_proposal(0.9)], "det/1")
    assert project.list_studies() == [] and project.list_proposals() == [] and project.scan_records() == {}


def test_a_schema_2_project_opens_upgraded_to_schema_3_with_its_data(tmp_path: Path):
    path = tmp_path / "old.lvproj"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:2]) == 2
    conn.execute("INSERT INTO studies (uid, description, patient_id, created_at) VALUES ('1.2.3', 'old', 'P1', "
                 "'2026-01-01T00:00:00+00:00')")
    conn.close()
    with Project.open(path, "alice") as p:
        assert p.schema_version == SCHEMA_VERSION >= 3  # upgraded all the way to the newest schema
        assert [s.uid for s in p.list_studies()] == ["1.2.3"] and p.scan_records() == {}
        p.record_scanned_study("1.2.3", "/dicom", PHASES, [_proposal(0.8)], "det/1")
    conn = sqlite3.connect(path)
    assert read_version(conn) == SCHEMA_VERSION
    assert conn.execute("SELECT status FROM scan_results").fetchall() == [("done",)]
    conn.close()
