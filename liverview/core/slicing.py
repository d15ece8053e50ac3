"""How a volume is cut into the 2D images a pane shows, and how pane pixels map back to mm.

A pane draws in a *display frame* fixed to the patient: screen-right ``u`` and screen-down ``v``
are LPS unit vectors (radiological convention: the patient's left on the screen's right).
A volume is cut along its own voxel axis closest to the frame's normal, so no voxel is
interpolated; the cut is flipped / transposed so that it runs along ``u`` and ``v``, and an
affine map (exact, also for oblique volumes) places its pixels at their millimetre position.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from liverview.core.volume import Volume


class Orientation(str, Enum):
    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"


# (u = screen right, v = screen down, n = viewing normal) in LPS.
_FRAMES: dict[Orientation, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
    Orientation.AXIAL: (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])),
    Orientation.CORONAL: (np.array([1.0, 0, 0]), np.array([0, 0, -1.0]), np.array([0, 1.0, 0])),
    Orientation.SAGITTAL: (np.array([0, 1.0, 0]), np.array([0, 0, -1.0]), np.array([1.0, 0, 0])),
}


def display_frame(orientation: Orientation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (u, v, n) in LPS for screen-right, screen-down and the slice normal."""
    u, v, n = _FRAMES[Orientation(orientation)]
    return u.copy(), v.copy(), n.copy()


