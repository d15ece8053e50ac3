"""The 3D pane renders the reference phase in patient mm and follows the shared focus point."""

import numpy as np
import pytest

from liverview.core.view_state import PaneView, ViewState
from liverview.core.volume import Volume

pytestmark = pytest.mark.gui

BACKGROUND = np.array([13, 13, 20])  # (0.05, 0.05, 0.08) * 255


@pytest.fixture
def view(qtbot):
    from liverview.ui.panes.volume_view import VolumeView

    state = ViewState()
    state.add_pane("a", PaneView(focus=np.array([0.0, 0.0, 0.0])))
    v = VolumeView(state)
    qtbot.addWidget(v)
    v.resize(300, 300)
    v.show()
    yield v, state
    v.shutdown()


def dense_ball_volume(center_x_mm: float) -> Volume:
    z, y, x = np.mgrid[0:30, 0:60, 0:60]
    xs, ys, zs = x * 2.0 - 60, y * 2.0 - 60, z * 3.0 - 45
    arr = np.full(x.shape, -1000, np.int16)
    arr[(xs - center_x_mm) ** 2 + ys**2 + zs**2 < 15**2] = 700  # bone-dense: opaque, near white
    return Volume(arr, (2.0, 2.0, 3.0), (-60.0, -60.0, -45.0))


def bright_columns(pixels: np.ndarray) -> np.ndarray:
    bright = (pixels.astype(int) - BACKGROUND).sum(axis=2) > 150
    return np.nonzero(bright.any(axis=0))[0]


def test_a_dense_ball_on_the_patients_right_is_drawn_on_the_screens_left(view):
    v, _ = view
    v.set_volume(dense_ball_volume(center_x_mm=-30.0))  # LPS: negative x = patient's right
    pixels = v.render_to_array()
    cols = bright_columns(pixels)
    assert cols.size > 5, "the ball was not rendered"
    # seen from the front, the patient's right is on the viewer's left
    assert cols.mean() < pixels.shape[1] / 2 - 10
    v.set_volume(dense_ball_volume(center_x_mm=+30.0))
    assert bright_columns(v.render_to_array()).mean() > pixels.shape[1] / 2 + 10


def test_the_focus_marker_is_drawn_in_yellow_where_the_focus_is(view):
    v, state = view
    vol = Volume(np.full((10, 40, 40), -1000, np.int16), (2.0, 2.0, 3.0), (-40.0, -40.0, -15.0))
    v.set_volume(vol)

    def yellow_centroid() -> np.ndarray:
        px = v.render_to_array().astype(int)
        yellow = (px[..., 0] > 150) & (px[..., 1] > 120) & (px[..., 2] < 80)
        assert yellow.sum() > 3, "no marker visible"
        return np.argwhere(yellow).mean(axis=0)

    left = yellow_centroid()
    state.set_focus("a", np.array([25.0, 0.0, 0.0]))  # towards the patient's left
    right = yellow_centroid()
    assert right[1] > left[1] + 10


@pytest.mark.parametrize("max_voxels", [10**6, 10_000])  # whole, and downsampled (every 3rd voxel)
def test_missing_slices_are_a_gap_in_3d_not_filled_tissue(max_voxels):
    from vtkmodules.util import numpy_support

    from liverview.ui.panes.volume_view import volume_to_vtk_image

    array = np.full((12, 30, 30), 200, np.int16)
    array[0] = -1000
    volume = Volume(array, missing_slices=(3, 6))
    image = volume_to_vtk_image(volume, max_voxels=max_voxels)
    k, j, i = image.GetDimensions()[::-1]
    values = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)
    step = 12 // k
    gaps = {kk for kk in range(k) if kk * step in (3, 6)}
    assert gaps  # the grid keeps at least one of them
    for kk in range(1, k):
        assert np.all(values[kk] == (-1000 if kk in gaps else 200))


FEET_FIRST = np.diag([1.0, -1.0, -1.0])  # how LiTS stores its slices: rows run anterior, slices run down


def ball_and_slab(direction: np.ndarray) -> Volume:
    """A dense ball at LPS (30, 0, 85) mm (patient's left, towards the head) and a dense slab at the feet
    (z < 15 mm), in the same physical place whatever order the voxels are stored in."""
    shape, spacing = (40, 50, 50), (3.0, 3.0, 3.0)
    corner = np.array([-73.5, -73.5, 0.0]) if np.allclose(direction, np.eye(3)) else np.array([-73.5, 73.5, 117.0])
    vol = Volume(np.zeros(shape, np.int16), spacing, tuple(corner), direction)
    k, j, i = np.indices(shape)
    xyz = vol.index_to_world(np.stack([i, j, k], -1).reshape(-1, 3)).reshape(*shape, 3)
    arr = np.full(shape, -1000, np.int16)
    arr[((xyz - (30.0, 0.0, 85.0)) ** 2).sum(-1) < 15**2] = 700
    arr[((xyz[..., 0] / 60) ** 2 + (xyz[..., 1] / 50) ** 2 < 1) & (xyz[..., 2] < 15)] = 700
    vol.array = arr
    return vol


def centroid(mask: np.ndarray) -> np.ndarray:
    assert mask.sum() > 3, "nothing of it is visible"
    return np.argwhere(mask).mean(axis=0)


@pytest.mark.parametrize("direction", [np.eye(3), FEET_FIRST], ids=["head-first", "feet-first"])
def test_any_storage_order_is_drawn_head_up_with_the_marker_on_the_anatomy(view, direction):
    v, state = view
    state.set_focus("a", np.array([30.0, -22.0, 85.0]))  # just in front of the ball, towards the camera
    v.set_volume(ball_and_slab(direction))
    px = v.render_to_array().astype(int)
    yellow = (px[..., 0] > 150) & (px[..., 1] > 120) & (px[..., 2] < 80)
    bright = ((px - BACKGROUND).sum(axis=2) > 150) & ~yellow
    rows = np.nonzero(bright.any(axis=1))[0]
    height, width = px.shape[:2]
    feet = rows[rows > height / 2]
    assert feet.size, "the slab at the feet is not in the lower half"
    ball = bright[: height // 2]
    assert ball.sum() > 20, "the ball near the head is not in the upper half"
    assert centroid(ball)[1] > width / 2  # the patient's left is on the screen's right
    assert np.linalg.norm(centroid(yellow) - centroid(ball)) < 12  # the marker sits on the ball


def test_both_storage_orders_render_the_same_picture(view):
    v, _ = view
    v.set_volume(ball_and_slab(np.eye(3)))
    head_first = v.render_to_array().astype(int)
    v.set_volume(ball_and_slab(FEET_FIRST))
    feet_first = v.render_to_array().astype(int)
    assert np.abs(head_first - feet_first).mean() < 2
