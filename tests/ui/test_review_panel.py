"""The review dock in the real window: import, boxes in every pane, keys with a pane focused, edit, screenshot."""

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from liverview.review.box_section import box_section
from liverview.ui.main_window import MainWindow
from liverview.ui.review.thumbnails import proposal_centre
from tests.ui.review_fixtures import phantom, write_phantom_proposals

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(register_mode=None, project_path=tmp_path / "review.lvproj", user="dr-review")
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitExposed(w)
    # The keys are window shortcuts: they reach the window that is active, which need not be this one when
    # an earlier test's window is still being torn down.
    w.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is w, timeout=2000)
    w.set_study(phantom().to_study())
    QtWidgets.QApplication.processEvents()
    yield w
    w.close()


def drawn_boxes(window, pane):
    items = window.review.overlay._items[pane.pane_id]
    x, y = items.current.getData()
    return np.zeros((0, 2)) if x is None else np.column_stack([x, y])


def key(qtbot, widget, k):
    qtbot.keyClick(widget, k)
    QtWidgets.QApplication.processEvents()


def test_import_navigate_decide_with_keys(window, qtbot, tmp_path):
    path = write_phantom_proposals(tmp_path / "proposals.json", 12)
    assert window.review.import_file(path) == 12
    assert window.review.import_file(path) == 0  # the same file again adds nothing
    assert any("already in the project" in m for m in window.messages)
    review = window.review
    assert review.dock.isVisible()
    assert review.panel.table.rowCount() == 12
    scores = [float(review.panel.table.item(r, 1).text()) for r in range(12)]
    assert scores == sorted(scores, reverse=True)
    assert review.panel.progress_label.text().startswith("0 / 12 reviewed")

    p = review.queue.current
    ref = window.study.reference.volume
    centre = proposal_centre(p, ref)
    for pane in window.grid.panes:  # every pane is centred on the proposal's key slice
        assert np.allclose(pane.pane_view.focus, centre)
        assert np.allclose(pane.pane_view.center_uv, pane.geometry.scene_of_world(centre))
        pts = drawn_boxes(window, pane)
        finite = pts[np.isfinite(pts[:, 0])]
        assert len(finite) == 5, pane.title  # one closed rectangle
        plane_pt = centre
        poly = box_section(p.box.min_mm, p.box.max_mm, plane_pt, pane.plane_normal())
        expect = np.array([pane.geometry.scene_of_world(q) for q in poly])
        assert np.allclose(np.sort(finite[:4], axis=0), np.sort(expect, axis=0), atol=1e-6)

    # other orientations: the same box, cut by coronal and sagittal planes
    window.grid.panes[1].set_orientation(window.grid.panes[1].pane_view.orientation.__class__("coronal"))
    window.grid.panes[2].set_orientation(window.grid.panes[2].pane_view.orientation.__class__("sagittal"))
    QtWidgets.QApplication.processEvents()
    review.centre_on(p)
    for pane in window.grid.panes[1:3]:
        pts = drawn_boxes(window, pane)
        assert np.isfinite(pts[:, 0]).sum() == 5, pane.pane_view.orientation

    # keys work while a pane has the keyboard focus; arrows still step slices there
    pane = window.grid.panes[0]
    pane.view.setFocus()
    QtWidgets.QApplication.processEvents()
    first = review.queue.current.id
    key(qtbot, pane.view, QtCore.Qt.Key.Key_A)
    assert window.session.project.get_proposal(first).status == "accepted"
    second = review.queue.current.id
    assert second != first
    key(qtbot, pane.view, QtCore.Qt.Key.Key_R)
    assert window.session.project.get_proposal(second).status == "rejected"
    key(qtbot, pane.view, QtCore.Qt.Key.Key_P)
    assert review.queue.current.id == second
    key(qtbot, pane.view, QtCore.Qt.Key.Key_U)
    assert window.session.project.get_proposal(second).status == "pending"
    assert review.queue.current.id == second
    z = pane.pane_view.focus[2]
    key(qtbot, pane.view, QtCore.Qt.Key.Key_Up)
    assert pane.pane_view.focus[2] != z, "arrows stay with the panes"
    key(qtbot, pane.view, QtCore.Qt.Key.Key_N)
    assert review.queue.index == 2
    assert review.panel.progress_label.text().startswith("1 / 12 reviewed")
    decisions = window.session.project.decisions(first)
    assert [(d.decision, d.reviewer, d.model) for d in decisions] == [("accepted", "dr-review", "test-boxes")]