@dataclass(frozen=True)
class SliceGeometry:
    """How one volume is cut for one orientation: which voxel axes map to columns, rows, slices."""

    col_axis: int  # voxel axis (0=i, 1=j, 2=k) that runs along screen columns
    row_axis: int
    slice_axis: int
    col_flip: bool
    row_flip: bool
    size_ijk: tuple[int, int, int]
    index_to_world: np.ndarray  # 4x4 copy of the volume's matrix
    u: np.ndarray
    v: np.ndarray
    n: np.ndarray

    @property
    def slice_count(self) -> int:
        return self.size_ijk[self.slice_axis]

    @property
    def image_shape(self) -> tuple[int, int]:
        """(rows, cols) of a cut."""
        return self.size_ijk[self.row_axis], self.size_ijk[self.col_axis]

    def pixel_to_index(self, col: np.ndarray | float, row: np.ndarray | float, slice_index: float) -> np.ndarray:
        """Continuous pixel (col, row) of a cut at ``slice_index`` -> voxel index (i, j, k)."""
        col = np.asarray(col, float)
        row = np.asarray(row, float)
        out = np.zeros(np.broadcast(col, row).shape + (3,))
        out[..., self.col_axis] = (self.size_ijk[self.col_axis] - 1 - col) if self.col_flip else col
        out[..., self.row_axis] = (self.size_ijk[self.row_axis] - 1 - row) if self.row_flip else row
        out[..., self.slice_axis] = slice_index
        return out

    def index_to_pixel(self, ijk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel index -> (col, row, slice) continuous coordinates of the cut."""
        ijk = np.asarray(ijk, float)
        c = ijk[..., self.col_axis]
        r = ijk[..., self.row_axis]
        if self.col_flip:
            c = self.size_ijk[self.col_axis] - 1 - c
        if self.row_flip:
            r = self.size_ijk[self.row_axis] - 1 - r
        return c, r, ijk[..., self.slice_axis]

    def world(self, ijk: np.ndarray) -> np.ndarray:
        m = self.index_to_world
        return np.asarray(ijk, float) @ m[:3, :3].T + m[:3, 3]

    def pixel_to_scene(self, slice_index: float) -> np.ndarray:
        """2x3 affine taking (col, row, 1) of a cut to scene mm (u, v). Exact for oblique volumes."""
        p0 = self.world(self.pixel_to_index(0.0, 0.0, slice_index))
        pc = self.world(self.pixel_to_index(1.0, 0.0, slice_index)) - p0
        pr = self.world(self.pixel_to_index(0.0, 1.0, slice_index)) - p0
        return np.array(
            [[pc @ self.u, pr @ self.u, p0 @ self.u], [pc @ self.v, pr @ self.v, p0 @ self.v]]
        )

    def scene_to_world(self, uv: tuple[float, float], slice_index: float) -> np.ndarray:
        """A scene point (u, v mm) on the cut at ``slice_index`` -> LPS point on that cut's plane."""
        a = self.pixel_to_scene(slice_index)
        cr = np.linalg.solve(a[:, :2], np.asarray(uv, float) - a[:, 2])
        return self.world(self.pixel_to_index(cr[0], cr[1], slice_index))

    def slice_of_world(self, xyz: np.ndarray) -> float:
        """Continuous slice coordinate of a world point."""
        m_inv = np.linalg.inv(self.index_to_world)
        ijk = m_inv[:3, :3] @ np.asarray(xyz, float) + m_inv[:3, 3]
        return float(ijk[self.slice_axis])

    def nearest_slice(self, xyz: np.ndarray) -> int | None:
        """Slice index nearest to a world point, or None when the point lies outside the volume."""
        s = int(np.rint(self.slice_of_world(xyz)))
        return s if 0 <= s < self.slice_count else None

    def scene_of_world(self, xyz: np.ndarray) -> tuple[float, float]:
        p = np.asarray(xyz, float)
        return float(p @ self.u), float(p @ self.v)

    def index_sign_along_n(self) -> int:
        """+1 when the slice index grows along the viewing normal ``n`` (a volume stored in patient axis order),
        -1 when it falls (e.g. a series stored head-first): keys and wheel step in patient directions with it."""
        step = self.index_to_world[:3, self.slice_axis]
        return 1 if float(step @ self.n) >= 0 else -1

    def end_slice(self, toward_n: bool) -> int:
        """Index of the cut at the end of the volume furthest along ``+n`` (toward_n) or ``-n``: the patient-
        order last or first slice, whatever order the slices are stored in."""
        last = self.slice_count - 1
        return last if toward_n == (self.index_sign_along_n() > 0) else 0

    def slice_spacing_mm(self) -> float:
        """Distance between neighbouring cuts along the viewing normal."""
        step = np.zeros(3)
        step[self.slice_axis] = 1.0
        return float(abs((self.index_to_world[:3, :3] @ step) @ self.n))


def slice_geometry(volume: Volume, orientation: Orientation) -> SliceGeometry:
    """Choose voxel axes for an orientation: the one closest to the normal is cut across."""
    u, v, n = display_frame(orientation)
    d = volume.direction
    slice_axis = int(np.argmax(np.abs(n @ d)))
    rest = [a for a in range(3) if a != slice_axis]
    if abs(u @ d[:, rest[0]]) >= abs(u @ d[:, rest[1]]):
        col_axis, row_axis = rest
    else:
        row_axis, col_axis = rest
    return SliceGeometry(
        col_axis=col_axis,
        row_axis=row_axis,
        slice_axis=slice_axis,
        col_flip=bool(u @ d[:, col_axis] < 0),
        row_flip=bool(v @ d[:, row_axis] < 0),
        size_ijk=volume.size_ijk,
        index_to_world=volume.index_to_world_matrix,
        u=u,
        v=v,
        n=n,
    )


def extract_slice(volume: Volume, geom: SliceGeometry, slice_index: int) -> np.ndarray:
    """The cut at ``slice_index`` as a (rows, cols) view of the voxels (no copy, no interpolation)."""
    if not 0 <= slice_index < geom.slice_count:
        raise IndexError(f"slice {slice_index} outside 0..{geom.slice_count - 1}")
    # array axes are (k, j, i) = voxel axes (2, 1, 0)
    index: list[slice | int] = [slice(None)] * 3
    index[2 - geom.slice_axis] = slice_index
    cut = volume.array[tuple(index)]
    remaining = [a for a in (2, 1, 0) if a != geom.slice_axis]  # voxel axes in array order
    if remaining.index(geom.row_axis) != 0:
        cut = cut.T
    if geom.row_flip:
        cut = cut[::-1, :]
    if geom.col_flip:
        cut = cut[:, ::-1]
    return cut


def missing_in_cut(volume: Volume, geom: SliceGeometry, slice_index: int) -> np.ndarray | None:
    """Pixels of the cut at ``slice_index`` that lie on slices missing from the volume (True there), shaped as
    :func:`extract_slice`'s image; None when the cut holds none."""
    if not volume.missing_slices:
        return None
    rows, cols = geom.image_shape
    k_axis = 2  # voxel axis k (the slices as acquired)
    if geom.slice_axis == k_axis:
        return np.ones((rows, cols), bool) if volume.is_missing_slice(slice_index) else None
    along = np.zeros(geom.size_ijk[k_axis], bool)
    along[list(volume.missing_slices)] = True
    if geom.row_axis == k_axis:
        line = along[::-1] if geom.row_flip else along
        return np.broadcast_to(line[:, None], (rows, cols)).copy()
    line = along[::-1] if geom.col_flip else along
    return np.broadcast_to(line[None, :], (rows, cols)).copy()
