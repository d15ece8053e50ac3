"""Slice steps leave unchanged overlays alone, hide empty ones, and keep the image on the Grayscale8 path."""

import numpy as np
import pytest
from PySide6 import QtGui, QtWidgets

from liverview.store.records import RecistRecord
from liverview.ui.main_window import MainWindow
from tests.ui.study_fixtures import multi_grid_study

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(register_mode=None, project_path=tmp_path / "edits.lvproj", user="dr-test")
    qtbot.addWidget(w)
    w.resize(1300, 850)
    w.show()
    qtbot.waitExposed(w)
    w.set_study(multi_grid_study())
    QtWidgets.QApplication.processEvents()
    yield w
    w.close()


def add_mark_on_shown_slice(window, pane) -> np.ndarray:
    """A RECIST mark (long + short axis) on the slice pane 0 shows; returns its end points in scene uv."""
    g, s = pane.geometry, pane.shown_slice
    ends = [tuple(float(v) for v in g.world(g.pixel_to_index(c, r, s))) for c, r in
            ((30.0, 48.0), (60.0, 48.0), (45.0, 40.0), (45.0, 56.0))]
    window.session.project.add_lesion(window.session.study_id, "hcc", recist=RecistRecord(
        (ends[0], ends[1]), (ends[2], ends[3]), s, pane.phase_name or "unknown"))
    return np.array([g.scene_of_world(np.asarray(p)) for p in ends])


def test_marks_hidden_off_their_slice_and_back_on_it(window):
    pane = window.grid.panes[0]
    marks = window.session.tool._marks[pane.pane_id]
    uv = add_mark_on_shown_slice(window, pane)
    x, y = marks.lines.getData()
    assert np.allclose(np.column_stack([x, y]), uv) and marks.lines.isVisible() and marks.handles.isVisible()
    assert marks.labels[0].isVisible() and marks.labels[0].toPlainText().endswith(" mm")

    pane.step_slices(3)  # no mark there: the items are emptied and hidden (not painted)
    for item in (marks.lines, marks.selected_lines, marks.handles, marks.labels[0]):
        assert not item.isVisible()
    assert len(marks.lines.getData()[0]) == 0 and len(marks.handles.data) == 0

    pane.step_slices(-3)  # back on the mark's slice: drawn again, at the same place
    x, y = marks.lines.getData()
    assert np.allclose(np.column_stack([x, y]), uv) and marks.lines.isVisible()
    assert marks.handles.isVisible() and len(marks.handles.data) == 4 and marks.labels[0].isVisible()


def test_steps_without_marks_do_not_touch_overlay_items(window, monkeypatch):
    pane = window.grid.panes[0]
    window.review.overlay.redraw_all()
    items = [window.session.tool._marks[pane.pane_id].lines, window.session.tool._marks[pane.pane_id].handles,
             window.review.overlay._items[pane.pane_id].current, window.review.overlay._items[pane.pane_id].recist]
    calls = []
    for item in items:
        monkeypatch.setattr(item, "setData", lambda *a, _i=item, **k: calls.append(_i))
    for step in (1, 1, -1, 2, -3):
        pane.step_slices(step)
    assert calls == []
    assert not any(item.isVisible() for item in items)


def test_image_is_grayscale8_with_the_windowed_pixels(window):
    pane = window.grid.panes[0]
    pane.step_slices(2)
    pane.view.viewport().repaint()
    qimage = pane.image.qimage
    assert qimage.format() == QtGui.QImage.Format.Format_Grayscale8  # no colour table built per render
    shown = pane.image.image
    bits = np.frombuffer(qimage.constBits(), np.uint8, qimage.sizeInBytes()).reshape(qimage.height(), -1)
    assert np.array_equal(bits[:, :shown.shape[1]], shown)
    assert shown.dtype == np.uint8 and shown.max() > shown.min()


def test_corner_labels_follow_steps_and_resizes(window, qtbot):
    pane = window.grid.panes[0]
    pane.step_slices(1)
    assert pane.corner_bl.text().startswith(f"slice {pane.shown_slice + 1}/")
    window.resize(1000, 700)
    qtbot.waitUntil(lambda: pane.view.width() < 600, timeout=2000)
    QtWidgets.QApplication.processEvents()
    w, h = pane.view.width(), pane.view.height()
    assert pane.corner_br.geometry().right() == w - 5  # 4 px margin (right() is inclusive)
    assert pane.corner_bl.geometry().bottom() == h - 3
