"""DeepLesion CSV imports are checked and atomic: RECIST end points inside the image, a short axis no longer
than the long one and roughly perpendicular; the whole file in one transaction (an interruption changes
nothing); the column-wise reader agrees with the row reader; the CLI takes --take-over-lock."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from liverview.cli import EXIT_INTERRUPTED, EXIT_LOCKED, main
from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.io.export.deeplesion_csv import (
    DeepLesionGeometryError,
    DeepLesionScan,
    deeplesion_row_to_recist,
    read_deeplesion_csv,
    recist_pixel_problems,
    recist_to_deeplesion_row,
    write_deeplesion_csv,
)
from liverview.io.export.deeplesion_import import import_deeplesion_table, read_deeplesion_table
from liverview.io.study_loader import load_study
from liverview.measure.recist import RecistMeasurement
from liverview.store.project import Project, lock_path
from liverview.store.study_link import ensure_study

SIZE = 64


@pytest.fixture
def study() -> Study:
    volume = Volume(np.zeros((10, SIZE, SIZE), np.int16), (0.7, 0.7, 2.5), (-20.0, -20.0, 0.0))
    return Study([Phase(PhaseKind.PORTAL_VENOUS, volume, source="mem", series_uid="1.2.3")], study_uid="1.2.3.4")


def row_for(study: Study, ends_px, k: int = 3):
    """A DL_info row from pixel end points (x1 y1 x2 y2 x3 y3 x4 y4) on slice k."""
    volume = study.reference.volume
    xy = np.asarray(ends_px, float).reshape(4, 2)
    world = volume.index_to_world(np.column_stack([xy, np.full(4, float(k))]))
    m = RecistMeasurement((world[0], world[1]), (world[2], world[3]), k)
    return recist_to_deeplesion_row(m, volume, DeepLesionScan(1, 1, 1))


GOOD = (20, 30, 40, 30, 30, 25, 30, 35)  # long axis 20 px along x, short 10 px along y
BAD = {
    "outside": (20, 30, 4000, 30, 30, 25, 30, 35),
    "short_longer": (20, 30, 30, 30, 25, 10, 25, 50),
    "skewed": (20, 30, 40, 30, 22, 31, 38, 34),  # axes about 11 degrees apart
}


def test_geometry_checks_say_what_is_wrong():
    problems = recist_pixel_problems(np.array([GOOD, *BAD.values()]), SIZE, SIZE)
    assert problems[0] is None
    assert "outside" in problems[1] and "longer than the long axis" in problems[2] and "degrees apart" in problems[3]


def test_a_published_style_row_that_does_not_fit_is_refused_by_the_row_converter(study):
    row = row_for(study, GOOD)
    row.measurement_coordinates = BAD["short_longer"]
    with pytest.raises(DeepLesionGeometryError, match="longer than the long axis"):
        deeplesion_row_to_recist(row, study.reference.volume)


def write_csv(tmp_path, study, ends_list, broken_cell_line: int | None = None):
    rows = [row_for(study, ends) for ends in ends_list]
    path = tmp_path / "dl.csv"
    write_deeplesion_csv(rows, path)
    if broken_cell_line is not None:
        lines = path.read_text().splitlines(keepends=True)
        lines[broken_cell_line - 1] = lines[broken_cell_line - 1].replace("0.7, 0.7", "0.7, x", 1)
        path.write_text("".join(lines))
    return path


def test_rows_that_are_no_measurement_on_the_image_are_not_imported(tmp_path, study):
    path = write_csv(tmp_path, study, [GOOD, BAD["outside"], GOOD, BAD["short_longer"], BAD["skewed"]],
                     broken_cell_line=4)
    with Project.create(tmp_path / "p.lvproj", "reader") as project:
        sid = ensure_study(project, study)
        result = import_deeplesion_table(project, sid, study, path)
        assert len(result.added) == 1
        assert [line.split(":")[0] for line in result.problems] == ["line 3", "line 4", "line 5", "line 6"]
        assert "outside" in result.problems[0] and "Spacing_mm_px_" in result.problems[1]
        lesion = project.list_lesions()[0]
        assert lesion.recist.long_mm == pytest.approx(20 * 0.7) and lesion.recist.short_mm == pytest.approx(7.0)
        assert "line 2" in lesion.notes
        assert [e.action for e in project.audit_log(limit=1)] == ["import_lesions"]


def test_the_column_reader_agrees_with_the_row_reader(tmp_path, study):
    path = write_csv(tmp_path, study, [GOOD, BAD["outside"], GOOD, GOOD], broken_cell_line=4)
    text = path.read_text().replace("\n", "\n\n", 1) + 'not,enough,cells\n"unclosed, quote\n'
    path.write_text(text)
    rows, errors = read_deeplesion_csv(path)
    table, table_errors = read_deeplesion_table(path)
    assert [str(e) for e in table_errors] == [str(e) for e in errors]
    assert table.line.tolist() == [r.line for r in rows]
    np.testing.assert_allclose(table.coords, [r.measurement_coordinates for r in rows])
    assert table.file_name == [r.file_name for r in rows]


def test_an_interrupted_import_leaves_the_project_as_it_was(tmp_path, study):
    path = write_csv(tmp_path, study, [GOOD] * 5)
    with Project.create(tmp_path / "p.lvproj", "reader") as project:
        sid = ensure_study(project, study)
        audit = len(project.audit_log())

        def interrupt(stage, done, total):
            if stage == "writing":
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            import_deeplesion_table(project, sid, study, path, progress=interrupt)
        assert project.list_lesions() == [] and len(project.audit_log()) == audit
        assert len(import_deeplesion_table(project, sid, study, path).added) == 5


# --- the CLI ------------------------------------------------------------------------------------------

@pytest.fixture
def dicom_study(tmp_path, ct_series):
    folder = str(ct_series.paths[0].parent)
    return folder, load_study([folder]).study


def test_cli_import_is_interrupted_cleanly(tmp_path, dicom_study, capsys, monkeypatch):
    folder, study = dicom_study
    path = write_csv(tmp_path, study, [(10, 20, 30, 20, 20, 15, 20, 25)] * 3)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("liverview.commands.import_csv.import_deeplesion_table", interrupt)
    project = tmp_path / "p.lvproj"
    assert main(["import-csv", folder, "--csv", str(path), "--project", str(project)]) == EXIT_INTERRUPTED
    assert "nothing was imported" in capsys.readouterr().err


def test_cli_lock_from_another_computer_and_take_over(tmp_path, dicom_study, capsys):
    folder, study = dicom_study
    path = write_csv(tmp_path, study, [(10, 20, 30, 20, 20, 15, 20, 25)])
    project = tmp_path / "p.lvproj"
    Project.create(project, "first").close()
    note = {"user": "dan", "hostname": "ward-3-pc", "pid": 4242, "since": "2024-01-01T00:00:00"}
    assert socket.gethostname() != "ward-3-pc"
    lock_path(project).write_text(json.dumps(note))
    assert main(["import-csv", folder, "--csv", str(path), "--project", str(project)]) == EXIT_LOCKED
    err = capsys.readouterr().err
    assert "dan on ward-3-pc" in err and "2024-01-01T00:00:00" in err and "--take-over-lock" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["import-csv", folder, "--csv", str(path), "--project", str(project), "--take-over-lock"]) == 0
    with Project.open(project, "x", read_only=True) as p:
        assert len(p.list_lesions()) == 1
