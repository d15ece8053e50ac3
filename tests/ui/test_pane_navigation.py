"""Slice navigation a reader can trust: one wheel notch is one slice (or one zoom step) whatever the device
sends, and the wheel and keys move every pane the same way through the patient whatever the storage."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.ui.main_window import MainWindow
from tests.ui.study_fixtures import body_volume, multi_grid_study

pytestmark = pytest.mark.gui

_Key = QtCore.Qt.Key


def open_window(qtbot, study: Study) -> MainWindow:
    w = MainWindow(study_loader=None, register_mode=None)
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    qtbot.waitExposed(w)
    w.set_study(study)
    QtWidgets.QApplication.processEvents()
    return w


@pytest.fixture
def window(qtbot):
    w = open_window(qtbot, multi_grid_study())
    yield w
    w.close()


def head_first(vol: Volume) -> Volume:
    """The same voxels at the same places, stored as LiTS stores them: rows and slices reversed."""
    nk, nj, _ = vol.array.shape
    origin = vol.index_to_world(np.array([0, nj - 1, nk - 1]))
    return Volume(vol.array[::-1, ::-1, :].copy(), vol.spacing, tuple(origin), np.diag([1.0, -1.0, -1.0]))


@pytest.fixture
def mixed_storage(qtbot):
    """Two phases of one anatomy, the first stored in patient order, the second head-first."""
    vol = body_volume((24, 96, 96), (2.0, 2.0, 2.5), (-95.0, -95.0, -28.75), 0)
    study = Study([Phase(PhaseKind.ARTERIAL, vol), Phase(PhaseKind.PORTAL_VENOUS, head_first(vol))],
                  patient_id="TEST")
    w = open_window(qtbot, study)
    yield w
    w.close()


def wheel(pane, delta: int, ctrl: bool = False) -> None:
    vp = pane.view.viewport()
    pos = QtCore.QPointF(vp.width() / 2, vp.height() / 2)
    mods = QtCore.Qt.KeyboardModifier.ControlModifier if ctrl else QtCore.Qt.KeyboardModifier.NoModifier
    ev = QtGui.QWheelEvent(pos, vp.mapToGlobal(pos), QtCore.QPoint(), QtCore.QPoint(0, delta),
                           QtCore.Qt.MouseButton.NoButton, mods, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(vp, ev)
    QtWidgets.QApplication.processEvents()


def test_a_high_resolution_notch_moves_one_slice_and_zooms_one_step(window):
    pane = window.grid.panes[0]
    s0 = pane.shown_slice
    for _ in range(8):  # one notch of a high-resolution wheel / touchpad
        wheel(pane, 15)
    assert pane.shown_slice == s0 + 1
    for _ in range(4):  # half a notch: nothing yet
        wheel(pane, 15)
    assert pane.shown_slice == s0 + 1
    for _ in range(4):  # the other half: one more slice
        wheel(pane, 15)
    assert pane.shown_slice == s0 + 2
    for _ in range(4):  # half a notch forward, then a whole one back: the forward half is dropped
        wheel(pane, 15)
    for _ in range(8):
        wheel(pane, -15)
    assert pane.shown_slice == s0 + 1
    wheel(pane, 120)  # a plain mouse notch as before
    assert pane.shown_slice == s0 + 2
    zoom = pane.pane_view.zoom
    for _ in range(8):
        wheel(pane, 15, ctrl=True)
    assert pane.pane_view.zoom == pytest.approx(zoom * 1.15)
    wheel(pane, -120, ctrl=True)
    assert pane.pane_view.zoom == pytest.approx(zoom)


def z_after(window, pane, action) -> tuple[float, float]:
    """Focus z (mm) before and after ``action`` in ``pane``."""
    before = float(pane.pane_view.focus[2])
    action(pane)
    QtWidgets.QApplication.processEvents()
    return before, float(pane.pane_view.focus[2])


def key(qtbot, code):
    def press(pane) -> None:
        pane.view.setFocus()
        qtbot.keyClick(pane.view, code)
    return press


def test_wheel_and_keys_move_every_pane_the_same_way_through_the_patient(mixed_storage, qtbot):
    panes = mixed_storage.grid.panes[:2]
    assert [p.geometry.index_sign_along_n() for p in panes] == [1, -1]  # the two storages
    for pane in panes:
        for action, up in ((lambda p: wheel(p, 120), True), (lambda p: wheel(p, -120), False),
                           (key(qtbot, _Key.Key_Up), True), (key(qtbot, _Key.Key_Down), False),
                           (key(qtbot, _Key.Key_PageUp), True), (key(qtbot, _Key.Key_PageDown), False)):
            before, after = z_after(mixed_storage, pane, action)
            assert (after > before) == up and after != before, pane.title
    ends = {}
    for pane in panes:
        ends[pane.title] = [z_after(mixed_storage, pane, key(qtbot, code))[1] for code in (_Key.Key_Home, _Key.Key_End)]
    (first_a, last_a), (first_b, last_b) = ends.values()
    assert first_a == pytest.approx(first_b) and last_a == pytest.approx(last_b)
    assert first_a < last_a  # Home: the feet end, End: the head end, as for a volume stored in patient order


def test_the_slice_label_keeps_the_stored_slice_number(mixed_storage, qtbot):
    pane = mixed_storage.grid.panes[1]  # head-first: the feet end is its last stored slice
    key(qtbot, _Key.Key_Home)(pane)
    assert pane.shown_slice == pane.geometry.slice_count - 1
    assert f"slice {pane.geometry.slice_count}/{pane.geometry.slice_count}" in pane.corner_bl.text()