def test_edit_makes_a_lesion_with_the_proposed_recist(window, qtbot, tmp_path):
    window.review.import_file(write_phantom_proposals(tmp_path / "p.json", 6))
    review = window.review
    p = review.queue.current
    les = [x for x in phantom().lesions if x.key_slice == p.key_slice][0]
    window.grid.panes[0].view.setFocus()
    key(qtbot, window.grid.panes[0].view, QtCore.Qt.Key.Key_E)
    saved = window.session.project.get_proposal(p.id)
    assert saved.status == "edited" and saved.lesion_id is not None
    lesion = window.session.project.get_lesion(saved.lesion_id)
    assert lesion.recist is not None and lesion.box("3d") is not None
    phase, proposed = review.recist_for(p)  # the lesion holds exactly the RECIST proposed from the image
    assert lesion.recist.long_mm == pytest.approx(proposed.measurement.long_axis_mm, abs=1e-6)
    assert lesion.recist.phase == phase == "non-contrast"  # unregistered phases are not used
    assert lesion.recist.long_mm == pytest.approx(les.long_axis_length_mm, rel=0.35)  # synthetic phantom
    assert window.measure_action.isChecked()
    assert window.session.editor.selected_id == lesion.id
    assert window.lesion_panel.table.rowCount() == 1
    # the tool draws it in the panes now (on the key slice every pane is centred on)
    marks = window.session.tool._marks[window.grid.panes[0].pane_id]
    assert len(marks.selected_lines.getData()[0]) == 4


def test_screenshot_with_review_dock_and_boxes(window, qtbot, tmp_path):
    window.review.import_file(write_phantom_proposals(tmp_path / "p.json", 12))
    window.review.recist_for(window.review.queue.current)
    window.review._show_current()
    QtWidgets.QApplication.processEvents()
    image = window.grab().toImage()
    path = tmp_path / "review.png"
    image.save(str(path))
    arr = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    assert arr.std() > 20  # not a blank window
    # the current box is drawn in yellow in the first pane: look for yellow pixels there
    pane = window.grid.panes[0]
    sub = pane.grab().toImage().convertToFormat(image.Format.Format_RGB888)
    rgb = np.frombuffer(sub.constBits(), np.uint8).reshape(sub.height(), sub.bytesPerLine())[:, :sub.width() * 3]
    rgb = rgb.reshape(sub.height(), sub.width(), 3).astype(int)
    yellow = (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 80)
    assert yellow.sum() > 50
    import os
    if os.environ.get("LIVERVIEW_SHOT_DIR"):
        image.save(os.path.join(os.environ["LIVERVIEW_SHOT_DIR"], "review_dock.png"))


def test_filters_in_the_dock(window, qtbot, tmp_path):
    window.review.import_file(write_phantom_proposals(tmp_path / "p.json", 12))
    review, panel = window.review, window.review.panel
    window.grid.panes[0].view.setFocus()
    for k in (QtCore.Qt.Key.Key_A, QtCore.Qt.Key.Key_R):
        key(qtbot, window.grid.panes[0].view, k)
    panel.status_combo.setCurrentIndex(panel.status_combo.findData("pending"))
    QtWidgets.QApplication.processEvents()
    assert panel.table.rowCount() == 10
    assert all(panel.table.item(r, 3).text() == "pending" for r in range(10))
    assert panel.progress_label.text() == "2 / 12 reviewed  (10 shown)"
    panel.status_combo.setCurrentIndex(0)
    panel.min_score.setValue(0.8)
    QtWidgets.QApplication.processEvents()
    shown = [float(panel.table.item(r, 1).text()) for r in range(panel.table.rowCount())]
    assert shown and min(shown) >= 0.8
    assert len(shown) == sum(p.score >= 0.8 for p in review.queue.project.list_proposals())
    panel.min_score.setValue(panel.min_score.minimum())
    panel.min_volume.setValue(5.0)  # mL
    QtWidgets.QApplication.processEvents()
    vols = [float(panel.table.item(r, 4).text()) for r in range(panel.table.rowCount())]
    assert vols and min(vols) >= 5.0


