"""`liverview export` and `liverview import-csv` on a DICOM study and its real project file."""

from __future__ import annotations

import csv
import subprocess
import sys

from liverview.cli import main
from liverview.io.export.deeplesion_csv import read_deeplesion_csv
from liverview.io.study_loader import load_study
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.store.study_link import default_project_path, ensure_study


def test_export_then_import_through_the_cli(ct_series, tmp_path, capsys):
    folder = str(ct_series.paths[0].parent)
    study = load_study([folder]).study
    path = default_project_path(study)  # where the app keeps it
    path.parent.mkdir(parents=True)
    project = Project.create(path, "reader")
    sid = ensure_study(project, study)
    vol = study.reference.volume
    w = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, 3), (30, 20, 3), (20, 14, 3), (20, 26, 3))]
    project.add_lesion(sid, "hcc", recist=RecistRecord((w[0], w[1]), (w[2], w[3]), 3, study.reference.kind))
    project.close()

    assert main(["export", folder, "--format", "csv", "--out", str(tmp_path / "dl.csv")]) == 0
    assert "wrote 1 lesion(s)" in capsys.readouterr().out
    rows, _ = read_deeplesion_csv(tmp_path / "dl.csv")
    assert rows[0].lesion_diameters_px[0] == 20.0

    other = tmp_path / "other.lvproj"
    assert main(["import-csv", folder, "--csv", str(tmp_path / "dl.csv"), "--project", str(other)]) == 0
    with Project.open(other, "x", read_only=True) as p:
        assert [les.recist.long_mm for les in p.list_lesions()] == [20 * vol.spacing[0]]

    # a row that does not fit the study beside one that does: the good one imported, exit 1 (some left out)
    with open(tmp_path / "dl.csv", newline="") as f:
        header, row = list(csv.reader(f))[:2]
    bad = list(row)
    bad[header.index("Key_slice_index")] = "999"
    with open(tmp_path / "mixed.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, row, bad])
    third = tmp_path / "third.lvproj"
    capsys.readouterr()
    assert main(["import-csv", folder, "--csv", str(tmp_path / "mixed.csv"), "--project", str(third)]) == 1
    out = capsys.readouterr().out
    assert "imported 1 lesion(s)" in out and "not imported" in out
    with Project.open(third, "x", read_only=True) as p:
        assert len(p.list_lesions()) == 1


def test_export_errors_are_one_line_and_exit_2(ct_series, tmp_path):
    folder = str(ct_series.paths[0].parent)
    run = subprocess.run([sys.executable, "-m", "liverview.cli", "export", folder, "--format", "json",
                          "--out", str(tmp_path / "x.json"), "--project", str(tmp_path / "none.lvproj")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "does not exist" in run.stderr
    run = subprocess.run([sys.executable, "-m", "liverview.cli", "export", str(tmp_path / "missing"), "--format",
                          "json", "--out", str(tmp_path / "x.json")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "error" in run.stderr


def test_a_file_named_for_another_format_is_refused_before_anything_is_written(ct_series, tmp_path, capsys):
    folder = str(ct_series.paths[0].parent)
    study = load_study([folder]).study
    path = default_project_path(study)
    path.parent.mkdir(parents=True)
    with Project.create(path, "reader") as project:
        sid = ensure_study(project, study)
        vol = study.reference.volume
        w = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, 3), (30, 20, 3), (20, 14, 3), (20, 26, 3))]
        project.add_lesion(sid, "hcc", recist=RecistRecord((w[0], w[1]), (w[2], w[3]), 3, study.reference.kind))
    out = tmp_path / "x.dcm"
    assert main(["export", folder, "--format", "nifti", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--format nifti writes .nii.gz or .nii files" in err and "x.nii.gz" in err and not out.exists()
    assert main(["export", folder, "--format", "json", "--out", str(tmp_path / "x.dcm")]) == 2  # json too
    assert main(["export", folder, "--format", "json", "--out", str(tmp_path / "x.json")]) == 0
