"""RECIST long and short axes in patient LPS millimetres: the drag rules and the axes of a mask.

Geometry is in mm, never pixels, so anisotropic pixels and oblique planes measure correctly.

Drag rules (what the interactive tool calls): the short axis is rebuilt on every edit from the long
axis and the slice normal, as a crossing point ``c`` on the long-axis segment plus two signed offsets
along ``v = normalize(normal x long)``. It is therefore perpendicular to the long axis to rounding
error after any number of edits, and stays in the slice plane.

Axes of a mask: a pixel is the closed square of side one pixel around its centre (centres at integer
indices, as in :mod:`liverview.core.volume`), and the lesion is the union of its pixels' squares, so
the boundary points used are **pixel corners** and a lesion one pixel wide measures one pixel
spacing, edge to edge. Both axes are exact for that region:

- long axis: the diameter of the region = the largest distance between two vertices of the convex
  hull of the boundary-pixel corners, the hull taken in mm (anisotropic spacing applied first);
- short axis: over all lines perpendicular to the long axis, the longest segment inside the region.
  Along such a line, each inside run has end points that move linearly with the line's offset until
  the line crosses a corner of the region, so the longest run is reached at a line through a corner:
  evaluating the line through every boundary-pixel corner gives the maximum exactly (runs that touch
  are joined with a 1e-9 mm tolerance; the result carries only floating-point error).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Callable, Union

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

from liverview.core.volume import Volume

Point3 = tuple[float, float, float]
Segment = tuple[Point3, Point3]
# (N, 2) continuous pixel coordinates (column, row) of one slice -> (N, 3) LPS mm; must be affine.
PixelToWorld = Callable[[np.ndarray], np.ndarray]
PointLike = Union[np.ndarray, tuple[float, float, float], list[float]]

_TOUCH_MM = 1e-9  # inside runs closer than this are one run (squares sharing an edge or corner)
_IN_PLANE_COS = 1e-6  # largest |cos| between the long axis and the slice normal accepted as in-plane


class RecistGeometryError(ValueError):
    """Axes or planes that admit no RECIST measurement (zero length, axis out of the slice plane)."""


class EmptyMaskError(ValueError):
    """A mask (or the slice asked for) holds no lesion pixel, so there is nothing to measure."""


class RecistHandle(str, Enum):
    """The four draggable end points of a RECIST cross."""

    LONG_START = "long_start"
    LONG_END = "long_end"
    SHORT_START = "short_start"
    SHORT_END = "short_end"


def _point(p: PointLike, what: str) -> Point3:
    a = np.asarray(p, dtype=float).reshape(-1)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise RecistGeometryError(f"{what} must be three finite LPS coordinates in mm, got {p!r}")
    return (float(a[0]), float(a[1]), float(a[2]))


def _segment(seg: object, what: str) -> Segment:
    try:
        p, q = seg  # type: ignore[misc]
    except (TypeError, ValueError):
        raise RecistGeometryError(f"{what} must be two LPS points, got {seg!r}") from None
    return _point(p, f"{what} start"), _point(q, f"{what} end")


def _length(seg: Segment) -> float:
    return float(np.linalg.norm(np.subtract(seg[1], seg[0])))


@dataclass(frozen=True)
class RecistMeasurement:
    """One RECIST measurement: long axis, optional short axis (LPS mm) on one key slice.

    ``key_slice`` is the index of the slice the axes lie on, along the volume axis that was cut
    (k for axial acquisitions). ``lesion_id`` names the lesion it measures ("" when unassigned);
    ``phase`` the contrast phase it was measured on ("" when not said), whose grid ``key_slice`` indexes.
    """

    long_axis: Segment
    short_axis: Segment | None
    key_slice: int
    lesion_id: str = ""
    phase: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "long_axis", _segment(self.long_axis, "long axis"))
        if self.short_axis is not None:
            object.__setattr__(self, "short_axis", _segment(self.short_axis, "short axis"))
        object.__setattr__(self, "key_slice", int(self.key_slice))
        if self.long_axis_mm <= 0:
            raise RecistGeometryError("the long axis has zero length: its two end points coincide")

    @property
    def long_axis_mm(self) -> float:
        return _length(self.long_axis)

    @property
    def short_axis_mm(self) -> float | None:
        """Short-axis length, or None when only the long axis was measured."""
        return None if self.short_axis is None else _length(self.short_axis)

    @property
    def perpendicularity(self) -> float | None:
        """|cos| of the angle between the axes (0 = perpendicular); None without a short axis."""
        if self.short_axis is None or self.short_axis_mm == 0:
            return None
        a = np.subtract(self.long_axis[1], self.long_axis[0])
        b = np.subtract(self.short_axis[1], self.short_axis[0])
        return float(abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- drag rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    p0: np.ndarray
    p1: np.ndarray
    u: np.ndarray  # unit, along the long axis
    v: np.ndarray  # unit, in plane, perpendicular to u
    n: np.ndarray  # unit slice normal
    length: float


def _frame(long_axis: Segment, plane_normal: PointLike) -> _Frame:
    p0, p1 = (np.asarray(p, float) for p in _segment(long_axis, "long axis"))
    n = np.asarray(_point(plane_normal, "plane normal"))
    n_len = np.linalg.norm(n)
    if n_len == 0:
        raise RecistGeometryError("the slice-plane normal has zero length")
    n = n / n_len
    d = p1 - p0
    length = float(np.linalg.norm(d))
    if length == 0:
        raise RecistGeometryError("the long axis has zero length: its two end points coincide")
    u = d / length
    if abs(u @ n) > _IN_PLANE_COS:
        raise RecistGeometryError(
            f"the long axis leaves the slice plane (cos to the normal {abs(u @ n):.2g}); "
            "draw it on one slice"
        )
    v = np.cross(n, u)
    v /= np.linalg.norm(v)
    return _Frame(p0, p1, u, v, n, length)


def _as_segment(a: np.ndarray, b: np.ndarray) -> Segment:
    return _point(a, "point"), _point(b, "point")


def perpendicular_short_axis(
    long_axis: Segment,
    plane_normal: PointLike,
    length_mm: float,
    center: PointLike | None = None,
) -> Segment:
    """A short axis of ``length_mm`` perpendicular to the long axis in the slice plane.

    It is centred on ``center`` snapped to the nearest point of the long-axis segment (the long
    axis' midpoint when None), so the proposal always crosses the long axis.
    """
    if not np.isfinite(length_mm) or length_mm < 0:
        raise RecistGeometryError(f"short-axis length must be a finite number >= 0 mm, got {length_mm}")
    f = _frame(long_axis, plane_normal)
    if center is None:
        t = f.length / 2
    else:
        t = float(np.clip((np.asarray(_point(center, "centre")) - f.p0) @ f.u, 0.0, f.length))
    c = f.p0 + t * f.u
    h = length_mm / 2
    return _as_segment(c - h * f.v, c + h * f.v)


def _crossing(f: _Frame, short_axis: Segment) -> tuple[float, float, float]:
    """(t, s0, s1): crossing at ``p0 + t u`` on the long-axis segment, short ends at ``c + s v``."""
    q0, q1 = (np.asarray(p, float) for p in short_axis)
    t = float(np.clip(((q0 + q1) / 2 - f.p0) @ f.u, 0.0, f.length))
    c = f.p0 + t * f.u
    return t, float((q0 - c) @ f.v), float((q1 - c) @ f.v)


def constrain_short_axis(
    long_axis: Segment,
    short_axis: Segment | None,
    plane_normal: PointLike,
    handle: RecistHandle | str,
    position: PointLike,
) -> tuple[Segment, Segment | None]:
    """Move one end point to ``position`` and return the new (long axis, short axis).

    - A short-axis end moves only along the perpendicular direction (the drag is projected on it),
      and not past the long axis: the short axis keeps crossing it.
    - A long-axis end moves within the slice plane (the drag is projected on it); the short axis
      turns with the long axis, keeping its crossing at the same fraction of the long axis and the
      lengths on both sides.
    The result is perpendicular to the long axis even if the input was not (an imported cross); a
    short-end drag also restores the crossing.
    """
    handle = RecistHandle(handle)
    f = _frame(long_axis, plane_normal)
    d = np.asarray(_point(position, "drag position"))
    if handle in (RecistHandle.SHORT_START, RecistHandle.SHORT_END):
        if short_axis is None:
            raise RecistGeometryError("there is no short axis to drag; propose one first")
        t, s0, s1 = _crossing(f, _segment(short_axis, "short axis"))
        c = f.p0 + t * f.u
        s = float((d - c) @ f.v)
        other = s1 if handle is RecistHandle.SHORT_START else s0
        s = min(s, 0.0) if other > 0 else max(s, 0.0) if other < 0 else s
        s0, s1 = (s, s1) if handle is RecistHandle.SHORT_START else (s0, s)
        return _as_segment(f.p0, f.p1), _as_segment(c + s0 * f.v, c + s1 * f.v)

    fixed = f.p1 if handle is RecistHandle.LONG_START else f.p0
    d = d - ((d - fixed) @ f.n) * f.n  # stay in the slice plane through the fixed end
    if np.linalg.norm(d - fixed) == 0:
        raise RecistGeometryError("a long-axis end cannot be dropped on the other end")
    new_p0, new_p1 = (d, fixed) if handle is RecistHandle.LONG_START else (fixed, d)
    new_long = _as_segment(new_p0, new_p1)
    if short_axis is None:
        return new_long, None
    t, s0, s1 = _crossing(f, _segment(short_axis, "short axis"))
    g = _frame(new_long, f.n)
    c = g.p0 + (t / f.length) * g.length * g.u
    return new_long, _as_segment(c + s0 * g.v, c + s1 * g.v)


def drag_handle(
    measurement: RecistMeasurement,
    handle: RecistHandle | str,
    position: PointLike,
    plane_normal: PointLike,
) -> RecistMeasurement:
    """The measurement after dragging one end point, by the rules of :func:`constrain_short_axis`."""
    long_axis, short_axis = constrain_short_axis(
        measurement.long_axis, measurement.short_axis, plane_normal, handle, position
    )
    return replace(measurement, long_axis=long_axis, short_axis=short_axis)


# --- axes of a mask ----------------------------------------------------------------------------


# (column axis, row axis) of a cut across each voxel axis, matching numpy's take on [k, j, i].
_CUT_AXES = {2: (0, 1), 1: (0, 2), 0: (1, 2)}


def _volume_slice_mapping(volume: Volume, axis: int, index: int) -> PixelToWorld:
    """Pixel (col, row) of ``volume`` cut across voxel ``axis`` (0=i, 1=j, 2=k) at ``index``."""
    col_axis, row_axis = _CUT_AXES[axis]

    def to_world(cr: np.ndarray) -> np.ndarray:
        cr = np.asarray(cr, float).reshape(-1, 2)
        ijk = np.empty((len(cr), 3))
        ijk[:, col_axis] = cr[:, 0]
        ijk[:, row_axis] = cr[:, 1]
        ijk[:, axis] = index
        return volume.index_to_world(ijk)

    return to_world


def _pixel_metric(to_world: PixelToWorld, shape: tuple[int, int]) -> np.ndarray:
    """2x2 matrix taking a pixel offset (col, row) to mm in an orthonormal frame of the slice plane."""
    probe = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [shape[1], shape[0]], [3.0, -7.0]])
    w = np.asarray(to_world(probe), float).reshape(-1, 3)
    o, a, b = w[0], w[1] - w[0], w[2] - w[0]
    expected = o + np.outer(probe[3:, 0], a) + np.outer(probe[3:, 1], b)
    scale = max(1.0, float(np.abs(w).max()))
    if not np.allclose(w[3:], expected, rtol=0, atol=1e-6 * scale):
        raise RecistGeometryError("pixel_to_world is not affine: RECIST needs a flat slice")
    if np.linalg.norm(a) == 0 or np.linalg.norm(b) == 0:
        raise RecistGeometryError("pixel_to_world maps a pixel step to zero mm (degenerate pixel axes)")
    e1 = a / np.linalg.norm(a)
    b_perp = b - (b @ e1) * e1
    if np.linalg.norm(b_perp) < 1e-12 * np.linalg.norm(b):
        raise RecistGeometryError("pixel_to_world maps the slice onto a line (degenerate pixel axes)")
    e2 = b_perp / np.linalg.norm(b_perp)
    return np.array([[a @ e1, b @ e1], [0.0, b @ e2]])


def _boundary_corners(mask: np.ndarray) -> np.ndarray:
    """Unique corners (col, row) of the pixels on the mask's edge (a 4-neighbour is outside)."""
    inner = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(2, 1), border_value=0)
    rows, cols = np.nonzero(mask & ~inner)
    offsets = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]])
    corners = (np.column_stack([cols, rows]).astype(float)[:, None, :] + offsets[None]).reshape(-1, 2)
    return np.unique(corners, axis=0)


