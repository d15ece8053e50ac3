"""RECIST in the viewer: draw with the mouse, drag an end point, undo, redo — saved as it happens."""

import sqlite3

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from liverview.core.slicing import Orientation
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.store.study_link import ensure_study
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
    w.measure_action.setChecked(True)
    QtWidgets.QApplication.processEvents()
    yield w
    w.close()


def drag(qtbot, widget, start: QtCore.QPoint, end: QtCore.QPoint, steps: int = 8) -> None:
    qtbot.mousePress(widget, QtCore.Qt.MouseButton.LeftButton, pos=start)
    for t in np.linspace(0, 1, steps + 1)[1:]:
        qtbot.mouseMove(widget, start + (end - start) * float(t))
    qtbot.mouseRelease(widget, QtCore.Qt.MouseButton.LeftButton, pos=end)


def world_at(pane, pos: QtCore.QPoint) -> np.ndarray:
    uv = pane.viewbox.mapSceneToView(pane.view.mapToScene(pos))
    return pane.world_at_scene(uv.x(), uv.y())


def screen_of(pane, world) -> QtCore.QPoint:
    u, v = pane.geometry.scene_of_world(np.asarray(world))
    scene = pane.viewbox.mapViewToScene(QtCore.QPointF(u, v))
    return pane.view.mapFromScene(scene)


def drawn_points(window, pane) -> np.ndarray:
    marks = window.session.tool._marks[pane.pane_id]
    xs, ys = [], []
    for item in (marks.lines, marks.selected_lines):
        x, y = item.getData()
        if x is not None:
            xs.extend(x)
            ys.extend(y)
    return np.column_stack([xs, ys]) if xs else np.zeros((0, 2))


