"""`liverview scan` on local Ray (1 CPU): tiny phantom studies and broken ones. The broken study is reported
and never stops the batch; the others get exactly the proposals `liverview detect` gives; a scan killed with
SIGKILL midway and run again finishes the rest without storing any study twice; a worker that dies is a
recorded failure of its study alone."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from liverview.cli import main as cli_main
from liverview.core.study import PhaseKind
from liverview.detection.proposals import read_proposals
from liverview.detection.study_inputs import read_study_inputs
from liverview.review.proposal_import import records_from_set
from liverview.store.project import Project
from tests.scan.conftest import TINY_MODEL, write_tiny_phantom

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


# The tiny detector's boxes are rough: a wide liver margin keeps some of them, so the comparison has content.
MODEL_ARGS = ["--device", "cpu", "--model", TINY_MODEL, "--liver-margin", "60"]


def scan_args(archive: Path, project: Path, plugins: Path, *extra: str) -> list[str]:
    return ["scan", str(archive), "--project", str(project), "--workers", "1", *MODEL_ARGS,
            "--plugin-dir", str(plugins), *extra]


def stored(project_path: Path) -> dict:
    """study description -> (scan status, attempts, message, proposals as comparable tuples)."""
    with Project.open(project_path, "checker", read_only=True) as p:
        studies = {s.id: s for s in p.list_studies()}
        out = {}
        for key, r in p.scan_records().items():
            name = studies[r.study_id].description if r.study_id else Path(r.source).name
            props = p.list_proposals(r.study_id) if r.study_id else []
            out[name] = (r.status, r.attempts, r.message, sorted(_comparable(x) for x in props), key)
        return out


def _comparable(p) -> tuple:
    """A stored proposal as compared; the score last (torch may round differently with another thread count)."""
    return (p.box.min_ijk, p.box.max_ijk, p.lesion_class, p.key_slice, p.source_model, p.score)


def assert_same_proposals(got: list, expected: list) -> None:
    assert [g[:-1] for g in got] == [e[:-1] for e in expected]
    assert [g[-1] for g in got] == pytest.approx([e[-1] for e in expected], abs=1e-4)


def test_scan_stores_what_detect_gives_and_reports_the_broken_study(tiny_detector_dir, tmp_path, capsys):
    archive = tmp_path / "archive"
    for seed in (1, 2, 3):
        write_tiny_phantom(archive / "ward" / f"s{seed}", seed)
    broken = write_tiny_phantom(archive / "broken", 9)
    phase_file = broken / "arterial.nii.gz"
    phase_file.write_bytes(phase_file.read_bytes()[:300])  # truncated by a bad copy
    (archive / "ward" / "index.txt").write_text("not an image")
    project = tmp_path / "archive.lvproj"

    assert cli_main(scan_args(archive, project, tiny_detector_dir, "--retries", "1")) == 1
    out = capsys.readouterr().out
    assert "found 4 CT studies" in out and "1 x not a DICOM file: " in out and "index.txt" in out
    assert "3 finished with" in out and "1 failed" in out and "studies/min" in out
    assert "failed: " in out and "broken" in out and "after 2 attempts (no attempts left)" in out
    result = stored(project)
    assert set(result) == {"s1", "s2", "s3", "broken"}
    status, attempts, message, proposals, _ = result["broken"]
    assert (status, attempts, proposals) == ("failed", 2, [])
    assert "arterial.nii.gz" in message and "truncated" in message

    for name in ("s1", "s2", "s3"):
        status, attempts, _, proposals, key = result[name]
        assert (status, attempts) == ("done", 1) and key.startswith("sha256:")
        out_file = tmp_path / f"{name}.json"
        assert cli_main(["detect", str(archive / "ward" / name), "--out", str(out_file), *MODEL_ARGS,
                         "--plugin-dir", str(tiny_detector_dir)]) == 0
        inputs = read_study_inputs(archive / "ward" / name)
        expected = records_from_set(read_proposals(out_file), inputs.volumes[PhaseKind.NON_CONTRAST]).records
        assert_same_proposals(proposals, sorted(_comparable(x) for x in expected))
    assert sum(len(v[3]) for v in result.values()) > 0  # the tiny detector does propose something

    # a re-run finds nothing left to do (the broken study is out of attempts) and starts no Ray at all
    capsys.readouterr()
    assert cli_main(scan_args(archive, project, tiny_detector_dir, "--retries", "1")) == 1
    out = capsys.readouterr().out
    assert "3 studies already scanned" in out and "given up: " in out and "0 studies to scan" in out
    assert stored(project) == result


def _done_count(project: Path) -> int:
    try:
        conn = sqlite3.connect(project.resolve().as_uri() + "?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM scan_results WHERE status = 'done'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # not created yet


def test_a_scan_killed_midway_and_run_again_finishes_without_duplicates(tiny_detector_dir, tmp_path):
    archive = tmp_path / "archive"
    for seed in range(1, 7):
        write_tiny_phantom(archive / f"s{seed}", seed)
    project = tmp_path / "killed.lvproj"
    cmd = [sys.executable, "-m", "liverview.cli", *scan_args(archive, project, tiny_detector_dir)]
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while _done_count(project) < 1:
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "the first study never finished"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
    finally:
        _end_process_group(first)
        log.close()
    assert first.returncode == -signal.SIGKILL
    done_before = _done_count(project)
    assert 1 <= done_before < 6, "the kill came too late to leave studies unfinished"

    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{count_studies(done_before)} already scanned" in again.stdout
    assert f"{count_studies(6 - done_before)} to scan" in again.stdout
    with Project.open(project, "checker", read_only=True) as p:
        records = p.scan_records()
        studies = p.list_studies()
        assert len(records) == len(studies) == 6 and len({s.uid for s in studies}) == 6
        assert {r.status for r in records.values()} == {"done"} and {r.attempts for r in records.values()} == {1}
        assert sorted(s.description for s in studies) == [f"s{n}" for n in range(1, 7)]
        for r in records.values():  # each study's proposals stored once
            assert len(p.list_proposals(r.study_id)) == r.proposals
            assert len(p.list_phases(r.study_id)) == 4


def count_studies(n: int) -> str:
    return f"{n} study" if n == 1 else f"{n} studies"


def _end_process_group(proc: subprocess.Popen) -> None:
    """Stop what the killed scan left running in its own process group (Ray's helpers), if anything."""
    time.sleep(2)  # Ray's reaper stops the embedded cluster when its driver dies; give it a moment
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


_CRASHING = '''
"""A detector that kills its own process on studies 80 voxels wide (as a segfault or the OOM killer would)."""
import os

from liverview.detection.proposals import ProposalSet


class Crashing:
    name = "crashing/1"

    def detect(self, volumes, reference, progress=None, cancelled=None):
        volume = volumes[reference]
        if volume.array.shape[2] == 80:
            os._exit(1)
        return ProposalSet.for_volume([], volume, model=self.name, reference_phase=reference.value)


def load(device="auto"):
    return Crashing()
'''


def test_a_worker_that_dies_fails_its_study_only(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    site.mkdir()
    (site / "crashing_detector.py").write_text(textwrap.dedent(_CRASHING))
    plugins = tmp_path / "plugins"
    (plugins / "crashing").mkdir(parents=True)
    (plugins / "crashing" / "plugin.json").write_text(
        '{"name": "crashing", "display_name": "c", "version": "1", "description": "test", "contributes": '
        '[{"kind": "detector", "name": "crashing", "title": "c", "command": "crashing_detector:load"}]}')
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    archive = tmp_path / "archive"
    write_tiny_phantom(archive / "fine", 1)
    write_tiny_phantom(archive / "crash", 2, shape=(16, 64, 80))
    project = tmp_path / "crash.lvproj"
    args = ["scan", str(archive), "--project", str(project), "--workers", "1", "--device", "cpu", "--model",
            "crashing", "--plugin-dir", str(plugins), "--retries", "1", "--no-liver-filter"]
    assert cli_main(args) == 1
    out = capsys.readouterr().out
    assert "1 finished with 0 proposals, 1 failed" in out
    result = stored(project)
    assert result["fine"][:2] == ("done", 1)
    status, attempts, message, _, _ = result["crash"]
    assert (status, attempts) == ("failed", 2) and "worker process died" in message
    # a dry run with more retries names the study it would try again, and how often it failed
    assert cli_main([*args[:-3], "--retries", "3", "--no-liver-filter", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would scan: {archive / 'crash'} (again: 2 failed attempts)" in out and "would scan: " + str(
        archive / "fine") not in out


def test_a_mistyped_phase_and_an_archive_without_studies_are_refused_before_any_project(tiny_detector_dir, tmp_path,
                                                                                         capsys):
    archive = tmp_path / "archive"
    write_tiny_phantom(archive / "s1", 1)
    project = tmp_path / "p.lvproj"
    # a mistyped phase failed every study that needed it, using up its attempts: now a usage error up front
    assert cli_main(scan_args(archive, project, tiny_detector_dir, "--assume-phase", "artrial")) == 2
    assert "--assume-phase" in capsys.readouterr().err and not project.exists()
    assert cli_main(scan_args(archive, project, tiny_detector_dir, "--assume-phase", "unknown")) == 2
    # a folder without a CT study (a wrong path, most likely) is a failure, and no empty project is made
    (tmp_path / "empty").mkdir()
    assert cli_main(scan_args(tmp_path / "empty", project, tiny_detector_dir)) == 1
    assert "no CT study found" in capsys.readouterr().err and not project.exists()
    # the dry run plans with a correct phase alias, and makes no project (it did, with its lock file)
    assert cli_main(scan_args(archive, project, tiny_detector_dir, "--assume-phase", "PV", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "1 study to scan (retries up to 2 per study)" in out and "does not exist yet" in out
    assert "  would scan: " in out and "s1" in out.split("would scan: ")[1]  # named, not only counted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "empty"]
    Project.create(project, "someone").close()
    with Project.open(project, "reader"):  # held for editing elsewhere: a dry run only reads it
        assert cli_main(scan_args(archive, project, tiny_detector_dir, "--dry-run")) == 0
    assert "1 study to scan" in capsys.readouterr().out
