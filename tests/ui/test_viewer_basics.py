"""Viewer basics a reader relies on: Ctrl+wheel zooms about the cursor, the HU/mm readout follows the
wheel, the preset box says "Custom" after a window/level drag, overlay text stays readable."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.core.view_state import WINDOW_PRESETS
from liverview.ui.main_window import MainWindow
from tests.ui.study_fixtures import multi_grid_study

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    w = MainWindow(study_loader=None, register_mode=None)
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    qtbot.waitExposed(w)
    w.set_study(multi_grid_study())
    QtWidgets.QApplication.processEvents()
    yield w
    w.close()


def wheel_at(pane, pos: QtCore.QPointF, notches: int, ctrl: bool = False) -> None:
    vp = pane.view.viewport()
    mods = QtCore.Qt.KeyboardModifier.ControlModifier if ctrl else QtCore.Qt.KeyboardModifier.NoModifier
    ev = QtGui.QWheelEvent(pos, vp.mapToGlobal(pos), QtCore.QPoint(), QtCore.QPoint(0, 120 * notches),
                           QtCore.Qt.MouseButton.NoButton, mods, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(vp, ev)
    QtWidgets.QApplication.processEvents()


def world_under(pane, pos: QtCore.QPointF) -> np.ndarray:
    uv = pane.viewbox.mapSceneToView(pane.view.mapToScene(pos.toPoint()))
    return pane.world_at_scene(uv.x(), uv.y())


def test_ctrl_wheel_zooms_about_the_point_under_the_cursor(window):
    pane = window.grid.panes[0]
    vp = pane.view.viewport()
    pos = QtCore.QPointF(vp.width() * 0.25, vp.height() * 0.7)  # well off the centre
    before, zoom = world_under(pane, pos), pane.pane_view.zoom
    wheel_at(pane, pos, 3, ctrl=True)
    assert pane.pane_view.zoom > zoom * 1.4
    after = world_under(pane, pos)
    assert np.linalg.norm((after - before)[:2]) < 1.5 * pane.mm_per_screen_pixel()  # the point stayed put
    other = window.grid.panes[1]  # linked zoom and pan: the other panes show the same place
    assert other.pane_view.zoom == pane.pane_view.zoom
    assert other.pane_view.center_uv == pytest.approx(pane.pane_view.center_uv)


def test_the_readout_follows_the_wheel_under_a_still_mouse(window, qtbot):
    pane = window.grid.panes[0]
    vp = pane.view.viewport()
    pos = QtCore.QPoint(vp.width() // 2 + 20, vp.height() // 2 - 10)
    qtbot.mouseMove(vp, pos)
    QtWidgets.QApplication.processEvents()
    first = pane.corner_tr.text()
    assert "HU" in first
    wheel_at(pane, QtCore.QPointF(pos), 4)  # four slices on; the mouse has not moved
    here = world_under(pane, QtCore.QPointF(pos))
    assert window.state.cursor is not None and window.state.cursor == pytest.approx(here, abs=1e-6)
    value = pane.volume.value_at_world(here)
    text = pane.corner_tr.text()
    assert text != first and f"{value:.0f} HU" in text and f"{here[2]:.1f}) mm" in text


def test_the_preset_box_says_custom_after_a_window_drag_and_names_a_matching_preset(window, qtbot):
    combo = window.preset_combo
    pane = window.grid.panes[0]
    vp = pane.view.viewport()
    start = QtCore.QPoint(vp.width() // 2, vp.height() // 2)
    qtbot.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(vp, start + QtCore.QPoint(12 * step, 6 * step))
    qtbot.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, pos=start + QtCore.QPoint(60, 30))
    QtWidgets.QApplication.processEvents()
    assert (pane.pane_view.window_center, pane.pane_view.window_width) != (60.0, 160.0)
    assert combo.currentText() == "Custom"
    window._apply_preset(0)  # Liver
    assert combo.currentText().startswith(WINDOW_PRESETS[0].name)
    bone = WINDOW_PRESETS[2]
    window.state.set_window(pane.pane_id, bone.center, bone.width)  # the same values as a preset
    assert combo.currentText().startswith("Bone")


def test_corner_text_is_readable_over_bright_tissue(window):
    pane = window.grid.panes[0]
    window.state.set_window(pane.pane_id, -2000.0, 10.0)  # every voxel, air too, shows white
    window.state.set_zoom(pane.pane_id, pane.pane_view.zoom * 4)  # the image fills the pane to its corners
    QtWidgets.QApplication.processEvents()
    image = pane.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    grey = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    label = pane.corner_bl
    top_left = label.mapTo(pane, QtCore.QPoint(0, 0))
    box = grey[top_left.y():top_left.y() + label.height(), top_left.x():top_left.x() + label.width()]
    # the text is light: around it there must be a dark backing, whatever the image underneath
    assert np.median(grey) > 200  # the pane is white under the labels
    assert np.percentile(box, 25) < 110, np.percentile(box, 25)
