"""A RECIST proposed from the image inside a proposal's box, for the reviewer to adjust.

On the proposal's key slice: the liver around the box gives the parenchyma's grey level and noise
(robust median / MAD of a ring outside the box, soft-tissue values only); pixels inside the box that
differ from it clearly (after smoothing) are lesion candidates, whether darker or brighter; morphology
closes and smooths them, the component at the box centre is kept, holes are filled, and
``recist_from_mask`` measures it exactly. When the image gives no usable region (no contrast, a box
on the liver edge), the ellipse inscribed in the box is measured instead and the result says so
(``method == "box-ellipse"``): it is a starting point for the reviewer, never a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from liverview.core.volume import Volume
from liverview.measure.recist import RecistMeasurement, recist_from_mask

SOFT_TISSUE_HU = (-60.0, 260.0)  # ring pixels outside this (fat, air, bone, contrast) are not liver
MIN_CONTRAST_HU = 8.0  # a lesion must differ from the liver by at least this much (after smoothing)
NOISE_FACTOR = 1.6  # ... and by this many robust noise standard deviations of the smoothed ring
KEEP_FRACTION = 0.6  # the refined outline must keep this much of the first one's area
MIN_FILL = 0.08  # a segmented region smaller than this fraction of the box is not trusted


class AutoRecistError(ValueError):
    """No RECIST can be proposed for this box (outside the volume, empty, ...)."""


@dataclass(frozen=True)
class AutoRecist:
    measurement: RecistMeasurement
    mask: np.ndarray  # bool (rows j, cols i) of the whole key slice: the region measured
    method: str  # "segmented" or "box-ellipse"
    liver_hu: float  # grey level the lesion was told apart from
    contrast_hu: float  # mean lesion - liver grey level (smoothed) inside the region


def _disk(radius_px: float) -> np.ndarray:
    r = max(int(round(radius_px)), 1)
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r + 0.5


def _box_ellipse(shape: tuple[int, int], j0: int, j1: int, i0: int, i1: int) -> np.ndarray:
    jj, ii = np.ogrid[:shape[0], :shape[1]]
    cj, ci = (j0 + j1) / 2, (i0 + i1) / 2
    rj, ri = max((j1 - j0 + 1) / 2, 0.5), max((i1 - i0 + 1) / 2, 0.5)
    return ((jj - cj) / rj) ** 2 + ((ii - ci) / ri) ** 2 <= 1.0


def auto_recist(volume: Volume, box_ijk: tuple[tuple[int, int, int], tuple[int, int, int]],
                key_slice: int) -> AutoRecist:
    """Propose a RECIST for the lesion in ``box_ijk`` (inclusive voxel indices (i, j, k) of ``volume``)
    on axial slice ``key_slice``."""
    (i0, j0, k0), (i1, j1, k1) = box_ijk
    nx, ny, nz = volume.size_ijk
    if not 0 <= key_slice < nz:
        raise AutoRecistError(f"key slice {key_slice} is outside the volume (0..{nz - 1})")
    i0, i1 = max(int(i0), 0), min(int(i1), nx - 1)
    j0, j1 = max(int(j0), 0), min(int(j1), ny - 1)
    if i1 < i0 or j1 < j0:
        raise AutoRecistError(f"the box {box_ijk} does not overlap slice {key_slice} of the volume")
    sx, sy = volume.spacing[0], volume.spacing[1]
    image = volume.array[key_slice].astype(np.float32)

    # A patch: the box and a ring of liver around it (at least 5 mm, or a quarter of the box).
    margin_i = int(np.ceil(max(5.0 / sx, 0.25 * (i1 - i0 + 1))))
    margin_j = int(np.ceil(max(5.0 / sy, 0.25 * (j1 - j0 + 1))))
    pi0, pi1 = max(i0 - margin_i, 0), min(i1 + margin_i, nx - 1)
    pj0, pj1 = max(j0 - margin_j, 0), min(j1 + margin_j, ny - 1)
    patch = image[pj0:pj1 + 1, pi0:pi1 + 1]
    if not np.all(np.isfinite(patch)):  # missing voxels read as the surrounding grey, not as a lesion
        finite = np.isfinite(patch)
        if not finite.any():
            raise AutoRecistError(f"slice {key_slice} holds no valid voxel around the box")
        patch = np.where(finite, patch, np.float32(np.median(patch[finite])))
    sigma_px = (1.2 / sy, 1.2 / sx)  # ~1 mm smoothing tames CT noise without moving edges much
    smooth = ndimage.gaussian_filter(ndimage.median_filter(patch, size=3), sigma=sigma_px)
    in_box = np.zeros(patch.shape, bool)
    in_box[j0 - pj0:j1 - pj0 + 1, i0 - pi0:i1 - pi0 + 1] = True

    ring = ~ndimage.binary_dilation(in_box, iterations=1) & (smooth > SOFT_TISSUE_HU[0]) \
        & (smooth < SOFT_TISSUE_HU[1])
    full_shape = image.shape
    mask_full = np.zeros(full_shape, bool)
    method, liver, contrast = "box-ellipse", float("nan"), 0.0
    region = None
    if ring.sum() >= 20:
        values = smooth[ring]
        liver = float(np.median(values))
        spread = float(1.4826 * np.median(np.abs(values - liver)))
        threshold = max(MIN_CONTRAST_HU, NOISE_FACTOR * spread)
        candidate = in_box & (np.abs(smooth - liver) > threshold) & (smooth > SOFT_TISSUE_HU[0])
        region = _clean_region(candidate, in_box, (sx, sy))
        if region is not None:
            # Second pass: the edge where the grey level is half-way between liver and lesion core
            # (the first, noise-level threshold puts it on the blurred skirt and over-measures).
            core = ndimage.binary_erosion(region, structure=_disk(1.0 / min(sx, sy)))
            level = float(np.median(smooth[core if core.any() else region]))
            sign = 1.0 if level >= liver else -1.0
            half = max(abs(level - liver) / 2, threshold)
            deviation = sign * (smooth - liver)
            refined = in_box & (smooth > SOFT_TISSUE_HU[0]) & ((deviation > half) | ((-deviation > threshold) & region))
            second = _clean_region(refined, in_box, (sx, sy))
            # A heterogeneous lesion (dark core, rim near liver grey) loses its rim at the half-way level:
            # keep the first outline then.
            if second is not None and second.sum() >= KEEP_FRACTION * region.sum():
                region = second
        if region is None or region.sum() < MIN_FILL * in_box.sum():
            region = _centre_seeded(patch, in_box, liver, (sx, sy))
        if region is not None and region.sum() >= MIN_FILL * in_box.sum():
            method = "segmented"
            contrast = float(smooth[region].mean() - liver)
        else:
            region = None
    if region is None:
        mask_full[:] = _box_ellipse(full_shape, j0, j1, i0, i1)
    else:
        mask_full[pj0:pj1 + 1, pi0:pi1 + 1] = region
    measurement = _recist_of(mask_full, volume, key_slice)
    return AutoRecist(measurement, mask_full, method, liver, contrast)


def _centre_seeded(patch: np.ndarray, in_box: np.ndarray, liver: float,
                   spacing_xy: tuple[float, float]) -> np.ndarray | None:
    """For a faint lesion (no pixel clearly apart from the liver): smooth more, take the grey level of the
    box's centre (the detector centres its box on the lesion) and cut half-way between it and the liver."""
    sx, sy = spacing_xy
    smooth = ndimage.gaussian_filter(ndimage.median_filter(patch, size=3), sigma=(2.0 / sy, 2.0 / sx))
    rows, cols = np.nonzero(in_box)
    cj, ci = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
    hj, hi = max((rows.max() - rows.min()) / 6, 1.0), max((cols.max() - cols.min()) / 6, 1.0)
    jj, ii = np.ogrid[:in_box.shape[0], :in_box.shape[1]]
    centre = (np.abs(jj - cj) <= hj) & (np.abs(ii - ci) <= hi)
    level = float(np.median(smooth[centre]))
    if abs(level - liver) < MIN_CONTRAST_HU:
        return None
    sign = 1.0 if level > liver else -1.0
    candidate = in_box & (sign * (smooth - liver) > abs(level - liver) / 2) & (smooth > SOFT_TISSUE_HU[0])
    return _clean_region(candidate, in_box, spacing_xy)