def test_u_after_e_takes_back_the_whole_edit(window, qtbot, tmp_path):
    window.review.import_file(write_phantom_proposals(tmp_path / "p.json", 6))
    review, project = window.review, window.session.project
    view = window.grid.panes[0].view
    view.setFocus()
    p = review.queue.current
    key(qtbot, view, QtCore.Qt.Key.Key_E)
    assert project.get_proposal(p.id).status == "edited" and len(project.list_lesions()) == 1
    key(qtbot, view, QtCore.Qt.Key.Key_U)
    assert project.get_proposal(p.id).status == "pending"
    assert project.list_lesions() == [] and window.lesion_panel.table.rowCount() == 0
    assert review.queue.current.id == p.id
    # E and an adjustment of the RECIST are one decision: one U takes back both, and leaves no lesion
    key(qtbot, view, QtCore.Qt.Key.Key_E)
    lesion = project.list_lesions()[0]
    a, b = (np.asarray(x) for x in lesion.recist.long_axis)
    from liverview.store.records import RecistRecord
    project.set_recist(lesion.id, RecistRecord((tuple(a), tuple(b + [2.0, 0, 0])), None, lesion.recist.key_slice,
                                               lesion.recist.phase))
    QtWidgets.QApplication.processEvents()
    key(qtbot, view, QtCore.Qt.Key.Key_U)
    assert project.get_proposal(p.id).status == "pending"
    assert project.list_lesions() == [] and window.lesion_panel.table.rowCount() == 0  # no orphan
    assert review.queue.current.id == p.id
    # the same through Edit > Undo (Ctrl+Z), after E and two adjustments
    key(qtbot, view, QtCore.Qt.Key.Key_E)
    lesion = project.list_lesions()[0]
    for dx in (2.0, 4.0):
        project.set_recist(lesion.id, RecistRecord((tuple(a), tuple(b + [dx, 0, 0])), None,
                                                   lesion.recist.key_slice, lesion.recist.phase))
    window.undo()
    QtWidgets.QApplication.processEvents()
    assert project.get_proposal(p.id).status == "pending" and project.list_lesions() == []
    # after moving on, the next edit is a step of its own again
    key(qtbot, view, QtCore.Qt.Key.Key_E)
    key(qtbot, view, QtCore.Qt.Key.Key_N)
    lesion = project.list_lesions()[0]
    project.set_recist(lesion.id, RecistRecord((tuple(a), tuple(b + [6.0, 0, 0])), None,
                                               lesion.recist.key_slice, lesion.recist.phase))
    key(qtbot, view, QtCore.Qt.Key.Key_U)
    assert project.get_proposal(p.id).status == "edited" and project.list_lesions() == [lesion]


