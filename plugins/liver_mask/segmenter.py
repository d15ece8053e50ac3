"""A classical liver mask for contrast or plain CT (the LiverSegmenter protocol of liverview.plugin_api).

Steps, on a working grid of about 2 mm pixels (the mask is mapped back to the reference grid at the end):
1. body = tissue above -400 HU, largest component;
2. the liver's intensity: each of the highest peaks of the smoothed soft-tissue histogram (-20..250 HU)
   in the patient's right half of the body is tried, and the one whose band (3.) holds the largest
   thick component wins: the liver is the thickest organ on the right, while a scan reaching the
   pelvis may hold more muscle voxels than liver voxels. So it adapts to the phase and the scanner;
3. candidates = voxels within a band around that intensity; an erosion by ``cut_mm`` cuts the thin
   bridges to the stomach, kidney, heart and spleen, and the largest component on the right side is kept;
4. it is grown back inside the band (geodesic dilation), closed by ``close_mm`` and filled slice by
   slice, so hypodense tumours and vessels inside the liver count as liver, as in LiTS/IRCADb labels.
A stack thinner than the erosion ball (one key slice, a few slices) runs the same steps slice by slice and is
refused where the liver it finds is small on every slice (``min_slice_area_cm2``).
No weights: nothing is learnt, so nothing can overfit; the parameters below are the whole model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
from scipy import ndimage
from scipy.signal import find_peaks

from liverview.core.study import PhaseKind, phase_to_read
from liverview.core.volume import Volume
from liverview.plugin_api.errors import Cancelled, ModelInputError



@dataclass(frozen=True)
class LiverMaskParams:
    pixel_mm: float = 2.0  # working in-plane pixel
    slice_mm: float = 2.5  # working slice spacing (thinner slices are averaged)
    band_below_hu: float = 45.0  # candidates: mode - below .. mode + above
    band_above_hu: float = 45.0
    cut_mm: float = 7.0  # erosion radius that separates the liver from touching organs
    close_mm: float = 10.0  # closing radius that takes in tumours and vessels at the liver's edge
    min_volume_ml: float = 100.0  # a smaller result means the method failed: say so
    # The same check on a thin stack (a key slice): the liver's area on its largest slice. Stricter, since
    # on one slice the method fails where the liver is cut small (dome, tip): there it took heart or muscle
    # (IRCADb 17, every 3rd slice: every mask under 50 cm2 wrong, every one over 60 cm2 right, Dice >= 0.83).
    min_slice_area_cm2: float = 70.0
    candidates: int = 3  # histogram peaks tried as the liver's intensity


class LiverMaskSegmenter:
    name = "liver_mask/0.1 (classical)"

    def __init__(self, params: LiverMaskParams = LiverMaskParams()) -> None:
        self.params = params

    def segment(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
                progress: Callable[[float], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> Volume:
        if reference not in volumes:
            raise ModelInputError(f"the study has no {reference.value} phase to segment on")
        ref = volumes[reference]
        phase = phase_to_read(volumes, reference)  # its mask is returned on the reference grid
        mask = liver_mask(volumes[phase], self.params, progress, cancelled)
        return Volume(mask, ref.spacing, ref.origin, ref.direction, name="liver")


def _check(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled("liver mask cancelled")


def _ball(radius_vox: tuple[float, float, float]) -> np.ndarray:
    rz, ry, rx = (max(r, 0.5) for r in radius_vox)
    nz, ny, nx = (int(np.ceil(r)) for r in (rz, ry, rx))
    z, y, x = np.ogrid[-nz:nz + 1, -ny:ny + 1, -nx:nx + 1]
    return (z / rz) ** 2 + (y / ry) ** 2 + (x / rx) ** 2 <= 1.0


def _element(radius_mm: float, spacing: tuple[float, float, float], flat: bool) -> np.ndarray:
    """A ball of ``radius_mm`` on the (z, y, x) ``spacing``; a one-slice disk when ``flat``."""
    ball = _ball(tuple(radius_mm / s for s in spacing))
    return ball[ball.shape[0] // 2][None] if flat else ball


def _fill_slices(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    for k in range(mask.shape[0]):
        if mask[k].any():
            out[k] = ndimage.binary_fill_holes(mask[k])
    return out


def liver_mask(volume: Volume, params: LiverMaskParams = LiverMaskParams(),
               progress: Callable[[float], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> np.ndarray:
    """uint8 0/1 liver mask on ``volume``'s grid."""
    hu = np.asarray(volume.array, np.float32)
    if hu.ndim != 3 or min(hu.shape) < 1 or not np.isfinite(hu).any():
        raise ModelInputError("the volume holds no finite values")
    sx, sy, sz = volume.spacing
    fz = max(1, int(round(params.slice_mm / sz)))
    fy, fx = max(1, int(round(params.pixel_mm / sy))), max(1, int(round(params.pixel_mm / sx)))
    nz, ny, nx = (hu.shape[0] // fz) * fz, (hu.shape[1] // fy) * fy, (hu.shape[2] // fx) * fx
    if nz == 0:
        fz, nz = 1, hu.shape[0]
    work = np.nan_to_num(hu[:nz, :ny, :nx], nan=-1000.0)
    work = work.reshape(nz // fz, fz, ny // fy, fy, nx // fx, fx).mean(axis=(1, 3, 5))  # block means
    spacing = (sz * fz, sy * fy, sx * fx)  # z, y, x
    work = ndimage.median_filter(work, size=(1, 3, 3))
    if progress:
        progress(0.2)
    _check(cancelled)

    body_labels, n = ndimage.label(work > -400)
    if n == 0:
        raise ModelInputError("no body found (nothing above -400 HU)")
    body = body_labels == np.argmax(np.bincount(body_labels.ravel())[1:]) + 1
    # patient's right: smaller world x (LPS); decide per column through the direction matrix
    cols = np.arange(work.shape[2]) * fx
    x_world = volume.origin[0] + volume.direction[0, 0] * cols * sx
    body_cols = np.flatnonzero(body.any(axis=(0, 1)))
    centre_x = float(np.median(x_world[body_cols]))
    right = (x_world < centre_x)[None, None, :]
    tissue = body & right & (work > -20) & (work < 250)
    if tissue.sum() < 100:
        raise ModelInputError("too little soft tissue on the patient's right to find the liver")
    hist, edges = np.histogram(work[tissue], bins=135, range=(-20, 250))
    hist = ndimage.gaussian_filter1d(hist.astype(float), 2)
    peaks, _ = find_peaks(hist, prominence=0.05 * hist.max())
    peaks = sorted(peaks if len(peaks) else [int(np.argmax(hist))], key=lambda i: -hist[i])[:params.candidates]
    if progress:
        progress(0.3)
    # A stack thinner than the erosion ball (a key slice, a few slices) is cut and closed slice by slice: a
    # 3D ball would erode it away from above and below, where nothing was scanned.
    thin = work.shape[0] < 2 * int(np.ceil(params.cut_mm / spacing[0])) + 1
    cut = _element(params.cut_mm, spacing, thin)
    best = None
    for i in peaks:
        _check(cancelled)
        mode = float(edges[i] + 1.0)
        band = body & (work > mode - params.band_below_hu) & (work < mode + params.band_above_hu)
        core = ndimage.binary_erosion(band, cut)
        labels, n = ndimage.label(core)
        if n == 0:
            continue
        keep = _mostly_right(labels, n, right)
        sizes = np.bincount(labels.ravel(), minlength=n + 1) * keep
        if best is None or sizes.max() > best[0]:
            best = (int(sizes.max()), band, labels == int(np.argmax(sizes)))
    if best is None or best[0] == 0:
        raise ModelInputError("no liver-like region found on the patient's right")
    _, band, seed = best
    if progress:
        progress(0.6)
    # grow back into the band, at most the erosion radius (geodesic dilation)
    grown = ndimage.binary_dilation(seed, cut, mask=band) | seed
    if progress:
        progress(0.7)
    _check(cancelled)
    close = _element(params.close_mm, spacing, thin)
    pad = tuple(((c // 2) + 1,) * 2 for c in close.shape)
    closed = ndimage.binary_closing(np.pad(grown, pad), close)[tuple(slice(p[0], -p[0]) for p in pad)]
    liver = _fill_slices(closed & body)
    if thin:
        area_cm2 = liver.sum(axis=(1, 2)).max() * spacing[1] * spacing[2] / 100.0
        if area_cm2 < params.min_slice_area_cm2:
            raise ModelInputError(f"the liver found covers only {area_cm2:.0f} cm2 on its largest slice: the "
                                  "slices may not show the liver (or not enough of it)")
    else:
        volume_ml = liver.sum() * np.prod(spacing) / 1000.0
        if volume_ml < params.min_volume_ml:
            raise ModelInputError(f"the liver found is only {volume_ml:.0f} mL: the study may not show the liver "
                                  "(or not enough of it)")
    # back to the input grid: repeat blocks, pad the cut-off edge with the last row/column/slice
    full = liver.repeat(fz, 0).repeat(fy, 1).repeat(fx, 2)
    full = np.pad(full, [(0, hu.shape[i] - full.shape[i]) for i in range(3)], mode="edge")
    if progress:
        progress(1.0)
    return full.astype(np.uint8)


def _mostly_right(labels: np.ndarray, n: int, right: np.ndarray) -> np.ndarray:
    """Per component (index = label): True when most of it lies on the patient's right (a large left
    lobe may cross the midline)."""
    on_right = np.bincount(labels[np.broadcast_to(right, labels.shape)].ravel(), minlength=n + 1)
    total = np.bincount(labels.ravel(), minlength=n + 1)
    keep = on_right * 2 > total
    keep[0] = False
    return keep


def load_segmenter(weights=None, device: str = "auto") -> LiverMaskSegmenter:
    """No weights and no device: the method is classical and runs on the CPU."""
    return LiverMaskSegmenter()
