"""Every CLI failure is one line on stderr and a documented exit status, never a traceback: damaged inputs
(exit 3), a locked project (4), a wrong input (2), a bug (5), Ctrl-C (130)."""

from __future__ import annotations

import ast
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import liverview.cli as cli
from liverview.cli import (EXIT_DAMAGED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_USAGE, exit_status,
                           one_line)
from liverview.store.project import Project, ProjectLockedError
from tests import malformed_corpus as corpus

REPO = Path(__file__).resolve().parents[1]

DAMAGED_VOLUMES = {
    "truncated.nii.gz": corpus.truncated_nifti_gz,
    "truncated.nii": corpus.truncated_nifti,
    "zero_spacing.nii": corpus.zero_spacing_nifti,
    "nan_spacing.nii": corpus.nan_spacing_nifti,
    "bad_magic.nii": corpus.bad_magic_nifti,
    "huge_header.nii.gz": corpus.huge_header_nifti,
    "huge_header.mha": corpus.huge_header_mha,
    "zero_spacing.mha": corpus.zero_spacing_mha,
}


def one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"liverview {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("name", sorted(DAMAGED_VOLUMES))
def test_info_on_a_damaged_volume_is_one_line_and_exit_3(tmp_path, capsys, name):
    path = DAMAGED_VOLUMES[name](tmp_path / name)
    assert cli.main(["info", str(path)]) == EXIT_DAMAGED
    line = one_error_line(capsys.readouterr().err, "info")
    assert str(path) in line


@pytest.mark.parametrize("damage", ["bits_allocated_8", "rescale_slope_1e30", "position_far_away"])
def test_info_names_a_left_out_slice_in_its_problems_line(tmp_path, capsys, damage):
    folder, bad = corpus.series_with_damaged_slice(tmp_path / damage, damage)
    assert cli.main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "size:      32 x 32 x 9 voxels" in out  # the 8 good slices at their heights, the 9th's place kept
    assert "missing:   1 slice(s) not in the series: 5 (of 1..9)" in out
    problems = out[out.index("problems ("):]
    assert bad.name in problems and "left out" in problems


def test_a_png_over_the_limit_is_one_line_and_exit_3(tmp_path, capsys):
    path = corpus.png_claiming(tmp_path / "huge.png")
    code = cli.main(["export-us", str(path), "--format", "json", "--out", str(tmp_path / "x.json")])
    assert code == EXIT_DAMAGED
    assert "60000 x 60000" in one_error_line(capsys.readouterr().err, "export-us")


@pytest.fixture
def damaged_project(tmp_path, ct_study):
    folder, study = ct_study
    from liverview.store.study_link import ensure_study

    path = tmp_path / "damaged.lvproj"
    with Project.create(path, "reader") as project:
        ensure_study(project, study)
    corpus.damage_project_page(path)
    return folder, path


@pytest.fixture
def ct_study(tmp_path):
    from liverview.io.study_loader import load_study

    folder = tmp_path / "ct"
    corpus.write_ct_series(folder)
    return str(folder), load_study([folder]).study


def test_a_damaged_project_is_refused_for_editing_and_read_for_export(tmp_path, damaged_project, capsys):
    folder, path = damaged_project
    csv = tmp_path / "in.csv"
    csv.write_text("x\n")
    before = path.read_bytes()
    assert cli.main(["import-csv", folder, "--csv", str(csv), "--project", str(path)]) == EXIT_DAMAGED
    line = one_error_line(capsys.readouterr().err, "import-csv")
    assert "damaged" in line and "read-only" in line
    assert cli.main(["export", folder, "--format", "json", "--out", str(tmp_path / "x.json"),
                     "--project", str(path)]) in (0, EXIT_USAGE)
    assert "is damaged" in capsys.readouterr().err
    assert path.read_bytes() == before


@pytest.mark.parametrize("error, status", [
    (MemoryError(), EXIT_DAMAGED),
    (sqlite3.DatabaseError("database disk image is malformed"), EXIT_DAMAGED),
    (cv2.error("OpenCV(4) imgcodecs: (-215:Assertion failed) pixels <= CV_IO_MAX_IMAGE_PIXELS"), EXIT_DAMAGED),
    (sqlite3.OperationalError("database is locked"), EXIT_USAGE),
    (PermissionError(13, "Permission denied"), EXIT_USAGE),
    (ProjectLockedError("held by dan", None), EXIT_LOCKED),
    (RuntimeError("unexpected"), EXIT_INTERNAL),
    (KeyboardInterrupt(), EXIT_INTERRUPTED),
])
def test_every_failure_is_one_line_with_its_documented_status(monkeypatch, capsys, error, status):
    def fail(args):
        raise error

    monkeypatch.setattr("liverview.commands.info.run", fail)
    assert cli.main(["info", "x"]) == status
    line = one_error_line(capsys.readouterr().err, "info")
    assert line.split("error: ", 1)[1].strip()  # never empty, even for MemoryError()
    assert exit_status(error) == status and "\n" not in one_line(error)


def test_no_traceback_reaches_the_terminal(tmp_path):
    path = corpus.bad_magic_nifti(tmp_path / "bad.nii")
    run = subprocess.run([sys.executable, "-m", "liverview.cli", "info", str(path)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == EXIT_DAMAGED and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and "magic" in run.stderr


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path):
    folder = tmp_path / "s"
    corpus.write_ct_series(folder)
    reader = subprocess.Popen([sys.executable, "-m", "liverview.cli", "info", str(folder)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # `| head` that already quit: the first line written finds no reader
    err = reader.stderr.read().decode()
    assert reader.wait(120) == cli.EXIT_OUTPUT_CLOSED
    assert err == ""  # no 'Broken pipe' error, no traceback


def test_exit_statuses_are_documented_in_the_help():
    text = cli.build_parser().format_help()
    for number in ("0", "1", "2", "3", "4", "5", "130", "141"):
        assert f"{number} " in text
    assert np.all([word in text for word in ("damaged", "memory limit", "interrupted")])


def test_a_command_imports_only_its_own_module(tmp_path):
    """`liverview CMD` registers CMD alone (others' imports such as SimpleITK or torch are not paid for);
    without a command every command is listed."""
    code = ("import sys; from liverview import cli; p = cli.build_parser(['plugins', '--kind', 'detector']); "
            "print(sorted(m for m in sys.modules if m.startswith('liverview.commands.')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    loaded = set(ast.literal_eval(run.stdout.strip())) - {"liverview.commands.model_choice"}  # a shared helper, not a command
    assert loaded == {"liverview.commands.plugins_list"}, run.stdout + run.stderr
    names = cli.build_parser().format_help()
    assert all(name in names for name in ("synth-ct", "export", "plugins", "cv-us", "scan"))


@pytest.mark.parametrize("option, value", [("--max-proposals", "-3"), ("--liver-margin", "-10"),
                                           ("--liver-margin", "nan"), ("--threads", "-1")])
def test_a_negative_count_or_distance_is_a_usage_error_before_anything_runs(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as stop:
        cli.main(["detect", str(tmp_path), "--out", str(tmp_path / "p.json"), option, value])
    assert stop.value.code == EXIT_USAGE
    assert option in capsys.readouterr().err and not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("value", ["0", "-2"])
def test_eval_us_refuses_a_limit_of_no_lesions(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as stop:  # it quietly evaluated one lesion
        cli.main(["eval-us", "--data", str(tmp_path), "--limit", value])
    assert stop.value.code == EXIT_USAGE
    assert "--limit" in capsys.readouterr().err
