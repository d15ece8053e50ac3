"""Multi-view crops of a 3D proposal: axial, coronal and sagittal planes through its centre.

Each view is a square field of view in mm (isotropic, whatever the slice spacing), half-width = half the
proposal's largest extent + ``pad_px`` reference pixels, resampled to ``crop_px`` x ``crop_px`` by
trilinear interpolation at world points, so a phase on another grid is read where the reference is.
Channels are the configured phases, windowed to [0, 1]; a phase the study lacks is all zeros.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy import ndimage

from liverview.core.axis_order import in_patient_order
from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D
from .config import LpcConfig

VIEWS: tuple[str, ...] = ("axial", "coronal", "sagittal")
_AIR_HU = -1000.0


def view_planes(proposal: Proposal3D, reference: Volume, config: LpcConfig) -> np.ndarray:
    """World points (3 views, S, S, 3) in LPS mm of the three crops of ``proposal``."""
    x0, y0, x1, y1 = proposal.box
    z0, z1 = proposal.z_range
    sx, sy, sz = reference.spacing
    centre = reference.index_to_world(((x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5, (z0 + z1) / 2))
    extent = max((x1 - x0) * sx, (y1 - y0) * sy, (z1 - z0 + 1) * sz)
    half = max(extent / 2 + config.pad_px * min(sx, sy), config.min_half_mm)
    n = config.crop_px
    u = ((np.arange(n) + 0.5) / n * 2 - 1) * half  # pixel centres across the field of view
    # The patient's axes as the scan lies closest to them (liverview.core.axis_order), not as it is stored: a
    # scan stored with rows or slices reversed (LiTS) or sideways must give the same upright crops as training's.
    patient_axes = in_patient_order(reference)[0].direction
    ax_i, ax_j, ax_k = (patient_axes[:, c] for c in range(3))
    planes = []
    for rows_axis, cols_axis in ((ax_j, ax_i), (ax_k, ax_i), (ax_k, ax_j)):  # axial, coronal, sagittal
        # rows run along +j (axial) or -k (coronal/sagittal: head at the top)
        sign = 1.0 if rows_axis is ax_j else -1.0
        pts = centre + sign * u[:, None, None] * rows_axis + u[None, :, None] * cols_axis
        planes.append(pts)
    return np.stack(planes)


def _windowed(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    lo, hi = window
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def multiview_crops(volumes: Mapping[PhaseKind, Volume], reference: PhaseKind, proposals: Sequence[Proposal3D],
                    config: LpcConfig) -> np.ndarray:
    """Crops (N, 3 views, phases, S, S), float32 in [0, 1], for every proposal."""
    if reference not in volumes:
        raise ValueError(f"the reference phase {reference.value} is not among the volumes given")
    ref = volumes[reference]
    n, s, c = len(proposals), config.crop_px, len(config.phases)
    out = np.zeros((n, len(VIEWS), c, s, s), np.float32)
    if n == 0:
        return out
    points = np.stack([view_planes(p, ref, config) for p in proposals])  # (N, 3, S, S, 3)
    flat = points.reshape(-1, 3)
    for ch, kind in enumerate(config.phase_kinds):
        vol = volumes.get(kind)
        if vol is None:
            continue
        arr = np.nan_to_num(vol.array.astype(np.float32, copy=False), nan=_AIR_HU)
        ijk = vol.world_to_index(flat)
        values = ndimage.map_coordinates(arr, [ijk[:, 2], ijk[:, 1], ijk[:, 0]], order=1, mode="constant",
                                         cval=_AIR_HU)
        out[:, :, ch] = _windowed(values, config.hu_window).reshape(n, len(VIEWS), s, s)
    return out
