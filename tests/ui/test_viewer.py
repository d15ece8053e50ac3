"""The multi-phase viewer, driven as a radiologist would: wheel, keys, clicks and drags."""

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.core.slicing import Orientation
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


def shown_plane_mm(pane) -> float:
    """Position along the viewing normal of the cut a pane actually shows."""
    g = pane.geometry
    centre = g.world(g.pixel_to_index(0, 0, pane.shown_slice))
    return float(centre @ g.n)


def wheel(pane, notches: int) -> None:
    vp = pane.view.viewport()
    pos = QtCore.QPointF(vp.width() / 2, vp.height() / 2)
    ev = QtGui.QWheelEvent(pos, vp.mapToGlobal(pos), QtCore.QPoint(), QtCore.QPoint(0, 120 * notches),
                           QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
                           QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(vp, ev)


def test_wheel_in_one_pane_brings_every_pane_to_the_same_position_in_mm(window):
    panes = window.grid.panes
    before = panes[0].pane_view.focus.copy()
    wheel(panes[0], 3)
    focus = panes[0].pane_view.focus
    assert focus[2] == pytest.approx(before[2] + 3 * 2.5, abs=1.3)  # three slices of 2.5 mm
    for pane in panes:
        assert np.allclose(pane.pane_view.focus, focus)
        # each phase shows its own cut nearest to the focus: within half its slice spacing
        half = pane.geometry.slice_spacing_mm() / 2
        assert abs(shown_plane_mm(pane) - focus[2]) <= half + 1e-6
    # the PV phase has 2.0 mm slices on another origin: a slice *index* link would be wrong here
    assert panes[2].shown_slice != panes[0].shown_slice


def test_keys_move_slices_and_home_end_reach_the_ends(window, qtbot):
    pane = window.grid.panes[1]
    pane.view.setFocus()
    start = pane.shown_slice
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_Up)
    assert pane.shown_slice == start + 1
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_PageDown)
    assert pane.shown_slice == start + 1 - 5
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_End)
    assert pane.shown_slice == pane.geometry.slice_count - 1
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_Home)
    assert pane.shown_slice == 0
    assert window.grid.panes[0].shown_slice == 0  # same grid, linked


