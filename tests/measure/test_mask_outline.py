"""The outline of a 3D mask on a pane's cut: a box of known extent in mm, on a grid with anisotropic spacing
and a flipped axis, outlined on its own grid and on another phase's grid, axial and coronal."""

import numpy as np
import pytest

from liverview.core.slicing import Orientation, extract_slice, slice_geometry
from liverview.core.volume import Volume
from liverview.measure.mask_outline import mask_on_cut, outline_on_cut, outline_segments, outline_source

# The box: i 5..14, j 10..29, k 2..6 on a grid whose i axis runs toward the patient's right (-x).
# Its voxels' outer edges in LPS mm:
X_RANGE = (50.0 - 11.2 - 0.4, 50.0 - 4.0 + 0.4)  # i = 14 -> x = 38.8, i = 5 -> x = 46.0, +-0.4 mm
Y_RANGE = (-20.0 + 12.0 - 0.6, -20.0 + 34.8 + 0.6)  # j = 10 -> y = -8.0, j = 29 -> y = 14.8, +-0.6 mm
Z_RANGE = (10.0 + 6.0 - 1.5, 10.0 + 18.0 + 1.5)  # k = 2 -> z = 16, k = 6 -> z = 28, +-1.5 mm


@pytest.fixture
def mask() -> Volume:
    arr = np.zeros((10, 40, 30), np.uint8)
    arr[2:7, 10:30, 5:15] = 1
    return Volume(arr, (0.8, 1.2, 3.0), (50.0, -20.0, 10.0), np.diag([-1.0, 1.0, 1.0]))


@pytest.fixture
def other_phase() -> Volume:
    """Another phase's grid: 0.5 mm pixels, 1 mm slices, identity direction, covering the box."""
    return Volume(np.zeros((40, 80, 60), np.int16), (0.5, 0.5, 1.0), (25.0, -15.0, 0.0))


def _extent(seg: np.ndarray) -> tuple[float, float, float, float]:
    pts = seg.reshape(-1, 2)
    return pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max()


def _slice_at(volume: Volume, orientation: Orientation, point) -> tuple:
    geom = slice_geometry(volume, orientation)
    s = geom.nearest_slice(np.asarray(point, float))
    assert s is not None
    return geom, s


def test_rectangle_outline_is_four_merged_edges_at_the_pixel_borders():
    inside = np.zeros((4, 5), bool)
    inside[1:3, 1:4] = True
    seg = outline_segments(inside)
    assert len(seg) == 4
    assert _extent(seg) == (0.5, 3.5, 0.5, 2.5)


def test_outline_length_is_the_perimeter_including_holes_and_the_image_border():
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6] = True
    ring[3, 3] = False
    seg = outline_segments(ring)
    assert np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1).sum() == pytest.approx(4 * 5 + 4)
    full = np.ones((3, 4), bool)  # touching every border: closed by the border
    assert np.linalg.norm(np.diff(outline_segments(full), axis=1), axis=-1).sum() == pytest.approx(14)
    assert outline_segments(np.zeros((3, 3), bool)).shape == (0, 2, 2)


def test_on_its_own_grid_the_cut_is_the_masks_slice_and_the_outline_its_mm_box(mask):
    geom, s = _slice_at(mask, Orientation.AXIAL, (40.0, 0.0, 22.0))
    assert geom.col_flip  # the flipped axis is turned to the screen's right
    cut = mask_on_cut(outline_source(mask), geom, s)
    full = extract_slice(mask, geom, s) != 0
    rows, cols = cut.inside.shape
    assert np.array_equal(cut.inside, full[cut.row0:cut.row0 + rows, cut.col0:cut.col0 + cols])
    assert cut.inside.sum() == full.sum() == 200
    seg = outline_on_cut(outline_source(mask), geom, s)
    assert len(seg) == 4
    assert np.allclose(_extent(seg), (*X_RANGE, *Y_RANGE))


def test_on_another_grid_the_outline_follows_the_box_in_mm(mask, other_phase):
    source = outline_source(mask)
    geom, s = _slice_at(other_phase, Orientation.AXIAL, (40.0, 0.0, 22.0))
    u0, u1, v0, v1 = _extent(outline_on_cut(source, geom, s))
    half_pixel = 0.25  # nearest-neighbour at the other grid's pixel centres, drawn at its pixel edges
    assert u0 == pytest.approx(X_RANGE[0], abs=half_pixel) and u1 == pytest.approx(X_RANGE[1], abs=half_pixel)
    assert v0 == pytest.approx(Y_RANGE[0], abs=half_pixel) and v1 == pytest.approx(Y_RANGE[1], abs=half_pixel)


def test_coronal_cut_shows_the_box_from_head_to_foot(mask, other_phase):
    geom, s = _slice_at(other_phase, Orientation.CORONAL, (40.0, 0.0, 22.0))
    u0, u1, v0, v1 = _extent(outline_on_cut(outline_source(mask), geom, s))
    assert u0 == pytest.approx(X_RANGE[0], abs=0.25) and u1 == pytest.approx(X_RANGE[1], abs=0.25)
    # screen-down is -z in a coronal view; slices of the other phase are 1 mm apart
    assert -v1 == pytest.approx(Z_RANGE[0], abs=0.5) and -v0 == pytest.approx(Z_RANGE[1], abs=0.5)


def test_cuts_that_miss_the_mask_give_no_outline(mask, other_phase):
    source = outline_source(mask)
    geom, s = _slice_at(other_phase, Orientation.AXIAL, (40.0, 0.0, 35.0))  # above the box (z <= 29.5)
    assert outline_on_cut(source, geom, s).shape == (0, 2, 2)
    geom, s = _slice_at(other_phase, Orientation.SAGITTAL, (30.0, 0.0, 22.0))  # right of the box (x >= 38.4)
    assert outline_on_cut(source, geom, s).shape == (0, 2, 2)
    empty = outline_source(Volume(np.zeros((4, 4, 4), np.uint8)))
    assert empty.empty and outline_on_cut(empty, geom, s).shape == (0, 2, 2)


def test_only_the_reach_of_the_masks_box_is_sampled(mask, other_phase):
    geom, s = _slice_at(other_phase, Orientation.AXIAL, (40.0, 0.0, 22.0))
    cut = mask_on_cut(outline_source(mask), geom, s)
    rows, cols = cut.inside.shape
    assert rows * cols < 0.3 * geom.image_shape[0] * geom.image_shape[1]
    assert cut.inside.any()
