"""Which studies a scan runs: not those finished before, not copies of a study already found, not those out
of attempts (each study runs at most 1 + retries times over all runs). No Ray needed."""

import shutil

import pytest

from liverview.scan.archive import find_studies
from liverview.scan.batch import failure_message, plan_scan
from liverview.store.project import Project
from liverview.store.scan_methods import ScannedPhase
from tests.scan.conftest import write_tiny_phantom


@pytest.fixture
def archive(tmp_path):
    root = tmp_path / "archive"
    for name, seed in (("done", 1), ("failing", 2), ("new", 3)):
        write_tiny_phantom(root / name, seed, shape=(8, 64, 64))
    shutil.copytree(root / "new", root / "zz_copy_of_new")
    return root


def test_finished_copies_and_exhausted_studies_are_not_run_again(archive, tmp_path):
    studies = find_studies(archive).studies
    with Project.create(tmp_path / "p.lvproj", "t") as project:
        first = plan_scan(studies, project, retries=1)
        assert [p.source.location.name for p in first.to_run] == ["done", "failing", "new"]
        assert [(c.location.name, f.location.name) for c, f in first.duplicates] == [("zz_copy_of_new", "new")]
        keys = {p.source.location.name: p for p in first.to_run}
        project.record_scanned_study(keys["done"].key, str(archive / "done"),
                                     [ScannedPhase("non-contrast", "x", reference=True)], [], "det/1",
                                     signature=keys["done"].signature)
        project.record_scan_failure(keys["failing"].key, str(archive / "failing"), "LoadError: bad", "")
        again = plan_scan(studies, project, retries=1)
        assert [p.source.location.name for p in again.done] == ["done"]
        assert [(p.source.location.name, p.attempts) for p in again.to_run] == [("failing", 1), ("new", 0)]
        project.record_scan_failure(keys["failing"].key, str(archive / "failing"), "LoadError: bad", "")
        third = plan_scan(studies, project, retries=1)
        assert [(p.source.location.name, r.attempts, r.message) for p, r in third.given_up] == [
            ("failing", 2, "LoadError: bad")]
        assert [p.source.location.name for p in plan_scan(studies, project, retries=2).to_run] == ["failing", "new"]


def test_a_failure_reads_as_its_cause_in_one_line():
    err = ValueError("first line\nsecond line")
    assert failure_message(err) == "ValueError: first line"


def test_a_scanned_dicom_study_whose_slices_changed_is_named_not_taken_as_done(tmp_path):
    # a DICOM study's key is its UID, which stays when slices are added: its files' signature tells the change
    import numpy as np

    from liverview.core.volume import Volume
    from tests.scan.dicom_writing import write_series

    vol = Volume(np.zeros((4, 16, 16), np.int16), (2.0, 2.0, 5.0), (0.0, 0.0, 0.0), np.eye(3))
    paths = write_series(tmp_path / "arch" / "study", vol, "1.2.3.4", "portal venous")
    with Project.create(tmp_path / "p.lvproj", "t") as project:
        (planned,) = plan_scan(find_studies(tmp_path / "arch").studies, project, retries=1).to_run
        assert planned.signature
        project.record_scanned_study(planned.key, str(planned.source.location),
                                     [ScannedPhase("portal venous", "x", reference=True)], [], "det/1",
                                     signature=planned.signature)
        same = plan_scan(find_studies(tmp_path / "arch").studies, project, retries=1)
        assert len(same.done) == 1 and not same.changed and not same.to_run
        moved = tmp_path / "moved"  # the archive copied elsewhere (other folder, other file times): not a change
        shutil.copytree(tmp_path / "arch", moved)
        elsewhere = plan_scan(find_studies(moved).studies, project, retries=1)
        assert len(elsewhere.done) == 1 and not elsewhere.changed
        paths[-1].unlink()  # a slice gone (or added, or rewritten)
        changed = plan_scan(find_studies(tmp_path / "arch").studies, project, retries=1)
        assert [p.key for p in changed.changed] == [planned.key] and not changed.done and not changed.to_run
