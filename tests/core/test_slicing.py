"""Cutting volumes for display: every pane pixel must land at its true position in mm."""

import numpy as np
import pytest

from liverview.core.slicing import Orientation, extract_slice, missing_in_cut, slice_geometry
from liverview.core.volume import GeometryError, Volume


def rotation(ax: float, az: float) -> np.ndarray:
    cx, sx, cz, sz = np.cos(ax), np.sin(ax), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ rx


def numbered_volume(direction: np.ndarray, spacing=(0.7, 0.9, 2.5)) -> Volume:
    arr = np.arange(5 * 6 * 7, dtype=np.int32).reshape(5, 6, 7)  # (k, j, i)
    return Volume(arr, spacing, (10.0, -20.0, 30.0), direction)


@pytest.mark.parametrize(
    "direction",
    [
        np.eye(3),
        np.diag([-1.0, -1.0, 1.0]),  # flipped in-plane (like a patient scanned feet first)
        np.diag([1.0, 1.0, -1.0]),  # slices stored head to feet
        np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, -1.0]]),  # rows and columns swapped
        rotation(np.radians(20), np.radians(15)),  # oblique
    ],
)
@pytest.mark.parametrize("orientation", list(Orientation))
def test_every_displayed_pixel_is_the_voxel_at_its_scene_position(direction, orientation):
    vol = numbered_volume(direction)
    geom = slice_geometry(vol, orientation)
    s = geom.slice_count // 2
    cut = extract_slice(vol, geom, s)
    assert cut.shape == geom.image_shape
    affine = geom.pixel_to_scene(s)
    rows, cols = cut.shape
    for r in range(rows):
        for c in range(cols):
            world = geom.world(geom.pixel_to_index(c, r, s))
            i, j, k = np.rint(vol.world_to_index(world)).astype(int)
            assert cut[r, c] == vol.array[k, j, i]
            uv = affine @ np.array([c, r, 1.0])
            assert np.allclose(uv, geom.scene_of_world(world), atol=1e-9)
            # the inverse: a scene point on this cut goes back to the same world point
            assert np.allclose(geom.scene_to_world(uv, s), world, atol=1e-9)


@pytest.mark.parametrize("direction", [np.eye(3), np.diag([-1.0, -1.0, 1.0]), np.diag([1.0, 1.0, -1.0])])
def test_screen_axes_follow_the_radiological_convention(direction):
    """Axial: patient left (+x) to the right, posterior (+y) down; coronal/sagittal: head up."""
    vol = numbered_volume(direction)
    for orientation in Orientation:
        geom = slice_geometry(vol, orientation)
        a = geom.pixel_to_scene(0)
        assert a[0, 0] > 0 and abs(a[1, 0]) < 1e-9  # columns run to screen-right
        assert a[1, 1] > 0 and abs(a[0, 1]) < 1e-9  # rows run to screen-down
    ax = slice_geometry(vol, Orientation.AXIAL)
    p0 = ax.world(ax.pixel_to_index(0, 0, 0))
    p1 = ax.world(ax.pixel_to_index(1, 1, 0))
    assert p1[0] > p0[0] and p1[1] > p0[1]
    cor = slice_geometry(vol, Orientation.CORONAL)
    q0 = cor.world(cor.pixel_to_index(0, 0, 0))
    q1 = cor.world(cor.pixel_to_index(0, 1, 0))
    assert q1[2] < q0[2]  # lower on screen = towards the feet


def test_nearest_slice_and_spacing_in_mm():
    vol = numbered_volume(np.eye(3), spacing=(0.7, 0.9, 2.5))
    geom = slice_geometry(vol, Orientation.AXIAL)
    assert geom.slice_spacing_mm() == pytest.approx(2.5)
    assert geom.nearest_slice(np.array([0, 0, 30.0 + 2 * 2.5 + 1.0])) == 2
    assert geom.nearest_slice(np.array([0, 0, 30.0 - 5.0])) is None
    assert slice_geometry(vol, Orientation.SAGITTAL).slice_spacing_mm() == pytest.approx(0.7)


def test_one_slice_volume_is_viewable_axially():
    vol = Volume(np.ones((4, 5), np.int16), (0.5, 0.5, 1.0))
    assert vol.is_2d
    geom = slice_geometry(vol, Orientation.AXIAL)
    assert geom.slice_count == 1 and extract_slice(vol, geom, 0).shape == (4, 5)
    with pytest.raises(IndexError):
        extract_slice(vol, geom, 1)