def test_left_drag_changes_window_level_in_every_linked_pane(window, qtbot):
    pane = window.grid.panes[3]
    vp = pane.view.viewport()
    start = QtCore.QPoint(vp.width() // 2, vp.height() // 2)
    qtbot.mousePress(vp, QtCore.Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(vp, start + QtCore.QPoint(10 * step, 6 * step))
    qtbot.mouseRelease(vp, QtCore.Qt.MouseButton.LeftButton, pos=start + QtCore.QPoint(50, 30))
    widths = {p.pane_view.window_width for p in window.grid.panes}
    centers = {p.pane_view.window_center for p in window.grid.panes}
    assert len(widths) == 1 and len(centers) == 1
    assert widths.pop() > 400 and centers.pop() > 40


def test_unlinked_window_level_stays_per_pane(window):
    window.link_boxes["window"].setChecked(False)
    window.grid.active_pane_id = window.grid.panes[0].pane_id
    window._apply_preset(2)  # bone
    assert window.grid.panes[0].pane_view.window_width == 1800
    assert window.grid.panes[1].pane_view.window_width == 400


def test_unlinked_slice_leaves_other_panes_where_they_are(window):
    window.link_boxes["slice"].setChecked(False)
    panes = window.grid.panes
    others = [p.shown_slice for p in panes[1:]]
    wheel(panes[0], 2)
    assert [p.shown_slice for p in panes[1:]] == others


def test_click_sets_the_crosshair_at_the_physical_point_under_the_mouse(window, qtbot):
    pane = window.grid.panes[0]
    vp = pane.view.viewport()
    click = QtCore.QPoint(vp.width() // 3, vp.height() // 3)
    qtbot.mouseClick(vp, QtCore.Qt.MouseButton.LeftButton, pos=click)
    scene = pane.view.mapToScene(click)
    uv = pane.viewbox.mapSceneToView(scene)
    focus = pane.pane_view.focus
    assert (focus[0], focus[1]) == pytest.approx((uv.x(), uv.y()), abs=1e-6)
    for other in window.grid.panes:
        assert np.allclose(other.pane_view.focus, focus)
        u, v = other.geometry.scene_of_world(focus)
        assert other.vline.value() == pytest.approx(u) and other.hline.value() == pytest.approx(v)


def test_hu_under_the_cursor_is_reported_by_every_pane_at_the_same_point(window, qtbot):
    pane = window.grid.panes[0]
    # put the mouse over the bright ball at (-20, 0, z=focus) mm
    focus = pane.pane_view.focus.copy()
    focus[:2] = (-20.0, 0.0)
    window.state.set_focus(pane.pane_id, focus)
    u, v = pane.geometry.scene_of_world(focus)
    pos = pane.viewbox.mapViewToScene(QtCore.QPointF(u, v))
    pane._on_mouse_moved(pos)
    cursor = window.state.cursor
    assert cursor is not None and np.allclose(cursor[:2], (-20, 0), atol=1.5)
    for n, p in enumerate(window.grid.panes):
        expected = p.volume.value_at_world(cursor)
        assert expected == 200 + 30 * n  # the ball, seen in every phase
        assert f"{expected:.0f} HU" in p.corner_tr.text()


def test_zoom_and_pan_are_linked_and_reset_fits_the_volume(window, qtbot):
    panes = window.grid.panes
    window.state.set_zoom(panes[1].pane_id, 5.0)
    window.state.set_center(panes[1].pane_id, (12.0, -7.0))
    for p in panes:
        assert p.pane_view.zoom == 5.0 and p.pane_view.center_uv == (12.0, -7.0)
        (x0, x1), (y0, y1) = p.viewbox.viewRange()
        assert (x0 + x1) / 2 == pytest.approx(12.0, abs=0.5)
        assert (x1 - x0) == pytest.approx(p.viewbox.width() / 5.0, rel=0.02)
    window.reset_action.trigger()
    assert panes[0].pane_view.zoom < 5.0


def test_orientation_per_pane_shows_a_coronal_cut_through_the_same_point(window):
    pane = window.grid.panes[2]
    window.grid.headers[2].orientation_combo.setCurrentIndex(1)
    assert pane.pane_view.orientation is Orientation.CORONAL
    focus = pane.pane_view.focus
    g = pane.geometry
    assert abs(shown_plane_mm(pane) - focus @ g.n) <= g.slice_spacing_mm() / 2 + 1e-6


def test_an_orientation_set_by_code_shows_in_the_pane_header(window):
    pane, combo = window.grid.panes[1], window.grid.headers[1].orientation_combo
    pane.set_orientation(Orientation.SAGITTAL)
    assert Orientation(combo.currentData()) is Orientation.SAGITTAL
    window.state.set_orientation(pane.pane_id, Orientation.AXIAL, origin="programmatic")
    assert Orientation(combo.currentData()) is Orientation.AXIAL and pane.pane_view.orientation is Orientation.AXIAL
    assert Orientation(window.grid.headers[0].orientation_combo.currentData()) is Orientation.AXIAL  # the others untouched


def test_a_phase_kind_can_be_corrected_by_the_user(window):
    header = window.grid.headers[0]
    header.phase_combo.setCurrentIndex(header.phase_combo.findText("delayed"))
    assert window.study.phases[0].kind.value == "delayed"
    assert window.grid.panes[0].title.startswith("delayed")


def test_a_bad_path_gives_a_message_and_keeps_the_open_study(window, tmp_path):
    study = window.study

    def failing_loader(paths):
        raise ValueError(f"no DICOM or volume files in {paths[0]}")

    window.study_loader = failing_loader
    assert window.open_paths([str(tmp_path)]) is False
    assert window.study is study and len(window.grid.panes) == 4
    assert "no DICOM or volume files" in window.messages[-1]


def test_screenshot_is_not_blank_and_every_pane_has_content(window, tmp_path):
    out = tmp_path / "main_window.png"
    assert window.grab().save(str(out))
    image = QtGui.QImage(str(out)).convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    arr = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    assert arr.std() > 20
    for pane in window.grid.panes:
        grab = pane.view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
        px = np.frombuffer(grab.constBits(), np.uint8).reshape(grab.height(), grab.bytesPerLine())
        assert (px > 100).mean() > 0.05  # the body is drawn, not a black pane


def test_one_slice_and_nan_phases_are_shown_without_crashing(qtbot):
    from liverview.core.study import Phase, PhaseKind, Study
    from liverview.core.volume import Volume

    flat = Volume(np.full((1, 64, 64), 50, np.int16), (1.0, 1.0, 5.0), (-32.0, -32.0, 0.0))
    nan_arr = np.full((10, 64, 64), 30.0, np.float32)
    nan_arr[:, :10, :10] = np.nan
    holes = Volume(nan_arr, (1.0, 1.0, 1.0), (-32.0, -32.0, -5.0))
    w = MainWindow(register_mode=None)
    qtbot.addWidget(w)
    w.show()
    w.set_study(Study([Phase(PhaseKind.ARTERIAL, flat), Phase(PhaseKind.PORTAL_VENOUS, holes)]))
    flat_pane, nan_pane = w.grid.panes
    assert flat_pane.shown_slice == 0 and nan_pane.shown_slice is not None
    wheel(flat_pane, 1)  # nowhere to go: stays on its only slice
    assert flat_pane.shown_slice == 0
    focus = nan_pane.pane_view.focus.copy()
    focus[2] = 2.0  # within the single 5 mm slice centred at z = 0
    w.state.set_focus(nan_pane.pane_id, focus)
    assert flat_pane.shown_slice == 0 and nan_pane.shown_slice == 7
    focus[2] = 4.0  # beyond it: that pane says so instead of showing a wrong slice
    w.state.set_focus(nan_pane.pane_id, focus)
    assert flat_pane.shown_slice is None and "outside" in flat_pane.corner_bl.text()
    assert nan_pane.shown_slice == 9
    w.close()
