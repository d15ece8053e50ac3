"""View > DICOM tags shows the tags of the file behind the active pane's slice, filterable, and says so
when a study has no DICOM files."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.io.study_loader import load_study
from liverview.ui.main_window import MainWindow
from tests.io.test_dicom_tags import reversed_names_series

pytestmark = pytest.mark.gui


def loader(paths):
    loaded = load_study(paths)
    return loaded.study, loaded.problems, loaded.notes


@pytest.fixture
def window(qtbot):
    w = MainWindow(study_loader=loader, register_mode=None)
    qtbot.addWidget(w)
    w.resize(1100, 750)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def show_tags(window, qtbot):
    action = next(a for a in window.view_menu.actions() if a.text() == "DICOM tags")
    action.trigger()
    qtbot.waitUntil(lambda: window.tags_dock.dock.isVisible())
    return window.tags_dock.panel


def value_of(panel, keyword: str) -> str:
    return next(r.value for r in panel.rows if r.keyword == keyword)


def test_tags_follow_the_slice_on_screen(window, qtbot, tmp_path):
    assert window.open_paths([str(reversed_names_series(tmp_path))])
    panel = show_tags(window, qtbot)
    pane = window.grid.panes[0]
    qtbot.waitUntil(lambda: bool(panel.rows))
    assert value_of(panel, "InstanceNumber") == str(pane.shown_slice + 1)
    assert "PixelData" not in {r.keyword for r in panel.rows}
    before = pane.shown_slice
    pane.view.setFocus()
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_Up)
    assert pane.shown_slice == before + 1
    qtbot.waitUntil(lambda: value_of(panel, "InstanceNumber") == str(before + 2))
    assert f"slice {before + 2} of 6" in panel.source_label.text()

    panel.filter.setText("patientid")
    assert [r.keyword for r in panel.visible_rows()] == ["PatientID"]
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_Down)  # the filter stays while the file changes
    qtbot.waitUntil(lambda: value_of(panel, "InstanceNumber") == str(before + 1))
    assert [r.keyword for r in panel.visible_rows()] == ["PatientID"]


def test_a_study_not_from_dicom_gets_a_note(window, qtbot):
    vol = Volume(np.full((4, 20, 20), 40, np.int16), (1.0, 1.0, 2.0))
    window.set_study(Study([Phase(PhaseKind.PORTAL_VENOUS, vol, source="pv.nii.gz", description="pv")]))
    panel = show_tags(window, qtbot)
    qtbot.waitUntil(lambda: "not loaded from DICOM" in panel.source_label.text())
    assert panel.rows == [] and "pv.nii.gz" in panel.source_label.text()


def test_hidden_dock_reads_nothing(window, qtbot, tmp_path, monkeypatch):
    calls = []
    import liverview.ui.panels.dicom_tags_dock as dock_module

    monkeypatch.setattr(dock_module, "read_tags", lambda path: calls.append(path) or [])
    assert window.open_paths([str(reversed_names_series(tmp_path))])
    window.grid.panes[0].step_slices(1)
    QtWidgets.QApplication.processEvents()
    qtbot.wait(60)
    assert calls == []