def test_bad_geometry_is_refused_with_a_message():
    with pytest.raises(GeometryError, match="spacing"):
        Volume(np.zeros((2, 2, 2)), (1.0, 0.0, 1.0))
    with pytest.raises(GeometryError, match="direction"):
        Volume(np.zeros((2, 2, 2)), direction=np.zeros((3, 3)))
    with pytest.raises(GeometryError, match="empty"):
        Volume(np.zeros((0, 2, 2)))


@pytest.mark.parametrize(
    "direction",
    [np.eye(3), np.diag([1.0, 1.0, -1.0]), np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, -1.0]]),
     rotation(np.radians(20), np.radians(15))],
)
@pytest.mark.parametrize("orientation", list(Orientation))
def test_missing_pixels_of_a_cut_are_exactly_those_on_missing_slices(direction, orientation):
    vol = numbered_volume(direction)
    vol = vol.with_array(vol.array, missing_slices=(1, 3))
    geom = slice_geometry(vol, orientation)
    for s in range(geom.slice_count):
        cut = extract_slice(vol, geom, s)
        missing = missing_in_cut(vol, geom, s)
        on_missing = np.isin(cut // (6 * 7), (1, 3))  # numbered_volume: value // (rows * cols) is k
        if not on_missing.any():
            assert missing is None
        else:
            assert missing is not None and np.array_equal(missing, on_missing)


def test_missing_slices_are_checked_kept_and_never_read_as_data():
    vol = Volume(np.arange(4 * 2 * 2).reshape(4, 2, 2), missing_slices=(2, 2, 1))
    assert vol.missing_slices == (1, 2) and vol.is_missing_slice(2) and not vol.is_missing_slice(0)
    assert vol.value_at_world((0, 0, 2.0)) is None and vol.value_at_world((0, 0, 3.0)) == 12
    assert vol.with_array(np.zeros((4, 2, 2))).missing_slices == (1, 2)
    assert vol.with_array(np.zeros((4, 2, 2)), missing_slices=()).missing_slices == ()
    with pytest.raises(GeometryError, match="missing"):
        Volume(np.zeros((3, 2, 2)), missing_slices=(3,))
    with pytest.raises(GeometryError, match="every slice missing"):
        Volume(np.zeros((2, 2, 2)), missing_slices=(0, 1))


def test_the_nearest_acquired_slice_skips_the_missing_ones():
    vol = Volume(np.zeros((7, 2, 2)), missing_slices=(2, 3, 4, 6))
    assert [vol.nearest_acquired_slice(k) for k in (0, 1, 2, 3, 3.6, 4, 5, 6, 9, -3)] == [0, 1, 1, 1, 5, 5, 5, 5, 5, 0]
    assert Volume(np.zeros((3, 2, 2))).nearest_acquired_slice(1.4) == 1


def test_a_volume_opens_at_its_centre_or_on_the_acquired_slice_nearest_to_it():
    whole = Volume(np.zeros((8, 4, 6)), (1.0, 1.0, 2.0), (10.0, 20.0, 30.0))
    assert np.allclose(whole.opening_world(), whole.center_world())  # between slices 3 and 4, as before
    gap = Volume(np.zeros((9, 4, 6)), (1.0, 1.0, 2.0), (10.0, 20.0, 30.0), missing_slices=(3, 4, 5))
    assert np.allclose(gap.opening_world(), (12.5, 21.5, 30.0 + 2 * 2.0))  # slice 2: the lower of 2 and 6


@pytest.mark.parametrize(
    ("direction", "signs"),
    [
        (np.eye(3), (1, 1, 1)),
        (np.diag([1.0, -1.0, -1.0]), (-1, -1, 1)),  # LiTS: rows and slices stored head-first
        (np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, -1.0]]), (-1, 1, 1)),  # rows and columns swapped
    ],
)
def test_patient_order_ends_and_step_sign_do_not_depend_on_storage(direction, signs):
    vol = numbered_volume(direction)
    for orientation, sign in zip((Orientation.AXIAL, Orientation.CORONAL, Orientation.SAGITTAL), signs):
        geom = slice_geometry(vol, orientation)
        assert geom.index_sign_along_n() == sign, orientation
        first, last = geom.end_slice(toward_n=False), geom.end_slice(toward_n=True)
        along_n = [float(geom.world(geom.pixel_to_index(0.0, 0.0, s)) @ geom.n) for s in (first, last)]
        assert along_n[0] < along_n[1] and {first, last} == {0, geom.slice_count - 1}, orientation
