"""Put the phases of a study onto the detector's working grid: the reference phase's field of view, with
a fixed in-plane pixel size and slice spacing (config.pixel_mm, config.slice_mm), HU windowed to 8 bit.

Geometry: working pixel (iw, jw) covers the same area fraction of the reference field of view as in the
reference grid, i.e. reference index i = (iw + 0.5) * X / nx - 0.5 (boxes scale by nx / X); working slice
kw sits at reference slice k = kw * slice_mm / sz (slice 0 on slice 0). A phase on the reference grid is
resampled directly; a phase on another grid is sampled at the world positions of the working voxels
(trilinear, edge values outside its field of view). No registration happens here: phases are taken as
they are positioned in patient coordinates (see inference.py for why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.plugin_api.errors import ModelInputError
from .config import DetectorConfig

AIR_HU = -1000.0


class InvalidInputError(ModelInputError):
    """A volume the detector cannot use (only NaNs, no reference phase, ...)."""


@dataclass(frozen=True)
class WorkingGrid:
    """How the working grid (nz, ny, nx) maps onto the reference grid (Z, Y, X)."""

    ref_shape: tuple[int, int, int]
    shape: tuple[int, int, int]
    z_ratio: float  # reference slices per working slice (slice_mm / reference sz)

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Working pixels per reference pixel along x and y."""
        return self.shape[2] / self.ref_shape[2], self.shape[1] / self.ref_shape[1]

    def ref_slice(self, kw: float) -> float:
        return kw * self.z_ratio

    def work_slice(self, k: float) -> float:
        return k / self.z_ratio

    def box_to_work(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        sx, sy = self.scale_xy
        return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy

    def box_to_ref(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        sx, sy = self.scale_xy
        return box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy

    def slices_to_ref(self, k0: int, k1: int) -> tuple[int, int]:
        """Reference slices whose centres lie within working slices k0..k1 (at least the nearest one)."""
        last = self.ref_shape[0] - 1
        z0 = max(0, math.ceil((k0 - 0.5) * self.z_ratio - 1e-6))
        z1 = min(last, math.floor((k1 + 0.5) * self.z_ratio + 1e-6))
        if z1 < z0:
            z = min(last, max(0, round(self.ref_slice((k0 + k1) / 2))))
            return z, z
        return z0, z1


def working_grid(reference: Volume, config: DetectorConfig) -> WorkingGrid:
    z, y, x = reference.array.shape
    sx, sy, sz = reference.spacing
    ny = max(1, round(y * sy / config.pixel_mm))
    nx = max(1, round(x * sx / config.pixel_mm))
    nz = 1 if z == 1 else int(math.floor((z - 1) * sz / config.slice_mm + 1e-6)) + 1
    return WorkingGrid((z, y, x), (nz, ny, nx), config.slice_mm / sz)


def window_to_uint8(hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    lo, hi = window
    return np.clip((hu - lo) * (255.0 / (hi - lo)), 0, 255).round().astype(np.uint8)


def _clean_hu(volume: Volume, label: str) -> np.ndarray:
    arr = volume.array
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.any():
            raise InvalidInputError(f"the {label} phase holds no finite voxel (only NaN/inf): cannot detect on it")
        if not finite.all():
            arr = np.where(finite, arr, AIR_HU)  # unknown voxels read as air, never as tissue
    return arr.astype(np.float32, copy=False)


def resample_onto_grid(arr: np.ndarray, grid: WorkingGrid) -> np.ndarray:
    """In-plane: bilinear with area-aligned pixel centres (torch, align_corners=False); z: linear."""
    nz, ny, nx = grid.shape
    z = arr.shape[0]
    kz = np.array([grid.ref_slice(k) for k in range(nz)]) if nz > 1 else np.zeros(1)
    lo = np.clip(np.floor(kz).astype(int), 0, z - 1)
    hi = np.clip(lo + 1, 0, z - 1)
    t = np.clip(kz - lo, 0.0, 1.0).astype(np.float32)[:, None, None]
    stack = arr[lo] * (1 - t) + arr[hi] * t
    out = F.interpolate(torch.from_numpy(np.ascontiguousarray(stack))[:, None], size=(ny, nx), mode="bilinear",
                        align_corners=False, antialias=(ny < arr.shape[1]))
    return out[:, 0].numpy()


def _resample_by_world(moving: Volume, arr: np.ndarray, reference: Volume, grid: WorkingGrid) -> np.ndarray:
    nz, ny, nx = grid.shape
    sx, sy = grid.scale_xy
    iw = (np.arange(nx) + 0.5) / sx - 0.5
    jw = (np.arange(ny) + 0.5) / sy - 0.5
    out = np.empty(grid.shape, np.float32)
    jj, ii = np.meshgrid(jw, iw, indexing="ij")
    for kw in range(nz):
        ref_idx = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, grid.ref_slice(kw))], axis=1)
        idx = moving.world_to_index(reference.index_to_world(ref_idx))  # (N, 3) as i, j, k
        coords = idx[:, ::-1].T  # k, j, i
        out[kw] = ndimage.map_coordinates(arr, coords, order=1, mode="nearest").reshape(ny, nx)
    return out


def prepare_phases(volumes: Mapping[PhaseKind, Volume], reference: PhaseKind, config: DetectorConfig,
                   cancelled: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray, WorkingGrid]:
    """(uint8 array (P, nz, ny, nx) in config.phases order, present (P,) bool, grid). Missing phases are
    zeros and present=False. The reference phase must be given."""
    if reference not in volumes:
        raise InvalidInputError(f"the reference phase '{reference.value}' is not among the given phases "
                                f"({', '.join(k.value for k in volumes) or 'none'})")
    ref = volumes[reference]
    _clean_hu(ref, reference.value)  # refuse a NaN-only reference even when the model does not read it
    grid = working_grid(ref, config)
    out = np.zeros((len(config.phases), *grid.shape), np.uint8)
    present = np.zeros(len(config.phases), bool)
    for n, kind in enumerate(config.phase_kinds):
        if kind not in volumes:
            continue
        if cancelled is not None and cancelled():
            raise InterruptedError("cancelled")
        vol = volumes[kind]
        arr = _clean_hu(vol, kind.value)
        hu = resample_onto_grid(arr, grid) if vol.same_grid(ref) else _resample_by_world(vol, arr, ref, grid)
        out[n] = window_to_uint8(hu, config.hu_window)
        present[n] = True
    if not present.any():
        raise InvalidInputError(f"none of the model's phases ({', '.join(config.phases)}) is in the study "
                                f"(it has {', '.join(k.value for k in volumes)})")
    return out, present, grid
