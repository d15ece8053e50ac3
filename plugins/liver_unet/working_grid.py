"""The network's working grid: the patient's axes in a fixed order (axial slices, rows from anterior to
posterior, columns from the patient's right to left, as the training studies lie), square in-plane pixels of
``pixel_mm``, HU in a fixed window scaled to 0..1. Masks go back by linear interpolation of the probability."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

HU_WINDOW = (-200.0, 300.0)
CHUNK_SLICES = 32  # slices resampled at once (bounds the full-resolution float copies)


def working_shape(shape_zyx: tuple[int, ...], spacing_zyx: tuple[float, float, float], pixel_mm: float
                  ) -> tuple[int, int]:
    return (max(1, int(round(shape_zyx[1] * spacing_zyx[1] / pixel_mm))),
            max(1, int(round(shape_zyx[2] * spacing_zyx[2] / pixel_mm))))


def _resize(stack: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear, pixel-area aligned (scipy's grid_mode), slice by slice."""
    with torch.inference_mode():
        t = torch.from_numpy(np.ascontiguousarray(stack, np.float32))[:, None]
        return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


def to_working(hu: np.ndarray, spacing_zyx: tuple[float, float, float], pixel_mm: float) -> np.ndarray:
    """float32 [z, y', x'] in 0..1 from a patient-ordered HU array: slices resampled to ``pixel_mm`` pixels,
    HU windowed; NaN reads as air. Works through CHUNK_SLICES slices at a time, so a long series never holds a
    full-resolution float copy."""
    size = working_shape(hu.shape, spacing_zyx, pixel_mm)
    out = np.empty((hu.shape[0], *size), np.float32)
    lo, hi = HU_WINDOW
    for k0 in range(0, hu.shape[0], CHUNK_SLICES):
        chunk = np.nan_to_num(np.asarray(hu[k0:k0 + CHUNK_SLICES], np.float32), nan=-1000.0, posinf=-1000.0,
                              neginf=-1000.0)
        out[k0:k0 + len(chunk)] = np.clip((_resize(chunk, size) - lo) / (hi - lo), 0.0, 1.0)
    return out


def label_to_working(mask: np.ndarray, spacing_zyx: tuple[float, float, float], pixel_mm: float) -> np.ndarray:
    return (_resize(mask.astype(np.float32), working_shape(mask.shape, spacing_zyx, pixel_mm)) >= 0.5).astype(np.uint8)


def input_grid_mask(prob: np.ndarray, shape: tuple[int, int, int], threshold: float = 0.5) -> np.ndarray:
    """bool on the patient-ordered input grid ``shape``: the working-grid probability [z, y', x'] resampled
    (bilinear) and thresholded, CHUNK_SLICES slices at a time."""
    out = np.empty(shape, bool)
    for k0 in range(0, shape[0], CHUNK_SLICES):
        out[k0:k0 + CHUNK_SLICES] = _resize(prob[k0:k0 + CHUNK_SLICES], (shape[1], shape[2])) >= threshold
    return out


def neighbour_stack(work: np.ndarray, k: int, n: int = 3) -> np.ndarray:
    """Slices k - n//2 .. k + n//2 of ``work`` (edge slices repeated): the network's input for slice k."""
    idx = np.clip(np.arange(k - n // 2, k + n // 2 + 1), 0, work.shape[0] - 1)
    return work[idx]
