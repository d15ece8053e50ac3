"""The 3D view draws the proposal boxes (coloured by review status, the current one thicker) and RECIST axes,
and the main window keeps them in step with the project and the review queue."""

import numpy as np
import pytest
from PySide6 import QtWidgets

from liverview.core.view_state import PaneView, ViewState
from liverview.core.volume import Volume
from liverview.review.scene_items import (CURRENT_COLOR, RECIST_COLOR, STATUS_COLORS, SceneBox, SceneOverlays,
                                          SceneSegment)

pytestmark = pytest.mark.gui


@pytest.fixture
def view(qtbot):
    from liverview.ui.panes.volume_view import VolumeView

    state = ViewState()
    state.add_pane("a", PaneView(focus=np.array([0.0, 0.0, 0.0])))
    v = VolumeView(state)
    qtbot.addWidget(v)
    v.resize(300, 300)
    v.show()
    v.set_volume(Volume(np.full((10, 40, 40), -1000, np.int16), (2.0, 2.0, 3.0), (-40.0, -40.0, -15.0)))
    yield v
    v.shutdown()


def colour_mask(pixels: np.ndarray, rgb, tol: int = 40) -> np.ndarray:
    return (np.abs(pixels.astype(int) - np.array(rgb)) <= tol).all(axis=2)


def projected_row_col(v, point) -> np.ndarray:
    """Where a point in LPS mm lands in render_to_array's pixels (row 0 at the top)."""
    v.renderer.SetWorldPoint(*point, 1.0)
    v.renderer.WorldToDisplay()
    x, y, _ = v.renderer.GetDisplayPoint()
    height = v.render_window.GetSize()[1]
    return np.array([height - 1 - y, x])


BOX = SceneBox((10.0, -10.0, -10.0), (30.0, 10.0, 10.0), STATUS_COLORS["pending"])


