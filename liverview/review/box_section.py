"""Where a 3D proposal box cuts a viewing plane: the polygon each pane draws, whatever its orientation.

A box is axis-aligned in LPS mm (min and max corner). The plane is a point and a unit normal, so axial,
coronal, sagittal and oblique cuts are all the same computation: intersect the box's 12 edges with the
plane and order the crossing points around their centre.
"""

from __future__ import annotations

import numpy as np

_CORNER_BITS = np.array([[(n >> 0) & 1, (n >> 1) & 1, (n >> 2) & 1] for n in range(8)], float)
_EDGES = np.array([(a, b) for a in range(8) for b in range(a + 1, 8)
                   if bin(a ^ b).count("1") == 1])  # 12 pairs differing in one axis


def box_corners(min_mm, max_mm) -> np.ndarray:
    lo, hi = np.asarray(min_mm, float), np.asarray(max_mm, float)
    return lo + _CORNER_BITS * (hi - lo)


def boxes_cut_by_plane(mins: np.ndarray, maxs: np.ndarray, point: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Boolean per box (N, 3 corners): does the plane pass through it? (Vectorised pre-filter.)"""
    mins, maxs = np.asarray(mins, float).reshape(-1, 3), np.asarray(maxs, float).reshape(-1, 3)
    n = np.asarray(normal, float)
    centre = (mins + maxs) / 2
    half = (maxs - mins) / 2
    distance = (centre - np.asarray(point, float)) @ n
    reach = half @ np.abs(n)
    return np.abs(distance) <= reach + 1e-9


def box_section(min_mm, max_mm, point, normal) -> np.ndarray:
    """The polygon (K, 3) in LPS mm where the plane cuts the box, in order around it; (0, 3) when it misses."""
    n = np.asarray(normal, float)
    axis = int(np.argmax(np.abs(n)))
    if abs(abs(n[axis]) - 1.0) < 1e-12:  # axial / coronal / sagittal: the box's face rectangle
        lo, hi = np.asarray(min_mm, float), np.asarray(max_mm, float)
        c = float(np.asarray(point, float) @ n) * np.sign(n[axis])
        if not lo[axis] <= c <= hi[axis]:
            return np.zeros((0, 3))
        a, b = [x for x in range(3) if x != axis]
        rect = np.empty((4, 3))
        rect[:, axis] = c
        rect[:, a] = (lo[a], hi[a], hi[a], lo[a])
        rect[:, b] = (lo[b], lo[b], hi[b], hi[b])
        return rect
    corners = box_corners(min_mm, max_mm)
    d = (corners - np.asarray(point, float)) @ n
    a, b = _EDGES[:, 0], _EDGES[:, 1]
    da, db = d[a], d[b]
    crossing = (da * db <= 0) & ~((da == 0) & (db == 0))
    if not crossing.any():
        return np.zeros((0, 3))
    t = da[crossing] / (da[crossing] - db[crossing])
    pts = corners[a[crossing]] + t[:, None] * (corners[b[crossing]] - corners[a[crossing]])
    pts = np.unique(np.round(pts, 9), axis=0)
    if len(pts) < 3:
        return pts
    centre = pts.mean(axis=0)
    # An in-plane frame to sort the points by angle.
    e1 = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    rel = pts - centre
    order = np.argsort(np.arctan2(rel @ e2, rel @ e1))
    return pts[order]