def test_draw_drag_undo_redo_with_the_mouse(window, qtbot, tmp_path):
    pane = window.grid.panes[0]
    vp = pane.view.viewport()
    a, b = QtCore.QPoint(vp.width() // 2 - 120, vp.height() // 2), QtCore.QPoint(vp.width() // 2 + 60, vp.height() // 2 + 80)
    drag(qtbot, vp, a, b)
    lesions = window.session.project.list_lesions(window.session.study_id)
    assert len(lesions) == 1
    r = lesions[0].recist
    expected = np.linalg.norm(world_at(pane, b) - world_at(pane, a))
    assert r.long_mm == pytest.approx(expected, rel=0.02)  # lengths in mm, not pixels
    d_long = np.subtract(r.long_axis[1], r.long_axis[0])
    d_short = np.subtract(r.short_axis[1], r.short_axis[0])
    assert abs(d_long @ d_short) < 1e-6
    assert window.lesion_panel.table.rowCount() == 1
    assert window.lesion_panel.table.item(0, 3).text() == f"{r.long_mm:.1f}"

    # every synchronized pane draws the mark at the same physical place
    ends_uv = np.array([pane.geometry.scene_of_world(np.asarray(p)) for p in r.long_axis])
    for other in window.grid.panes:
        pts = drawn_points(window, other)
        assert len(pts) == 4, other.title
        assert np.allclose(pts[:2], ends_uv, atol=1e-6)

    # drag the long axis' end point to a new place
    grab = screen_of(pane, r.long_axis[1])
    target = grab + QtCore.QPoint(40, -70)
    drag(qtbot, vp, grab, target)
    moved = window.session.project.get_lesion(lesions[0].id).recist
    assert np.allclose(moved.long_axis[0], r.long_axis[0])
    assert np.linalg.norm(np.subtract(moved.long_axis[1], world_at(pane, target))) < 1.5 * pane.mm_per_screen_pixel()
    d_long = np.subtract(moved.long_axis[1], moved.long_axis[0])
    d_short = np.subtract(moved.short_axis[1], moved.short_axis[0])
    assert abs(d_long @ d_short) / (np.linalg.norm(d_long) * np.linalg.norm(d_short)) < 1e-9

    grab_png = tmp_path / "recist.png"
    assert window.grab().save(str(grab_png))

    qtbot.keyClick(window, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.session.project.get_lesion(lesions[0].id).recist == r
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Z,
                   QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert window.session.project.get_lesion(lesions[0].id).recist == moved
    assert window.lesion_panel.table.item(0, 3).text() == f"{moved.long_mm:.1f}"

    # everything is in the project file already, for another reader
    window.close()
    with Project.open(tmp_path / "edits.lvproj", "someone-else", read_only=True) as reopened:
        (saved,) = reopened.list_lesions()
        assert saved.recist == moved and saved.created_by == "dr-test"


def test_lesion_list_row_brings_every_pane_to_the_lesion_and_sets_class(window, qtbot):
    pane = window.grid.panes[0]
    vp = pane.view.viewport()
    drag(qtbot, vp, QtCore.QPoint(200, 200), QtCore.QPoint(260, 230))
    (lesion,) = window.session.project.list_lesions(window.session.study_id)
    pane.step_slices(5)
    assert pane.shown_slice != lesion.recist.key_slice
    window.lesion_panel.table.clearSelection()
    panel = window.lesion_panel  # nothing selected: no class shown (not the first class), nothing to delete
    assert panel.class_combo.currentText() == "" and not panel.class_combo.isEnabled()
    assert not panel.delete_button.isEnabled()
    window.lesion_panel.table.selectRow(0)
    assert panel.class_combo.currentText() == lesion.lesion_class == "unknown" and panel.delete_button.isEnabled()
    middle = np.mean(np.asarray(lesion.recist.long_axis), axis=0)
    for p in window.grid.panes:
        assert np.allclose(p.pane_view.focus, middle)
    assert pane.shown_slice == lesion.recist.key_slice
    window.lesion_panel.class_combo.setCurrentText("hcc")
    window.lesion_panel.class_combo.activated.emit(window.lesion_panel.class_combo.currentIndex())
    assert window.session.project.get_lesion(lesion.id).lesion_class == "hcc"
    window.delete_action.trigger()
    assert window.session.project.list_lesions(window.session.study_id) == []
    window.undo()
    assert len(window.session.project.list_lesions(window.session.study_id)) == 1


def test_lesion_list_row_centres_a_zoomed_in_view_on_the_lesion(window, qtbot):
    pane = window.grid.panes[0]
    drag(qtbot, pane.view.viewport(), QtCore.QPoint(200, 200), QtCore.QPoint(260, 230))
    (lesion,) = window.session.project.list_lesions(window.session.study_id)
    middle = np.mean(np.asarray(lesion.recist.long_axis), axis=0)
    window.lesion_panel.table.clearSelection()
    window.state.set_zoom(pane.pane_id, pane.pane_view.zoom * 4)  # the reader zooms in far from the lesion
    u, v = pane.geometry.scene_of_world(middle)
    window.state.set_center(pane.pane_id, (u + 150.0, v + 100.0))
    window.grid.panes[1].set_orientation(Orientation.CORONAL)  # and looks at it from the front in another pane
    QtWidgets.QApplication.processEvents()
    window.lesion_panel.table.selectRow(0)
    QtWidgets.QApplication.processEvents()
    for p in window.grid.panes:
        assert np.allclose(p.pane_view.focus, middle)
        assert np.allclose(p.pane_view.center_uv, p.geometry.scene_of_world(middle)), p.title
        (x0, x1), (y0, y1) = p.viewbox.viewRange()
        u, v = p.geometry.scene_of_world(middle)
        assert x0 < u < x1 and y0 < v < y1, p.title  # on screen


def test_without_measure_mode_left_drag_is_window_level(window, qtbot):
    window.measure_action.setChecked(False)
    pane = window.grid.panes[0]
    drag(qtbot, pane.view.viewport(), QtCore.QPoint(200, 200), QtCore.QPoint(260, 230))
    assert window.session.project.list_lesions(window.session.study_id) == []
    assert pane.pane_view.window_width != 400


def test_dragging_an_end_point_in_another_phase_keeps_the_lesion_phase(window, qtbot):
    """A mark measured on the non-contrast phase, adjusted in the arterial pane (another grid here), stays a
    non-contrast measurement on its own key slice: the phase is where it was measured, not where it was
    last touched."""
    first, other = window.grid.panes[0], window.grid.panes[1]
    vp = first.view.viewport()
    drag(qtbot, vp, QtCore.QPoint(vp.width() // 2 - 100, vp.height() // 2),
         QtCore.QPoint(vp.width() // 2 + 40, vp.height() // 2 + 50))
    before = window.session.project.list_lesions(window.session.study_id)[0].recist
    assert before.phase == "non-contrast" and other.phase_name == "arterial"
    end = screen_of(other, before.long_axis[1])
    drag(qtbot, other.view.viewport(), end, end + QtCore.QPoint(40, 16), steps=4)
    after = window.session.project.list_lesions(window.session.study_id)[0].recist
    assert after.long_axis != before.long_axis  # the drag was saved
    assert after.phase == "non-contrast" and after.key_slice == before.key_slice
    normal = first.plane_normal()
    plane = np.asarray(before.long_axis[0]) @ normal
    assert all(abs(np.asarray(p) @ normal - plane) < 1e-6 for p in after.long_axis)  # on its own key plane


def test_the_measurement_label_never_covers_the_mark(window, qtbot):
    pane = window.grid.panes[0]
    vp = pane.view.viewport()
    drag(qtbot, vp, QtCore.QPoint(vp.width() // 2 - 90, vp.height() // 2 + 20),
         QtCore.QPoint(vp.width() // 2 + 50, vp.height() // 2 - 40))
    r = window.session.project.list_lesions(window.session.study_id)[0].recist
    marks = window.session.tool._marks[pane.pane_id]
    label = marks.labels[0]
    assert label.isVisible()
    points = [pane.viewbox.mapViewToScene(QtCore.QPointF(*pane.geometry.scene_of_world(np.asarray(p))))
              for p in list(r.long_axis) + list(r.short_axis)]
    xs, ys = [p.x() for p in points], [p.y() for p in points]
    mark_box = QtCore.QRectF(QtCore.QPointF(min(xs) - 2, min(ys) - 2), QtCore.QPointF(max(xs) + 2, max(ys) + 2))
    assert not label.sceneBoundingRect().intersects(mark_box)  # neither the lesion nor an end point


def test_panes_repaint_whole_so_drags_leave_no_stripes(window):
    """A drag moves the mark, its handles and its label; a partial repaint left dark stripes behind
    until the slice changed, so the panes repaint their whole viewport."""
    for pane in window.grid.panes:
        assert pane.view.viewportUpdateMode() == QtWidgets.QGraphicsView.ViewportUpdateMode.FullViewportUpdate


def test_a_mark_that_cannot_be_saved_is_reported_and_the_earlier_ones_stay(window, qtbot):
    """The file locked by another program (as a full disk or an I/O error would): the window says the edit was
    not saved, nothing escapes the mouse handler (pytest-qt fails the test on that), the earlier mark stays."""
    pane = window.grid.panes[0]
    vp = pane.view.viewport()
    drag(qtbot, vp, QtCore.QPoint(200, 200), QtCore.QPoint(260, 230))
    project = window.session.project
    before = project.list_lesions(window.session.study_id)
    other = sqlite3.connect(project.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    project._conn.execute("PRAGMA busy_timeout = 50")  # give up at once, not after the usual 5 s
    try:
        drag(qtbot, vp, QtCore.QPoint(vp.width() // 2 - 100, vp.height() // 2),
             QtCore.QPoint(vp.width() // 2 + 40, vp.height() // 2 + 50))
        assert window.messages[-1].startswith("Edit not saved: could not save ")
        assert "database is locked" in window.messages[-1] and "nothing of this edit was saved" in window.messages[-1]
        window.undo()
        assert window.messages[-1].startswith("Could not undo: could not save ")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert project.list_lesions(window.session.study_id) == before
    assert window.lesion_panel.table.rowCount() == 1 and window.session.editor.preview is None
    assert len(drawn_points(window, pane)) == 4  # the saved mark only: the refused one is not drawn
    drag(qtbot, vp, QtCore.QPoint(vp.width() // 2 - 100, vp.height() // 2),
         QtCore.QPoint(vp.width() // 2 + 40, vp.height() // 2 + 50))
    assert len(project.list_lesions(window.session.study_id)) == 2  # the lock gone, editing goes on


def test_a_read_only_project_offers_no_edits_and_refuses_any_with_a_message(qtbot, tmp_path):
    """Another LiverView holds the project: it opens read-only, the window says so and why, no edit control is
    enabled, and an edit that still gets through is refused with a message, the panel showing the stored class."""
    path, study = tmp_path / "edits.lvproj", multi_grid_study()
    with Project.create(path, "other-reader") as other:  # another session editing the project: it holds the lock
        v = study.reference.volume
        ends = tuple(tuple(float(x) for x in v.index_to_world(ijk)) for ijk in ((10, 10, 5), (30, 10, 5)))
        lesion = other.add_lesion(ensure_study(other, study), "cyst",
                                  recist=RecistRecord(ends, None, 5, study.reference.kind))
        win = MainWindow(register_mode=None, project_path=path, user="dr-test")
        qtbot.addWidget(win)
        win.show()
        win.set_study(study)
        assert win.session.project.read_only
        notice = win.messages[-1]
        assert "open read-only because other-reader" in notice and "viewed, not changed" in notice
        assert not any("saved as you make them" in m for m in win.messages)
        for action in (win.measure_action, win.undo_action, win.redo_action, win.delete_action):
            assert not action.isEnabled(), action.text()
        panel = win.lesion_panel
        panel.table.selectRow(0)
        assert panel.class_combo.currentText() == "cyst"
        assert not panel.class_combo.isEnabled() and not panel.delete_button.isEnabled()
        assert "other-reader" in panel.class_combo.toolTip()
        panel.class_combo.setCurrentText("hcc")  # an edit that still gets through: told, and shown as stored
        panel.class_combo.activated.emit(panel.class_combo.currentIndex())
        assert win.messages[-1].startswith("Edit not saved: ") and "read-only" in win.messages[-1]
        assert panel.class_combo.currentText() == "cyst" == other.get_lesion(lesion.id).lesion_class
        panel._delete_clicked()
        win.delete_selected()
        assert win.messages[-1].startswith("Could not delete the lesion: ") and "read-only" in win.messages[-1]
        assert not other.get_lesion(lesion.id).deleted and panel.table.rowCount() == 1
        win.measure_action.setChecked(True)  # as review's Edit does from code: still no drawing
        pane = win.grid.panes[0]
        drag(qtbot, pane.view.viewport(), QtCore.QPoint(200, 200), QtCore.QPoint(260, 230))
        assert len(other.list_lesions()) == 1 and pane.tool is None
        win.close()