def test_zoom_to_the_box(window, qtbot, tmp_path):
    """The box fills about a third of the pane, but the pane always shows some anatomy around it (at
    least MIN_FIELD_MM across): a 10 mm lesion is not blown up to fill the screen."""
    from liverview.ui.review.review_controller import MIN_FIELD_MM

    window.review.import_file(write_phantom_proposals(tmp_path / "p.json", 6))
    review = window.review
    before = window.grid.panes[0].pane_view.zoom
    review.panel.zoom_box.setChecked(True)
    smallest = min(min(q.viewbox.width(), q.viewbox.height()) for q in window.grid.panes)
    fit = min(q.fit_zoom() for q in window.grid.panes)
    for _ in range(len(review.queue.items)):
        review.next()
        p = review.queue.current
        zoom = window.grid.panes[0].pane_view.zoom
        assert zoom != before and all(pane.pane_view.zoom == zoom for pane in window.grid.panes)
        side_mm = max(b - a for a, b in zip(p.box.min_mm, p.box.max_mm))
        assert smallest / zoom >= MIN_FIELD_MM - 1e-6 or zoom == pytest.approx(fit)  # anatomy around it
        assert side_mm * zoom <= smallest / 3 + 1e-6  # never more than a third of the pane
        if 3 * side_mm >= MIN_FIELD_MM:
            assert side_mm * zoom == pytest.approx(smallest / 3, rel=0.01)
        pane = window.grid.panes[0]
        assert pane.pane_view.center_uv == pytest.approx(pane.geometry.scene_of_world(proposal_centre(
            p, window.study.reference.volume)))
        if review.queue.index == len(review.queue.items) - 1:
            break


def test_review_keys_work_after_typing_in_the_score_filter(window, qtbot, tmp_path):
    """Focus left in a filter spin box must not swallow A / R / N: the keys act wherever focus is in the
    review window (application-level), and the spin box keeps its number."""
    window.review.import_file(write_phantom_proposals(tmp_path / "p.json", 12))
    review, panel, project = window.review, window.review.panel, window.session.project
    panel.min_score.setFocus()
    panel.min_score.lineEdit().selectAll()
    qtbot.keyClicks(panel.min_score.lineEdit(), "0.2")
    qtbot.keyClick(panel.min_score.lineEdit(), QtCore.Qt.Key.Key_Return)
    QtWidgets.QApplication.processEvents()
    assert QtWidgets.QApplication.focusWidget() in (panel.min_score, panel.min_score.lineEdit())
    assert panel.min_score.value() == pytest.approx(0.2)
    first = review.queue.current
    key(qtbot, QtWidgets.QApplication.focusWidget(), QtCore.Qt.Key.Key_A)
    assert project.get_proposal(first.id).status == "accepted"
    second = review.queue.current
    assert second.id != first.id
    key(qtbot, QtWidgets.QApplication.focusWidget(), QtCore.Qt.Key.Key_R)
    assert project.get_proposal(second.id).status == "rejected"
    third = review.queue.current
    key(qtbot, QtWidgets.QApplication.focusWidget(), QtCore.Qt.Key.Key_N)
    assert review.queue.current.id != third.id
    assert panel.min_score.value() == pytest.approx(0.2) and "a" not in panel.min_score.lineEdit().text()
    # the status filter (a combo box) and the list do not swallow them either
    panel.status_combo.setFocus()
    key(qtbot, panel.status_combo, QtCore.Qt.Key.Key_N)
    panel.table.setFocus()
    current = review.queue.current
    key(qtbot, panel.table, QtCore.Qt.Key.Key_A)
    assert project.get_proposal(current.id).status == "accepted"