def test_a_box_is_drawn_in_its_status_colour_where_it_projects_and_changes_colour_when_rejected(view, tmp_path):
    view.state.set_focus("a", np.array([-30.0, 0.0, 0.0]))  # the yellow marker out of the box's half
    view.set_overlays(SceneOverlays((BOX,)))
    px = view.render_to_array()
    from PIL import Image  # noqa: PLC0415  (only to keep a picture for a human to look at)

    Image.fromarray(px).save(tmp_path / "box_pending.png")
    pending = colour_mask(px, STATUS_COLORS["pending"])
    assert pending.sum() > 40, "the pending box is not drawn"
    # its outline surrounds the projection of its centre, on the patient's left = the screen's right
    centre = projected_row_col(view, (20.0, 0.0, 0.0))
    assert np.abs(np.argwhere(pending).mean(axis=0) - centre).max() < 6
    assert centre[1] > px.shape[1] / 2 + 10
    corner = projected_row_col(view, (30.0, -10.0, 10.0))  # a front corner: an edge pixel nearby
    assert np.hypot(*(np.argwhere(pending) - corner).T).min() < 3

    rejected = SceneBox(BOX.min_mm, BOX.max_mm, STATUS_COLORS["rejected"])
    view.set_overlays(SceneOverlays((rejected,)))
    px = view.render_to_array()
    right = slice(px.shape[1] // 2, None)  # the box's half of the screen
    assert colour_mask(px[:, right], STATUS_COLORS["pending"]).sum() == 0
    assert colour_mask(px, STATUS_COLORS["rejected"]).sum() >= 0.8 * pending.sum()

    view.set_overlays(SceneOverlays())  # nothing: no line colour left
    px = view.render_to_array()
    assert colour_mask(px, STATUS_COLORS["rejected"]).sum() == 0
    assert (px[:, right] == px[0, 0]).all()  # background only


def test_the_current_box_is_drawn_thicker(view):
    view.set_overlays(SceneOverlays((SceneBox(BOX.min_mm, BOX.max_mm, CURRENT_COLOR),)))
    thin = colour_mask(view.render_to_array(), CURRENT_COLOR, tol=30).sum()
    view.set_overlays(SceneOverlays((SceneBox(BOX.min_mm, BOX.max_mm, CURRENT_COLOR, current=True),)))
    thick = colour_mask(view.render_to_array(), CURRENT_COLOR, tol=30).sum()
    assert thin > 40
    assert thick > 1.5 * thin


def test_a_recist_segment_is_drawn_between_its_projected_ends(view):
    a, b = (-30.0, 0.0, 5.0), (-10.0, 0.0, 5.0)  # on the patient's right = the screen's left
    view.set_overlays(SceneOverlays(segments=(SceneSegment(a, b, RECIST_COLOR),)))
    px = view.render_to_array()
    cyan = np.argwhere(colour_mask(px, RECIST_COLOR))
    assert len(cyan) > 15
    ra, rb = projected_row_col(view, a), projected_row_col(view, b)
    assert abs(cyan[:, 0].mean() - (ra[0] + rb[0]) / 2) < 3  # a horizontal line at the projected height
    assert cyan[:, 1].min() < ra[1] + 3 and cyan[:, 1].max() > rb[1] - 3
    assert cyan[:, 1].max() < px.shape[1] / 2


def test_overlays_set_before_a_volume_are_drawn_once_it_comes(qtbot):
    from liverview.ui.panes.volume_view import VolumeView

    state = ViewState()
    v = VolumeView(state)
    qtbot.addWidget(v)
    v.resize(300, 300)
    v.show()
    try:
        v.set_overlays(SceneOverlays((BOX,)))
        v.set_volume(Volume(np.full((10, 40, 40), -1000, np.int16), (2.0, 2.0, 3.0), (-40.0, -40.0, -15.0)))
        assert colour_mask(v.render_to_array(), STATUS_COLORS["pending"]).sum() > 40
    finally:
        v.shutdown()


# --- in the main window --------------------------------------------------------------------------------------


@pytest.fixture
def window(qtbot, tmp_path):
    from liverview.ui.main_window import MainWindow

    w = MainWindow(register_mode=None, project_path=tmp_path / "review.lvproj", user="dr-3d")
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def settle():
    for _ in range(3):
        QtWidgets.QApplication.processEvents()


def test_the_window_keeps_the_3d_boxes_and_recist_in_step_with_the_review(window, tmp_path):
    from tests.ui.review_fixtures import phantom, write_phantom_proposals

    window.show_3d(True)  # before any study: nothing to draw, no crash
    settle()
    view = window.volume_view
    assert view.overlays.empty
    window.set_study(phantom().to_study())
    settle()
    assert view.overlays.empty  # a study without proposals or lesions
    view.render_to_array()

    assert window.review.import_file(write_phantom_proposals(tmp_path / "p.json", 6)) == 6
    settle()
    boxes = view.overlays.boxes
    assert len(boxes) == 6
    current = window.review.queue.current
    assert [b.current for b in boxes] == [False] * 5 + [True]
    assert boxes[-1].min_mm == tuple(current.box.min_mm)
    assert all(b.color == STATUS_COLORS["pending"] for b in boxes[:-1])

    window.review.act("reject")  # the queue moves on; the rejected box turns red
    settle()
    colours = [b.color for b in view.overlays.boxes]
    assert colours.count(STATUS_COLORS["rejected"]) == 1
    assert view.overlays.boxes[-1].min_mm == tuple(window.review.queue.current.box.min_mm)
    window.review.act("next")
    settle()
    assert view.overlays.boxes[-1].min_mm == tuple(window.review.queue.current.box.min_mm)

    window.review.act("edit")  # makes a lesion with the proposed RECIST: its axes appear
    settle()
    assert len(view.overlays.segments) == 2
    lesion = window.session.project.list_lesions(window.session.study_id)[0]
    assert view.overlays.segments[0].a == tuple(lesion.recist.long_axis[0])
    window.undo()  # Edit > Undo: the decision and the lesion it made go together (edits from elsewhere count)
    settle()
    assert len(view.overlays.segments) == 0
    px = view.render_to_array()
    assert px.shape[2] == 3

    window.show_3d(False)
    window.show_3d(True)
    window.set_study(phantom().to_study())  # the same study again: its proposals stay
    settle()
    assert len(view.overlays.boxes) == 6


def test_a_box_behind_dense_tissue_stays_visible(qtbot):
    """Annotations are drawn on a layer over the volume: bone between the camera and a box cannot hide it."""
    from liverview.ui.panes.volume_view import VolumeView

    state = ViewState()
    state.add_pane("a", PaneView(focus=np.array([-30.0, 0.0, 0.0])))
    v = VolumeView(state)
    qtbot.addWidget(v)
    v.resize(300, 300)
    v.show()
    arr = np.full((10, 40, 40), -1000, np.int16)
    arr[:, :12, :] = 1500  # a bone slab across the whole front (anterior = low y = towards the camera)
    v.set_volume(Volume(arr, (2.0, 2.0, 3.0), (-40.0, -40.0, -15.0)))
    behind = SceneBox((10.0, 0.0, -10.0), (30.0, 30.0, 10.0), STATUS_COLORS["pending"])
    v.set_overlays(SceneOverlays((behind,)))
    px = v.render_to_array()
    centre = projected_row_col(v, (20.0, 15.0, 0.0))
    row, col = int(centre[0]), int(centre[1])
    assert (px[row, col] != px[0, 0]).any(), "the slab is not drawn in front of the box"
    assert colour_mask(px, STATUS_COLORS["pending"]).sum() > 40, "the box behind the slab is hidden"
    v.shutdown()
