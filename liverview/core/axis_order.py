"""Patient axis order: the same voxels as a volume stores them, re-laid so the array reads [z, y, x] in LPS
(axial slices from feet to head, rows from anterior to posterior, columns from the patient's right to left).

Models learn on volumes stored that way (every training study the project makes is); a scan stored otherwise (the
LiTS volumes: rows and slices flipped; a sagittal acquisition: axes permuted) must be re-laid before a network sees
it, else it reads an upside-down or sideways image, and its answers must go back to the stored grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liverview.core.volume import Volume


@dataclass(frozen=True)
class AxisOrder:
    """How a volume's array [k, j, i] becomes the patient-ordered array [z, y, x]: ``perm`` of the array axes,
    then flips of the result's axes."""

    perm: tuple[int, int, int]
    flip: tuple[bool, bool, bool]

    @classmethod
    def of(cls, direction: np.ndarray) -> "AxisOrder":
        """Each array axis goes to the patient axis it is closest to; a direction so oblique that two array axes
        are closest to the same patient axis keeps the stored order."""
        d = np.asarray(direction, float)
        world_of = {2 - a: int(np.argmax(np.abs(d[:, a]))) for a in range(3)}  # array axis -> world axis (x=0)
        if sorted(world_of.values()) != [0, 1, 2]:
            return cls((0, 1, 2), (False, False, False))
        array_of_world = {w: a for a, w in world_of.items()}
        perm = tuple(array_of_world[w] for w in (2, 1, 0))  # output axes z, y, x
        flip = tuple(bool(d[w, 2 - array_of_world[w]] < 0) for w in (2, 1, 0))
        return cls(perm, flip)  # type: ignore[arg-type]

    @property
    def is_identity(self) -> bool:
        return self.perm == (0, 1, 2) and not any(self.flip)

    @property
    def keeps_slices(self) -> bool:
        """The stored slices stay slices (only flips, or a swap of rows and columns): a box drawn on a patient
        ordered slice is a box on a stored slice."""
        return self.perm[0] == 0

    @property
    def inverse(self) -> "AxisOrder":
        """The order that takes the patient-ordered array back to the stored one."""
        inv_perm = tuple(int(n) for n in np.argsort(self.perm))
        inv_flip = [False] * 3
        for n, a in enumerate(self.perm):
            inv_flip[a] = self.flip[n]
        return AxisOrder(inv_perm, tuple(inv_flip))  # type: ignore[arg-type]

    def forward(self, array: np.ndarray) -> np.ndarray:
        out = np.transpose(array, self.perm)
        return out[tuple(slice(None, None, -1) if f else slice(None) for f in self.flip)]

    def backward(self, array: np.ndarray) -> np.ndarray:
        out = array[tuple(slice(None, None, -1) if f else slice(None) for f in self.flip)]
        return np.transpose(out, np.argsort(self.perm))

    def spacing_zyx(self, spacing_xyz: tuple[float, float, float]) -> tuple[float, float, float]:
        per_array_axis = (spacing_xyz[2], spacing_xyz[1], spacing_xyz[0])  # k, j, i
        return tuple(per_array_axis[a] for a in self.perm)  # type: ignore[return-value]

    def edges_to_stored(self, points_zyx: np.ndarray, stored_shape: tuple[int, int, int]) -> np.ndarray:
        """Continuous voxel-edge coordinates (N, 3) as [z, y, x] of the patient-ordered array -> the same
        points as [k, j, i] edge coordinates of the stored array (0 at the first voxel's outer edge, the axis'
        length at the last one's)."""
        p = np.atleast_2d(np.asarray(points_zyx, float))
        out = np.empty_like(p)
        for n, a in enumerate(self.perm):  # patient-ordered axis n is stored axis a, maybe reversed
            out[:, a] = stored_shape[a] - p[:, n] if self.flip[n] else p[:, n]
        return out


def in_patient_order(volume: Volume) -> tuple[Volume, AxisOrder]:
    """The volume re-laid in patient axis order (a view of its voxels, the same world positions) and the order
    used; the volume itself when it is stored that way already."""
    order = AxisOrder.of(volume.direction)
    if order.is_identity:
        return volume, order
    array = order.forward(volume.array)
    spacing_xyz = tuple(reversed(order.spacing_zyx(volume.spacing)))
    first = np.zeros(3)  # the stored index (i, j, k) of the re-laid array's first voxel
    direction = np.empty((3, 3))
    for n, a in enumerate(order.perm):  # output array axis n (z, y, x) <- stored array axis a
        stored_index_axis, out_index_axis = 2 - a, 2 - n
        sign = -1.0 if order.flip[n] else 1.0
        first[stored_index_axis] = volume.array.shape[a] - 1 if order.flip[n] else 0
        direction[:, out_index_axis] = sign * volume.direction[:, stored_index_axis]
    missing = ()
    if order.keeps_slices and volume.missing_slices:
        last = volume.array.shape[0] - 1
        missing = tuple(last - k if order.flip[0] else k for k in volume.missing_slices)
    relaid = Volume(array, spacing_xyz, tuple(volume.index_to_world(first)), direction, volume.name, missing)
    return relaid, order