def _diameter(corners_px: np.ndarray, m: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(length mm, end A, end B) of the largest distance between corners, via the mm convex hull."""
    pts = corners_px @ m.T
    hull = ConvexHull(pts).vertices  # corners of pixel squares are never all collinear
    h = pts[hull]
    d2 = ((h[:, None, :] - h[None, :, :]) ** 2).sum(-1)
    a, b = np.unravel_index(int(np.argmax(d2)), d2.shape)
    return float(np.sqrt(d2[a, b])), corners_px[hull[a]], corners_px[hull[b]]


def _longest_perpendicular_chord(
    mask: np.ndarray, corners_px: np.ndarray, m: np.ndarray, u2: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """(length mm, end, end) in pixels of the longest inside run on lines perpendicular to ``u2``.

    ``u2`` is the long-axis direction in the in-plane mm frame. Lines are taken through every
    boundary corner (where the maximum is reached; see the module docstring).
    """
    v2 = np.array([-u2[1], u2[0]])
    w = np.linalg.solve(m, v2)  # pixel step of one mm along the line
    g = m.T @ u2  # offset of a pixel point p along u2 (mm) = p @ g
    rows, cols = np.nonzero(mask)
    centres = np.column_stack([cols, rows]).astype(float)
    offsets = centres @ g
    order = np.argsort(offsets)
    centres, offsets = centres[order], offsets[order]
    reach = (abs(g[0]) + abs(g[1])) / 2 + _TOUCH_MM  # half-extent of a pixel square along u2
    best = (-1.0, np.zeros(2), np.zeros(2))
    for t in np.unique(corners_px @ g):
        c = centres[np.searchsorted(offsets, t - reach) : np.searchsorted(offsets, t + reach, side="right")]
        base = t * g / (g @ g)  # a pixel point on the line
        lo = np.full(len(c), -np.inf)
        hi = np.full(len(c), np.inf)
        for k in range(2):
            a, b = c[:, k] - 0.5 - base[k], c[:, k] + 0.5 - base[k]
            if abs(w[k]) < 1e-12:  # line parallel to this pixel edge: inside or not at all
                outside = (a > _TOUCH_MM) | (b < -_TOUCH_MM)
                lo[outside], hi[outside] = np.inf, -np.inf
            else:
                s1, s2 = a / w[k], b / w[k]
                lo = np.maximum(lo, np.minimum(s1, s2))
                hi = np.minimum(hi, np.maximum(s1, s2))
        keep = lo <= hi + _TOUCH_MM
        if not keep.any():
            continue
        order = np.argsort(lo[keep], kind="stable")
        lo_s, hi_s = lo[keep][order], np.maximum.accumulate(hi[keep][order])
        starts = np.flatnonzero(np.r_[True, lo_s[1:] > hi_s[:-1] + _TOUCH_MM])
        ends = np.r_[starts[1:] - 1, len(lo_s) - 1]
        lengths = hi_s[ends] - lo_s[starts]
        r = int(np.argmax(lengths))
        if lengths[r] > best[0]:
            best = (float(lengths[r]), base + lo_s[starts[r]] * w, base + hi_s[ends[r]] * w)
    return best


def recist_from_mask(
    mask2d: np.ndarray,
    geometry: Volume | PixelToWorld,
    key_slice: int,
    lesion_id: str = "",
) -> RecistMeasurement:
    """Long and short axis (LPS mm) of the lesion in one slice's mask, exact for the pixel squares.

    ``mask2d`` is indexed [row, column]. ``geometry`` is either the Volume the mask was cut from,
    across k at ``key_slice`` (row = j, column = i), or a callable mapping (N, 2) pixel (column, row)
    to (N, 3) LPS mm, e.g. a pane's cut from :class:`liverview.core.slicing.SliceGeometry`.
    """
    mask = np.asarray(mask2d).astype(bool)
    if mask.ndim != 2:
        raise ValueError(f"recist_from_mask needs a 2D mask, got shape {mask.shape}")
    if not mask.any():
        raise EmptyMaskError(f"the mask of slice {key_slice} is empty: draw or segment the lesion first")
    if isinstance(geometry, Volume):
        if (geometry.size_ijk[1], geometry.size_ijk[0]) != mask.shape:
            raise ValueError(
                f"mask shape {mask.shape} does not match the volume's slice (rows, cols) "
                f"{(geometry.size_ijk[1], geometry.size_ijk[0])}"
            )
        if not 0 <= key_slice < geometry.size_ijk[2]:
            raise ValueError(f"key slice {key_slice} is outside the volume (0..{geometry.size_ijk[2] - 1})")
        to_world = _volume_slice_mapping(geometry, 2, key_slice)
    else:
        to_world = geometry
    metric = _pixel_metric(to_world, mask.shape)
    corners = _boundary_corners(mask)
    length, a, b = _diameter(corners, metric)
    u2 = metric @ (b - a) / length
    _, s0, s1 = _longest_perpendicular_chord(mask, corners, metric, u2)
    ends = np.asarray(to_world(np.array([a, b, s0, s1])), float).reshape(4, 3)
    return RecistMeasurement(
        long_axis=_as_segment(ends[0], ends[1]),
        short_axis=_as_segment(ends[2], ends[3]),
        key_slice=key_slice,
        lesion_id=lesion_id,
    )


_AXES = {"i": 0, "j": 1, "k": 2}


def recist_for_volume_mask(
    volume: Volume, mask3d: np.ndarray, axis: str | int = "k", lesion_id: str = ""
) -> RecistMeasurement:
    """RECIST axes of a 3D lesion mask on its key slice: the slice with the longest long axis.

    Slices are cut across voxel ``axis`` ("i", "j", "k" or 0, 1, 2; "k" is axial for axial scans).
    Ties in long-axis length go to the larger lesion area, then the lower slice index.
    """
    ax = _AXES.get(axis, axis) if isinstance(axis, str) else int(axis)
    if ax not in (0, 1, 2):
        raise ValueError(f"axis must be 'i', 'j', 'k' or 0, 1, 2, got {axis!r}")
    mask = np.asarray(mask3d).astype(bool)
    if mask.shape != volume.array.shape:
        raise ValueError(f"mask shape {mask.shape} does not match the volume grid {volume.array.shape}")
    array_axis = 2 - ax  # array is indexed [k, j, i]
    present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != array_axis)))
    if len(present) == 0:
        raise EmptyMaskError(f"the mask of lesion '{lesion_id or '?'}' is empty")

    def cut(index: int) -> np.ndarray:  # (row, col) = [j, i], [k, i] or [k, j], as in _CUT_AXES
        return np.take(mask, index, axis=array_axis)

    best: tuple[float, int, int] | None = None
    for index in present:
        sl = cut(int(index))
        metric = _pixel_metric(_volume_slice_mapping(volume, ax, int(index)), sl.shape)
        length = _diameter(_boundary_corners(sl), metric)[0]
        key = (round(length, 9), int(sl.sum()), -int(index))
        if best is None or key > best:
            best = key
    assert best is not None
    key_slice = -best[2]
    return recist_from_mask(cut(key_slice), _volume_slice_mapping(volume, ax, key_slice), key_slice, lesion_id)