def test_the_selected_row_stays_visible_above_the_thumbnails(qtbot, tmp_path):
    w = MainWindow(register_mode=None, project_path=tmp_path / "rows.lvproj", user="dr-rows")
    qtbot.addWidget(w)
    w.resize(1280, 900)  # the default size, with the lesion list docked as well
    w.show()
    qtbot.waitExposed(w)
    # The keys are window shortcuts: they reach the window that is active, which need not be this one when
    # an earlier test's window is still being torn down.
    w.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is w, timeout=2000)
    w.set_study(phantom().to_study())
    w.review.import_file(write_phantom_proposals(tmp_path / "p.json", 60))
    QtWidgets.QApplication.processEvents()
    review, panel = w.review, w.review.panel
    for _ in range(35):
        review.next()
    QtWidgets.QApplication.processEvents()
    table, thumbs = panel.table, panel.thumbnails
    row = table.visualItemRect(table.item(review.queue.index, 0))
    assert table.viewport().rect().contains(row)  # scrolled into the table's view
    top_left = table.viewport().mapTo(panel, row.topLeft())
    bottom = table.viewport().mapTo(panel, row.bottomLeft()).y()
    assert bottom < thumbs.mapTo(panel, QtCore.QPoint(0, 0)).y()  # not under the thumbnail strip
    assert top_left.y() >= table.viewport().mapTo(panel, QtCore.QPoint(0, 0)).y()
    assert table.viewport().height() >= 10 * row.height()  # the list shows more than a few rows
    # the 3D view opens at a usable size, and the review keeps its room
    w.view3d_action.setChecked(True)
    QtWidgets.QApplication.processEvents()
    dock3d = w.findChild(QtWidgets.QDockWidget, "dock-3d")
    assert dock3d.height() >= 300 and dock3d.width() >= 300, dock3d.size()
    assert review.dock.isVisible() and table.viewport().height() >= 10 * row.height()
    w.close()


def test_ctrl_z_on_a_decision_goes_back_to_that_proposal(window, qtbot, tmp_path):
    window.review.import_file(write_phantom_proposals(tmp_path / "p.json", 6))
    review, project = window.review, window.session.project
    view = window.grid.panes[0].view
    view.setFocus()
    first = review.queue.current.id
    key(qtbot, view, QtCore.Qt.Key.Key_A)
    second = review.queue.current.id
    key(qtbot, view, QtCore.Qt.Key.Key_F)
    key(qtbot, view, QtCore.Qt.Key.Key_R)
    assert review.queue.current.id not in (first, second)
    window.undo()  # Edit > Undo: the reject of the third
    qtbot.waitUntil(lambda: review.queue.current.status == "pending")
    third = review.queue.current.id
    window.undo()  # the flag of the second: the queue and the panes go back to it, as U does
    qtbot.waitUntil(lambda: review.queue.current.id == second)
    assert project.get_proposal(second).status == "pending" and project.get_proposal(third).status == "pending"
    centre = proposal_centre(review.queue.current, window.study.reference.volume)
    assert all(np.allclose(pane.pane_view.focus, centre) for pane in window.grid.panes)
    assert review.panel.recist_label.text().startswith(f"Proposal {second}:")
    window.redo()  # Edit > Redo: the flag again, shown on the same proposal
    qtbot.waitUntil(lambda: project.get_proposal(second).status == "flagged")
    assert review.queue.current.id == second


def test_opening_another_study_describes_its_own_proposal(window, qtbot, tmp_path):
    review = window.review
    other = phantom(6).to_study()
    window.set_study(other)
    QtWidgets.QApplication.processEvents()
    review.import_file(write_phantom_proposals(tmp_path / "b.json", 5, seed=6))
    window.set_study(phantom().to_study())
    QtWidgets.QApplication.processEvents()
    review.import_file(write_phantom_proposals(tmp_path / "a.json", 6))
    view = window.grid.panes[0].view
    view.setFocus()
    key(qtbot, view, QtCore.Qt.Key.Key_A)
    shown_before = review.panel.recist_label.text()
    window.set_study(other)  # back to the other study, the review dock still shown
    QtWidgets.QApplication.processEvents()
    p = review.queue.current
    assert p is not None and review.panel.recist_label.text().startswith(f"Proposal {p.id}:")
    assert review.panel.recist_label.text() != shown_before
    centre = proposal_centre(p, window.study.reference.volume)
    assert all(np.allclose(pane.pane_view.focus, centre) for pane in window.grid.panes)
    qtbot.waitUntil(lambda: review.panel.thumbnails.shown_id == p.id)
    # a study without proposals: an empty panel, nothing of the last study
    window.set_study(phantom(7).to_study())
    QtWidgets.QApplication.processEvents()
    assert review.queue.current is None and review.panel.recist_label.text() == ""
    assert review.panel.thumbnails.shown_id is None
