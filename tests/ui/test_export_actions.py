"""File > Export annotations / Import DeepLesion CSV in the main window, on a study opened from DICOM."""

from __future__ import annotations

import pytest

from liverview.io.export.json_export import read_lesions_json
from liverview.io.study_loader import load_study
from liverview.store.records import RecistRecord
from liverview.ui.main_window import MainWindow
from tests.io.export.conftest import write_ct_series


@pytest.fixture
def window(qtbot, tmp_path):
    def loader(paths):
        loaded = load_study(paths)
        return loaded.study, loaded.problems

    win = MainWindow(study_loader=loader, register_mode=None, project_path=tmp_path / "p.lvproj", user="reader")
    qtbot.addWidget(win)
    win.show()
    folder = write_ct_series(tmp_path / "ct").paths[0].parent
    assert win.open_paths([str(folder)])
    yield win
    win.close()


def test_menu_lists_every_format_and_export_writes_the_lesions(window, tmp_path):
    titles = [a.text() for a in window.export_menu.actions()]
    assert len(titles) == 5 and any("DICOM SR" in t for t in titles)
    vol = window.study.reference.volume
    w = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, 3), (30, 20, 3))]
    window.session.project.add_lesion(window.session.study_id, "hcc",
                                      recist=RecistRecord((w[0], w[1]), None, 3, window.study.reference.kind))
    result = window.export_annotations("json", tmp_path / "out.json")
    assert result is not None and result.written == 1
    assert read_lesions_json(tmp_path / "out.json").lesions[0].lesion_class == "hcc"
    assert any("Exported 1 lesion" in m for m in window.messages)
    # A format that cannot be written is explained, not raised: no short axis for DeepLesion rows.
    assert window.export_annotations("csv", tmp_path / "out.csv") is None
    assert "short axis" in window.messages[-1]


def test_import_csv_adds_rows_and_lists_bad_lines(window, tmp_path):
    vol = window.study.reference.volume
    w = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, 3), (30, 20, 3), (20, 14, 3), (20, 26, 3))]
    project = window.session.project
    project.add_lesion(window.session.study_id, "cyst", recist=RecistRecord((w[0], w[1]), (w[2], w[3]), 3,
                                                                           window.study.reference.kind))
    assert window.export_annotations("csv", tmp_path / "dl.csv") is not None
    lines = (tmp_path / "dl.csv").read_text().splitlines()
    (tmp_path / "in.csv").write_text("\n".join([lines[0], lines[1], "not,a,row"]) + "\n")
    result = window.import_deeplesion_csv(tmp_path / "in.csv")
    assert result is not None and len(result.added) == 1
    assert "line 3" in window.messages[-1]
    assert window.lesion_panel.table.rowCount() == 2
