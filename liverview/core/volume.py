"""A voxel array with its place in the patient: spacing, origin and direction in LPS millimetres.

Conventions (the same as SimpleITK / DICOM):
- ``array`` is indexed ``[k, j, i]`` (slice, row, column), as ``SimpleITK.GetArrayFromImage`` returns it.
- An index is written ``(i, j, k)``; ``world = origin + direction @ (spacing * ijk)``.
- ``direction`` columns are the unit vectors of the i, j and k axes in patient LPS coordinates.
- ``missing_slices`` lists the k of slices that were never acquired (a DICOM series with slices missing is
  put on its true, regular grid): their voxels are filled from the neighbours so that computations run, and
  every view shows them as missing, never as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class GeometryError(ValueError):
    """The geometry of a volume is not usable (zero spacing, singular direction, ...)."""


@dataclass(eq=False)
class Volume:
    """A 3D image (a 2D image is a volume with one slice) in patient coordinates."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    name: str = ""
    missing_slices: tuple[int, ...] = ()  # k of slices with no acquired data (filled, never shown as data)

    def __post_init__(self) -> None:
        if self.array.ndim == 2:
            self.array = self.array[np.newaxis]
        if self.array.ndim != 3:
            raise GeometryError(f"a volume needs a 2D or 3D array, got shape {self.array.shape}")
        if 0 in self.array.shape:
            raise GeometryError(f"volume '{self.name}' is empty (shape {self.array.shape})")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if not all(np.isfinite(s) and s > 0 for s in self.spacing):
            raise GeometryError(f"volume '{self.name}' has invalid spacing {self.spacing}")
        if not np.all(np.isfinite(self.origin)):
            raise GeometryError(f"volume '{self.name}' has a non-finite origin {self.origin}")
        if abs(np.linalg.det(self.direction)) < 1e-6:
            raise GeometryError(f"volume '{self.name}' has a singular direction matrix")
        missing = tuple(sorted({int(k) for k in self.missing_slices}))
        if missing and not (0 <= missing[0] and missing[-1] < self.array.shape[0]):
            raise GeometryError(f"volume '{self.name}' marks slices {missing} missing; it has {self.array.shape[0]}")
        if len(missing) == self.array.shape[0]:
            raise GeometryError(f"volume '{self.name}' marks every slice missing")
        self.missing_slices = missing

    def is_missing_slice(self, k: int) -> bool:
        """True when slice k holds no acquired data (its voxels are filled in, not measured)."""
        return k in self.missing_slices

    @property
    def acquired_slices(self) -> tuple[int, ...]:
        """The k of every slice that holds acquired data, in order (all of them unless some are missing)."""
        missing = set(self.missing_slices)
        return tuple(k for k in range(self.array.shape[0]) if k not in missing)

    def nearest_acquired_slice(self, k: float) -> int:
        """The acquired slice nearest to (continuous) slice index k, inside the volume; the lower one on a tie."""
        acquired = np.asarray(self.acquired_slices)
        within = float(np.clip(k, 0, self.array.shape[0] - 1))
        return int(acquired[np.argmin(np.abs(acquired - within))])  # the first of equals: the lower

    # --- shape -----------------------------------------------------------------------------
    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Number of voxels along i (columns), j (rows) and k (slices)."""
        k, j, i = self.array.shape
        return i, j, k

    @property
    def is_2d(self) -> bool:
        return self.array.shape[0] == 1

    # --- transforms ------------------------------------------------------------------------
    @property
    def index_to_world_matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix taking (i, j, k, 1) to (x, y, z, 1) in LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction @ np.diag(self.spacing)
        m[:3, 3] = self.origin
        return m

    @property
    def world_to_index_matrix(self) -> np.ndarray:
        return np.linalg.inv(self.index_to_world_matrix)

    def index_to_world(self, ijk: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Continuous index (i, j, k) -> LPS mm. Accepts one point or an (N, 3) array."""
        p = np.asarray(ijk, dtype=float)
        m = self.index_to_world_matrix
        return p @ m[:3, :3].T + m[:3, 3]

    def world_to_index(self, xyz: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """LPS mm -> continuous index (i, j, k). Accepts one point or an (N, 3) array."""
        p = np.asarray(xyz, dtype=float)
        m = self.world_to_index_matrix
        return p @ m[:3, :3].T + m[:3, 3]

    def contains_index(self, ijk: np.ndarray) -> bool:
        """True when the nearest voxel of a continuous index lies inside the array."""
        r = np.rint(np.asarray(ijk, dtype=float)).astype(int)
        return bool(np.all(r >= 0) and np.all(r < np.array(self.size_ijk)))

    def value_at_world(self, xyz: np.ndarray | tuple[float, float, float]) -> float | None:
        """Nearest-voxel value at a physical point, or None outside the volume or on a missing slice."""
        ijk = self.world_to_index(xyz)
        if not self.contains_index(ijk):
            return None
        i, j, k = np.rint(ijk).astype(int)
        if k in self.missing_slices:
            return None
        return float(self.array[k, j, i])

    def world_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned LPS box (min corner, max corner) around all voxel centres."""
        i, j, k = self.size_ijk
        corners = np.array([[a, b, c] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)], float)
        w = self.index_to_world(corners)
        return w.min(axis=0), w.max(axis=0)

    def same_grid(self, other: "Volume") -> bool:
        """Whether voxel (i, j, k) of both volumes is the same point in the patient (shape, spacing, origin and
        direction equal up to rounding in the files)."""
        return (self.array.shape == other.array.shape and np.allclose(self.spacing, other.spacing, atol=1e-4)
                and np.allclose(self.origin, other.origin, atol=1e-3)
                and np.allclose(self.direction, other.direction, atol=1e-5))

    def center_world(self) -> np.ndarray:
        i, j, k = self.size_ijk
        return self.index_to_world(((i - 1) / 2, (j - 1) / 2, (k - 1) / 2))

    def opening_world(self) -> np.ndarray:
        """Where a viewer opens this volume: its centre, moved to the nearest acquired slice when the series
        misses slices (a study should not open on a hatched gap)."""
        if not self.missing_slices:
            return self.center_world()
        i, j, k = self.size_ijk
        return self.index_to_world(((i - 1) / 2, (j - 1) / 2, self.nearest_acquired_slice((k - 1) / 2)))

    def with_array(self, array: np.ndarray, name: str | None = None,
                   missing_slices: tuple[int, ...] | None = None) -> "Volume":
        """A volume on the same grid holding other voxels (a mask, a resampled copy, ...); it keeps this
        volume's missing slices unless told which of its own are missing."""
        if array.shape != self.array.shape:
            raise GeometryError(f"array shape {array.shape} does not match grid {self.array.shape}")
        missing = self.missing_slices if missing_slices is None else missing_slices
        return Volume(array, self.spacing, self.origin, self.direction.copy(), name or self.name, missing)
