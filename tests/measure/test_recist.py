"""RECIST geometry: measurements in mm, drag rules that keep the axes perpendicular, exact axes of masks."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.measure import (
    EmptyMaskError,
    RecistGeometryError,
    RecistHandle,
    RecistMeasurement,
    constrain_short_axis,
    drag_handle,
    perpendicular_short_axis,
    recist_for_volume_mask,
    recist_from_mask,
)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _cos(a: tuple, b: tuple) -> float:
    x = np.subtract(a[1], a[0])
    y = np.subtract(b[1], b[0])
    return float(abs(x @ y) / (np.linalg.norm(x) * np.linalg.norm(y)))


# --- the measurement -----------------------------------------------------------------------------


def test_measurement_lengths_are_in_mm_and_points_are_plain_tuples():
    m = RecistMeasurement(
        long_axis=(np.array([0, 0, 5.0]), (30, 40, 5)), short_axis=((0, 0, 5), (0, 12, 5)), key_slice=3
    )
    assert m.long_axis_mm == pytest.approx(50.0)
    assert m.short_axis_mm == pytest.approx(12.0)
    assert m.long_axis == ((0.0, 0.0, 5.0), (30.0, 40.0, 5.0))
    assert RecistMeasurement(((0, 0, 0), (1, 0, 0)), None, 0).short_axis_mm is None


def test_measurement_rejects_degenerate_and_non_finite_axes():
    with pytest.raises(RecistGeometryError, match="zero length"):
        RecistMeasurement(((1, 2, 3), (1, 2, 3)), None, 0)
    with pytest.raises(RecistGeometryError, match="finite"):
        RecistMeasurement(((0, 0, np.nan), (1, 2, 3)), None, 0)
    with pytest.raises(RecistGeometryError, match="two LPS points"):
        RecistMeasurement(((0, 0, 0),), None, 0)


# --- proposal and drag rules -----------------------------------------------------------------------


def test_proposed_short_axis_is_perpendicular_in_plane_and_centred():
    normal = np.array([0.0, 0.0, 1.0])
    long_axis = ((10.0, 10.0, 7.0), (40.0, 50.0, 7.0))
    p, q = perpendicular_short_axis(long_axis, normal, 20.0)
    assert np.linalg.norm(np.subtract(q, p)) == pytest.approx(20.0)
    assert _cos(long_axis, (p, q)) < 1e-12
    assert np.allclose(np.add(p, q) / 2, (25.0, 30.0, 7.0))
    assert p[2] == pytest.approx(7.0) and q[2] == pytest.approx(7.0)
    # a centre beside the axis is snapped onto the segment (here beyond its end: to the end point)
    p, q = perpendicular_short_axis(long_axis, normal, 4.0, center=(100.0, 100.0, 7.0))
    assert np.allclose(np.add(p, q) / 2, (40.0, 50.0, 7.0))


def test_proposal_refuses_a_long_axis_that_leaves_the_slice():
    with pytest.raises(RecistGeometryError, match="slice plane"):
        perpendicular_short_axis(((0, 0, 0), (10, 0, 1)), (0, 0, 1), 5.0)


def test_dragging_a_short_end_keeps_only_the_perpendicular_part_of_the_drag():
    long_axis = ((0.0, 0.0, 0.0), (20.0, 0.0, 0.0))
    short = ((10.0, -3.0, 0.0), (10.0, 3.0, 0.0))
    new_long, new_short = constrain_short_axis(long_axis, short, (0, 0, 1), "short_end", (14.0, 8.0, 2.0))
    assert new_long == long_axis
    assert np.allclose(new_short, ((10, -3, 0), (10, 8, 0)))
    # it cannot pass to the other side of the long axis: it stops on it
    _, new_short = constrain_short_axis(long_axis, short, (0, 0, 1), "short_end", (10.0, -9.0, 0.0))
    assert np.allclose(new_short, ((10, -3, 0), (10, 0, 0)))


def test_dragging_a_long_end_turns_the_short_axis_with_it():
    long_axis = ((0.0, 0.0, 0.0), (20.0, 0.0, 0.0))
    short = ((5.0, -2.0, 0.0), (5.0, 6.0, 0.0))  # crosses at a quarter of the long axis
    new_long, new_short = constrain_short_axis(
        long_axis, short, (0, 0, 1), RecistHandle.LONG_END, (0.0, 40.0, 0.0)
    )
    assert np.allclose(new_long, ((0, 0, 0), (0, 40, 0)))
    # crossing at a quarter (y = 10); the 2 mm and 6 mm parts turned by 90 degrees (v = n x u = -x)
    assert np.allclose(new_short, ((2.0, 10.0, 0.0), (-6.0, 10.0, 0.0)))
    # the drag is projected into the slice plane through the fixed end
    new_long, _ = constrain_short_axis(long_axis, short, (0, 0, 1), "long_start", (-5.0, 0.0, 9.0))
    assert np.allclose(new_long, ((-5, 0, 0), (20, 0, 0)))


def test_an_imported_oblique_short_axis_becomes_perpendicular_on_the_first_drag():
    long_axis = ((0.0, 0.0, 0.0), (20.0, 0.0, 0.0))
    skewed = ((8.0, -3.0, 0.0), (11.0, 3.0, 0.0))  # like DeepLesion's hand-drawn crosses
    _, short = constrain_short_axis(long_axis, skewed, (0, 0, 1), "short_start", (9.5, -4.0, 0.0))
    assert _cos(long_axis, short) < 1e-12
    assert np.allclose(short, ((9.5, -4.0, 0.0), (9.5, 3.0, 0.0)))


def test_drag_errors_say_what_went_wrong():
    long_axis = ((0.0, 0.0, 0.0), (20.0, 0.0, 0.0))
    with pytest.raises(RecistGeometryError, match="no short axis"):
        constrain_short_axis(long_axis, None, (0, 0, 1), "short_start", (1, 1, 0))
    with pytest.raises(RecistGeometryError, match="other end"):
        constrain_short_axis(long_axis, None, (0, 0, 1), "long_end", (0, 0, 5))
    with pytest.raises(ValueError):
        constrain_short_axis(long_axis, None, (0, 0, 1), "middle", (0, 0, 5))


def test_many_fast_random_drags_keep_the_cross_exact():
    """Property: after any sequence of drags the axes stay perpendicular, in plane and crossing."""
    rng = np.random.default_rng(20240517)
    for trial in range(40):
        normal = rng.normal(size=3)
        normal /= np.linalg.norm(normal)
        origin = rng.uniform(-200, 200, 3)
        e1 = np.cross(normal, rng.normal(size=3))
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(normal, e1)

        def in_plane(x: float, y: float) -> np.ndarray:
            return origin + x * e1 + y * e2

        long_axis = (tuple(in_plane(-10, 0)), tuple(in_plane(15, 3)))
        m = RecistMeasurement(long_axis, perpendicular_short_axis(long_axis, normal, 8.0), key_slice=0)
        for _ in range(150):
            handle = list(RecistHandle)[int(rng.integers(4))]
            # drags land anywhere near the lesion, partly off the plane (a hand on an oblique pane)
            target = in_plane(*rng.uniform(-60, 60, 2)) + rng.normal(scale=0.5) * normal
            if handle in (RecistHandle.LONG_START, RecistHandle.LONG_END):
                fixed = m.long_axis[1] if handle is RecistHandle.LONG_START else m.long_axis[0]
                if np.linalg.norm(target - fixed) < 1e-3:
                    continue
            m = drag_handle(m, handle, target, normal)
            p0, p1 = (np.asarray(p) for p in m.long_axis)
            q0, q1 = (np.asarray(p) for p in m.short_axis)
            u = (p1 - p0) / np.linalg.norm(p1 - p0)
            if m.short_axis_mm > 1e-6:
                assert m.perpendicularity < 1e-9, (trial, handle)
            for x in (p1, q0, q1):  # all in the slice plane of p0
                assert abs((x - p0) @ normal) < 1e-9 * max(1.0, np.abs(x).max())
            # the short axis' line crosses the long-axis segment, and the segment touches that line
            t = ((q0 + q1) / 2 - p0) @ u
            assert -1e-9 <= t <= np.linalg.norm(p1 - p0) + 1e-9
            c = p0 + t * u
            assert (q0 - c) @ (q1 - c) <= 1e-9


# --- axes of masks: hand values ---------------------------------------------------------------


def test_rectangle_with_anisotropic_pixels_measures_edge_to_edge_in_mm():
    # 10 columns x 4 rows, 0.5 mm columns and 2.0 mm rows: a 5 mm x 8 mm rectangle (pixel corners)
    mask = np.zeros((10, 20), bool)
    mask[3:7, 5:15] = True
    volume = Volume(np.zeros((3, 10, 20)), spacing=(0.5, 2.0, 3.0), origin=(-7.0, 4.0, 100.0))
    m = recist_from_mask(mask, volume, key_slice=1, lesion_id="L1")
    assert m.long_axis_mm == pytest.approx(np.sqrt(5.0**2 + 8.0**2), abs=1e-12)  # the diagonal
    # longest chord perpendicular to the diagonal: it runs wall to wall across the 5 mm sides,
    # at angle cos = 8/sqrt(89) to them: 5 / (8 / sqrt(89)) = 5 sqrt(89) / 8
    assert m.short_axis_mm == pytest.approx(5 * np.sqrt(89) / 8, abs=1e-9)
    assert m.perpendicularity < 1e-12
    corners = {m.long_axis[0][:2], m.long_axis[1][:2]}
    x0, x1, y0, y1 = -7 + 4.5 * 0.5, -7 + 14.5 * 0.5, 4 + 2.5 * 2, 4 + 6.5 * 2
    assert corners in ({(x0, y0), (x1, y1)}, {(x0, y1), (x1, y0)})
    assert all(p[2] == pytest.approx(103.0) for p in m.long_axis + m.short_axis)
    assert (m.key_slice, m.lesion_id) == (1, "L1")


def test_one_pixel_lesion_is_its_pixel_diagonal():
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    m = recist_from_mask(mask, Volume(np.zeros((1, 5, 5)), spacing=(0.6, 0.8, 1.0)), 0)
    assert m.long_axis_mm == pytest.approx(1.0)  # sqrt(0.6^2 + 0.8^2)
    # a chord perpendicular to the diagonal (direction (-0.8, 0.6)) spans at most the 0.6 mm width
    # at cos = 0.8 to it: 0.6 / 0.8 (the other diagonal is not perpendicular unless the pixel is square)
    assert m.short_axis_mm == pytest.approx(0.75, abs=1e-12)


def test_two_diagonal_pixels_have_their_widest_chord_at_one_corner_line():
    # squares touching at one corner: the long axis runs corner to corner through both (2 sqrt2 s);
    # perpendicular chords are widest only along a square's other diagonal (sqrt2 s): a maximum
    # reached on a single line through pixel corners, not on a plateau
    mask = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], bool)
    m = recist_from_mask(mask, Volume(np.zeros((1, 3, 3)), spacing=(0.7, 0.7, 1.0)), 0)
    assert m.long_axis_mm == pytest.approx(2 * np.sqrt(2) * 0.7, abs=1e-12)
    assert m.short_axis_mm == pytest.approx(np.sqrt(2) * 0.7, abs=1e-12)


def test_rotated_and_oblique_grids_give_the_same_mm_values():
    mask = np.zeros((10, 20), bool)
    mask[3:7, 5:15] = True
    direction = _rotation([1.0, 2.0, 0.5], 0.7)  # an oblique acquisition
    volume = Volume(np.zeros((2, 10, 20)), spacing=(0.5, 2.0, 3.0), origin=(12, -30, 5), direction=direction)
    m = recist_from_mask(mask, volume, key_slice=1)
    assert m.long_axis_mm == pytest.approx(np.sqrt(89), abs=1e-9)
    assert m.short_axis_mm == pytest.approx(5 * np.sqrt(89) / 8, abs=1e-9)
    normal = direction[:, 2]
    for p in m.long_axis + m.short_axis:
        assert volume.world_to_index(p)[2] == pytest.approx(1.0)
    assert m.perpendicularity < 1e-9
    # the same rectangle transposed, with the spacing swapped, is the same 5 x 8 mm rectangle
    t = recist_from_mask(mask.T, Volume(np.zeros((1, 20, 10)), spacing=(2.0, 0.5, 1.0)), 0)
    assert (t.long_axis_mm, t.short_axis_mm) == pytest.approx((m.long_axis_mm, m.short_axis_mm))
    assert abs(np.subtract(*m.long_axis) @ normal) < 1e-9


def test_pane_callable_geometry_matches_the_volume_geometry():
    mask = np.zeros((12, 12), bool)
    mask[2:9, 3:7] = True
    volume = Volume(np.zeros((4, 12, 12)), spacing=(0.7, 1.3, 2.5), origin=(1, 2, 3))

    def to_world(cr: np.ndarray) -> np.ndarray:
        cr = np.asarray(cr, float)
        return volume.index_to_world(np.column_stack([cr[:, 0], cr[:, 1], np.full(len(cr), 2.0)]))

    a = recist_from_mask(mask, volume, 2)
    b = recist_from_mask(mask, to_world, 2)
    assert a == b


def test_non_affine_pixel_mapping_is_refused():
    mask = np.ones((3, 3), bool)
    with pytest.raises(RecistGeometryError, match="affine"):
        recist_from_mask(mask, lambda cr: np.column_stack([cr[:, 0] ** 2, cr[:, 1], 0 * cr[:, 0]]), 0)


def test_ellipse_axes_match_its_semi_axes_within_a_pixel():
    yy, xx = np.mgrid[0:120, 0:120]
    a_px, b_px = 40.3, 17.2
    mask = ((xx - 60) / a_px) ** 2 + ((yy - 60) / b_px) ** 2 <= 1
    sx, sy = 0.6, 0.9
    m = recist_from_mask(mask, Volume(np.zeros((1, 120, 120)), spacing=(sx, sy, 1.0)), 0)
    # continuous ellipse: 2a sx = 48.36 mm long, 2b sy = 30.96 mm short; the pixel squares add at
    # most one pixel diagonal to each and remove nothing from the long axis
    diag = np.hypot(sx, sy)
    assert 2 * a_px * sx <= m.long_axis_mm <= 2 * a_px * sx + diag
    assert 2 * b_px * sy - diag <= m.short_axis_mm <= 2 * b_px * sy + diag
    # it joins corners of the leftmost and rightmost pixel columns (the ends of the major axis)
    cols = np.flatnonzero(mask.any(axis=0))
    xs = sorted(p[0] for p in m.long_axis)
    assert xs == pytest.approx([(cols[0] - 0.5) * sx, (cols[-1] + 0.5) * sx])


def test_empty_mask_and_shape_mismatch_are_refused():
    volume = Volume(np.zeros((2, 5, 6)))
    with pytest.raises(EmptyMaskError, match="empty"):
        recist_from_mask(np.zeros((5, 6), bool), volume, 0)
    with pytest.raises(ValueError, match="does not match"):
        recist_from_mask(np.ones((6, 5), bool), volume, 0)
    with pytest.raises(EmptyMaskError):
        recist_for_volume_mask(volume, np.zeros((2, 5, 6), bool))


# --- axes of masks: independent brute force ---------------------------------------------------
# pyradiomics (whose Maximum2DDiameterSlice would be the obvious reference) does not build here,
# so the reference is a brute force that shares no code with the implementation: the largest
# distance over ALL pairs of boundary-pixel corners mapped to mm by Volume.index_to_world (no hull,
# no 2D frame), and the short axis by point sampling along dense perpendicular lines.


def _brute_long_axis(mask2d: np.ndarray, volume: Volume, axis: int, index: int) -> float:
    rows, cols = np.nonzero(mask2d)
    pts = []
    for r, c in zip(rows, cols):
        for dr, dc in itertools.product((-0.5, 0.5), repeat=2):
            ijk = [0.0, 0.0, 0.0]
            col_axis, row_axis = {2: (0, 1), 1: (0, 2), 0: (1, 2)}[axis]
            ijk[col_axis], ijk[row_axis], ijk[axis] = c + dc, r + dr, index
            pts.append(ijk)
    w = volume.index_to_world(np.unique(np.array(pts), axis=0))
    best = 0.0
    for start in range(0, len(w), 512):  # all pairs, in blocks to bound memory
        d = np.linalg.norm(w[start : start + 512, None, :] - w[None, :, :], axis=-1)
        best = max(best, float(d.max()))
    return best


def _runs_along(volume: Volume, mask3d: np.ndarray, p0: np.ndarray, u: np.ndarray, v: np.ndarray,
                ts: np.ndarray, s_max: float, h: float) -> np.ndarray:
    """Longest run of inside samples (step h) on each line p0 + t u + s v, |s| <= s_max."""
    ss = np.arange(-s_max, s_max + h, h)
    out = np.zeros(len(ts))
    for n, t in enumerate(ts):
        pts = p0 + t * u + ss[:, None] * v
        ijk = np.rint(volume.world_to_index(pts)).astype(int)
        ok = np.all((ijk >= 0) & (ijk < np.array(volume.size_ijk)), axis=1)
        inside = np.zeros(len(ss), bool)
        inside[ok] = mask3d[ijk[ok, 2], ijk[ok, 1], ijk[ok, 0]]
        best = run = 0
        for x in inside:
            run = run + 1 if x else 0
            best = max(best, run)
        out[n] = max(best - 1, 0) * h
    return out


def _brute_short_axis(volume: Volume, mask3d: np.ndarray, m: RecistMeasurement) -> float:
    p0, p1 = (np.asarray(p) for p in m.long_axis)
    u = (p1 - p0) / m.long_axis_mm
    normal = volume.direction[:, 2]
    v = np.cross(normal, u)
    coarse_ts = np.arange(0, m.long_axis_mm, 0.05)
    coarse = _runs_along(volume, mask3d, p0, u, v, coarse_ts, m.long_axis_mm, 0.05)
    t0 = coarse_ts[int(np.argmax(coarse))]
    fine_ts = np.arange(max(0.0, t0 - 0.5), min(m.long_axis_mm, t0 + 0.5), 0.005)
    return float(_runs_along(volume, mask3d, p0, u, v, fine_ts, m.long_axis_mm, 0.005).max())


def test_rotated_rasterized_rectangle_and_a_non_convex_shape_against_brute_force():
    yy, xx = np.mgrid[0:60, 0:60].astype(float)
    ang = np.deg2rad(27.0)
    x, y = xx - 30, yy - 30
    rect = (np.abs(np.cos(ang) * x + np.sin(ang) * y) <= 18) & (np.abs(-np.sin(ang) * x + np.cos(ang) * y) <= 6)
    crescent = ((x / 20) ** 2 + (y / 14) ** 2 <= 1) & ~(((x - 9) / 16) ** 2 + (y / 10) ** 2 <= 1)
    volume = Volume(np.zeros((1, 60, 60)), spacing=(0.8, 0.55, 2.0), origin=(3, 4, 5))
    for mask in (rect, crescent):
        m = recist_from_mask(mask, volume, 0)
        assert m.long_axis_mm == pytest.approx(_brute_long_axis(mask, volume, 2, 0), abs=1e-9)
        assert m.short_axis_mm == pytest.approx(_brute_short_axis(volume, mask[None], m), abs=0.02)


@pytest.fixture(scope="module")
def ircadb_tumours():
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ircadb-liver17" / "tumor_instances.nii.gz"
    if not path.is_file():
        pytest.skip(f"{path} is not present beside this checkout")
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    labels = sitk.GetArrayFromImage(image)
    volume = Volume(
        labels, image.GetSpacing(), image.GetOrigin(), np.array(image.GetDirection()).reshape(3, 3), "tumours"
    )
    return volume, labels


@pytest.mark.parametrize("label", [1, 2])
def test_real_tumour_axes_match_brute_force(shared_data, ircadb_tumours, label):
    volume, labels = ircadb_tumours
    assert volume.spacing == pytest.approx((0.743, 0.743, 1.6), abs=1e-3)
    mask3d = labels == label
    m = recist_for_volume_mask(volume, mask3d, axis="k", lesion_id=f"tumour{label}")
    k = m.key_slice
    assert mask3d[k].any()
    assert m.long_axis_mm == pytest.approx(_brute_long_axis(mask3d[k], volume, 2, k), abs=1e-9)
    # the key slice is the one with the longest long axis (checked on its neighbours and the rest)
    for other in np.flatnonzero(mask3d.any(axis=(1, 2)))[::4]:
        assert recist_from_mask(mask3d[other], volume, int(other)).long_axis_mm <= m.long_axis_mm + 1e-9
    assert m.short_axis_mm == pytest.approx(_brute_short_axis(volume, mask3d, m), abs=0.02)
    assert 20 < m.short_axis_mm < m.long_axis_mm < 120  # ~80 mL tumours: several cm across
    assert m.perpendicularity < 1e-9


def test_other_cut_axes_measure_in_their_own_planes():
    mask3d = np.zeros((6, 8, 9), bool)
    mask3d[1:5, 3, 2:7] = True  # a 4 (k) x 5 (i) rectangle in the plane j = 3
    volume = Volume(np.zeros(mask3d.shape), spacing=(0.5, 0.7, 2.0))
    m = recist_for_volume_mask(volume, mask3d, axis="j")
    assert m.key_slice == 3
    assert m.long_axis_mm == pytest.approx(np.hypot(5 * 0.5, 4 * 2.0))
    assert all(volume.world_to_index(p)[1] == pytest.approx(3.0) for p in m.long_axis + m.short_axis)
    with pytest.raises(ValueError, match="axis"):
        recist_for_volume_mask(volume, mask3d, axis="x")