def _recist_of(mask: np.ndarray, volume: Volume, key_slice: int) -> RecistMeasurement:
    """recist_from_mask on the mask's bounding box only (same geometry, far fewer pixels to scan)."""
    rows, cols = np.nonzero(mask)
    r0, r1, c0, c1 = max(rows.min() - 1, 0), rows.max() + 2, max(cols.min() - 1, 0), cols.max() + 2
    crop = mask[r0:r1, c0:c1]

    def to_world(cr: np.ndarray) -> np.ndarray:
        cr = np.asarray(cr, float).reshape(-1, 2)
        ijk = np.column_stack([cr[:, 0] + c0, cr[:, 1] + r0, np.full(len(cr), float(key_slice))])
        return volume.index_to_world(ijk)

    return recist_from_mask(crop, to_world, key_slice)


def _clean_region(candidate: np.ndarray, in_box: np.ndarray, spacing_xy: tuple[float, float]) -> np.ndarray | None:
    """Close gaps (a heterogeneous lesion is dark and bright in patches), keep the part at the box
    centre, fill its holes, smooth its outline."""
    px = min(spacing_xy)
    closed = ndimage.binary_closing(candidate, structure=_disk(2.5 / px), iterations=1) & in_box
    opened = ndimage.binary_opening(closed, structure=_disk(1.5 / px))
    labels, n = ndimage.label(opened)
    if n == 0:
        return None
    rows, cols = np.nonzero(in_box)
    cj, ci = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
    # The component covering most of the box's central half (the detector centred its box on it).
    hj, hi = (rows.max() - rows.min()) / 4 + 1, (cols.max() - cols.min()) / 4 + 1
    jj, ii = np.ogrid[:in_box.shape[0], :in_box.shape[1]]
    central = (np.abs(jj - cj) <= hj) & (np.abs(ii - ci) <= hi)
    overlap = np.bincount(labels[central].ravel(), minlength=n + 1)
    overlap[0] = 0
    if overlap.max() == 0:
        return None
    region = labels == int(np.argmax(overlap))
    region = ndimage.binary_fill_holes(region)
    region = ndimage.binary_closing(region, structure=_disk(1.5 / px)) & in_box
    return ndimage.binary_fill_holes(region)


def auto_recist_best(volumes: list[Volume], box_ijk, key_slice: int) -> tuple[int, AutoRecist]:
    """Among phases on the same grid (e.g. registered to the reference): the index and result of the
    segmented proposal with the strongest lesion/liver contrast; the first volume's box ellipse when
    no phase segments."""
    if not volumes:
        raise AutoRecistError("no volume to propose a RECIST from")
    results = [auto_recist(v, box_ijk, key_slice) for v in volumes]
    segmented = [n for n, r in enumerate(results) if r.method == "segmented"]
    if not segmented:
        return 0, results[0]
    best = max(segmented, key=lambda n: abs(results[n].contrast_hu))
    return best, results[best]
