"""`liverview synth-ct`: writes a phantom study and reports it; user errors exit with status 2."""

import json

import pytest

from liverview import cli
from liverview.synth.ct_phantom import read_lesion_table

SMALL = ["--shape", "24", "96", "96", "--spacing", "2", "2", "6"]


@pytest.fixture(autouse=True)
def only_this_command(monkeypatch):
    """Build the parser from this command alone, so the test does not depend on the other commands."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["synth_ct"])


def test_synth_ct_writes_the_study_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "phantom"
    assert cli.main(["synth-ct", str(out), "--seed", "3", "--lesions", "4", *SMALL]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"non-contrast.nii.gz", "arterial.nii.gz", "portal-venous.nii.gz", "delayed.nii.gz",
            "liver_mask.nii.gz", "lesions.csv", "study.json"} <= names
    meta = json.loads((out / "study.json").read_text())
    assert meta["seed"] == 3 and meta["shape_zyx"] == [24, 96, 96] and meta["spacing_mm_xyz"] == [2.0, 2.0, 6.0]
    lesions = read_lesion_table(out / "lesions.csv")
    assert len(lesions) == 4
    printed = capsys.readouterr().out
    assert "4 lesions" in printed and str(out) in printed
    assert all(les.lesion_class in printed for les in lesions)


@pytest.mark.parametrize("args, message", [
    (["--lesions", "-1"], "--lesions must be 0 or more"),
    (["--shape", "4", "96", "96"], "--shape needs at least 8"),
    (["--spacing", "2", "0", "6"], "--spacing must be positive"),
])
def test_bad_options_exit_with_status_2(tmp_path, capsys, args, message):
    assert cli.main(["synth-ct", str(tmp_path / "x"), "--seed", "1", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_out_that_is_a_file_or_a_full_folder_is_refused(tmp_path, capsys):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("keep me")
    assert cli.main(["synth-ct", str(a_file), "--seed", "1", *SMALL]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "keep me"
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("x")
    assert cli.main(["synth-ct", str(full), "--seed", "1", "--lesions", "1", *SMALL]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main(["synth-ct", str(full), "--seed", "1", "--lesions", "1", "--force", *SMALL]) == 0
    assert (full / "study.json").is_file()


def test_a_liver_too_small_for_the_lesions_is_a_user_error(tmp_path, capsys):
    code = cli.main(["synth-ct", str(tmp_path / "tiny"), "--seed", "1", "--lesions", "60",
                     "--shape", "16", "64", "64", "--spacing", "1.5", "1.5", "4"])
    assert code == 2
    assert "cannot fit" in capsys.readouterr().err
