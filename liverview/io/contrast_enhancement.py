"""The contrast phase of a CT series read from its image when its tags say nothing.

Three numbers tell the phases apart (textbook values for a liver protocol, HU):

| phase          | aorta   | portal / hepatic veins | liver    |
|----------------|---------|------------------------|----------|
| non-contrast   | 35-50   | 35-50 (below liver)    | 50-65    |
| arterial       | 250-400 | 100-150                | 65-85    |
| portal venous  | 150-230 | 150-200                | 100-120  |
| delayed        | 110-140 | 110-130                | 85-100   |

They are measured on a coarse grid (about 2 mm pixels, 4 mm slices, so a study takes a second or two):
- liver: the patient's right holds the liver; the strongest soft-tissue peak there whose band makes the
  largest thick component is the liver's intensity (as in the liver_mask plugin); its median is ``liver_hu``;
- veins: the liver region closed and filled (vessels inside count), its 98th percentile is ``vessel_hu``;
- aorta: the brightest uniform disc (10 mm, std < 30 HU) near the midline outside bone, per slice, its
  75th percentile over slices is ``aorta_hu`` (the aorta, or the portal vein / IVC when brighter).
The phase is the nearest of the four prototypes; the margin to the second says how clear it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume

# Prototypes (aorta, veins, liver) in HU and the spread each feature is measured in.
PROTOTYPES: dict[PhaseKind, tuple[float, float, float]] = {
    PhaseKind.NON_CONTRAST: (45.0, 45.0, 55.0),
    PhaseKind.ARTERIAL: (300.0, 120.0, 75.0),
    PhaseKind.PORTAL_VENOUS: (180.0, 170.0, 110.0),
    PhaseKind.DELAYED: (125.0, 115.0, 90.0),
}
SCALES = (60.0, 40.0, 15.0)
CLEAR_RATIO = 1.5  # second-nearest prototype this many times farther: a clear call

PIXEL_MM, SLICE_MM = 2.0, 4.0
MIN_BODY_WIDTH_MM = 100.0  # narrower: not an abdomen, nothing to judge by
MIN_LIVER_ML = 50.0


@dataclass(frozen=True)
class Enhancement:
    """What the image shows: blood pool (aorta), liver veins and liver parenchyma, in HU."""

    aorta_hu: float
    vessel_hu: float
    liver_hu: float

    def describe(self) -> str:
        return (f"aorta ~{self.aorta_hu:.0f} HU, liver veins ~{self.vessel_hu:.0f} HU, "
                f"liver ~{self.liver_hu:.0f} HU")


@dataclass(frozen=True)
class ImagePhase:
    """The phase the image looks like, how clearly (``clear``) and the measurements behind it."""

    kind: PhaseKind
    clear: bool
    enhancement: Enhancement

    @property
    def reason(self) -> str:
        how = "looks" if self.clear else "looks most like (not clearly)"
        return f"image {how} {self.kind.value}: {self.enhancement.describe()}"


def classify_enhancement(e: Enhancement) -> ImagePhase:
    """The nearest prototype phase (scaled distance over aorta, veins and liver)."""
    values = (e.aorta_hu, e.vessel_hu, e.liver_hu)
    dist = {k: float(np.sqrt(sum(((v - p) / s) ** 2 for v, p, s in zip(values, proto, SCALES))))
            for k, proto in PROTOTYPES.items()}
    ranked = sorted(dist, key=dist.__getitem__)
    best, second = ranked[0], ranked[1]
    return ImagePhase(best, dist[second] >= CLEAR_RATIO * max(dist[best], 1e-6), e)


def phase_from_image(volume: Volume) -> ImagePhase | None:
    """The phase an axial CT volume looks like, or None when it does not show an abdomen to judge by."""
    e = measure_enhancement(volume)
    return None if e is None else classify_enhancement(e)


_SLAB_VOXELS = 1 << 23  # voxels converted to float32 at a time (32 MB)


def _coarse(volume: Volume) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]] | None:
    """Block means and block maxima on a ~2 x 2 x 4 mm grid, and the block factors (fz, fy, fx)."""
    sx, sy, sz = volume.spacing
    fz = max(1, int(round(SLICE_MM / sz)))
    fy, fx = max(1, int(round(PIXEL_MM / sy))), max(1, int(round(PIXEL_MM / sx)))
    nz, ny, nx = volume.array.shape
    if nz < fz:
        fz = 1
    nz, ny, nx = (nz // fz) * fz, (ny // fy) * fy, (nx // fx) * fx
    if min(nz, ny // fy, nx // fx) < 1 or ny // fy < 32 or nx // fx < 32:
        return None
    # A slab of block rows at a time: a float32 copy of the whole volume doubled a 600-slice phase in memory.
    means = np.empty((nz // fz, ny // fy, nx // fx), np.float32)
    maxima = np.empty_like(means)
    step = max(1, _SLAB_VOXELS // (fz * ny * nx))  # block rows per slab
    for b0 in range(0, nz // fz, step):
        b1 = min(b0 + step, nz // fz)
        hu = np.asarray(volume.array[b0 * fz:b1 * fz, :ny, :nx], np.float32)
        hu = np.nan_to_num(hu, nan=-1000.0)
        blocks = hu.reshape(b1 - b0, fz, ny // fy, fy, nx // fx, fx)
        means[b0:b1] = blocks.mean(axis=(1, 3, 5))
        maxima[b0:b1] = blocks.max(axis=(1, 3, 5))
    return means, maxima, (fz, fy, fx)


def _fill_each(mask: np.ndarray) -> np.ndarray:
    return np.stack([ndimage.binary_fill_holes(m) if m.any() else m for m in mask])


def measure_enhancement(volume: Volume) -> Enhancement | None:
    """Aorta, liver-vein and liver HU of an axial CT volume; None when no body or liver is found."""
    d = np.asarray(volume.direction, float)
    if abs(d[2, 2]) < 0.8:  # slices are not axial: the midline and the right side are not along rows
        return None
    coarse = _coarse(volume)
    if coarse is None:
        return None
    work, peak, (fz, fy, fx) = coarse
    sx, sy, _ = volume.spacing
    px_mm = (sy * fy, sx * fx)

    labels, n = ndimage.label(work > -400)
    if n == 0:
        return None
    body = labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    body = _fill_each(body)
    # Patient's left is +x (LPS): the world x of every coarse pixel of a slice.
    rows, cols = np.mgrid[0:work.shape[1], 0:work.shape[2]]
    x_world = volume.origin[0] + d[0, 0] * cols * fx * sx + d[0, 1] * rows * fy * sy
    body_x = x_world[body.any(axis=0)]
    if body_x.size == 0 or float(np.ptp(body_x)) < MIN_BODY_WIDTH_MM:
        return None
    centre_x = float(np.median(body_x))

    liver = _liver(work, body, x_world < centre_x, px_mm, float(np.prod(volume.spacing)) * fz * fy * fx)
    if liver is None:
        return None
    liver_core, liver_region = liver
    # Bone: filled rings of cortex (block maxima above 600 HU), a little widened.
    bone = ndimage.binary_dilation(_fill_each(ndimage.binary_closing(peak > 600, np.ones((1, 3, 3)))),
                                   np.ones((1, 5, 5)))
    inside_liver = ndimage.binary_erosion(liver_region & ~bone, np.ones((1, 5, 5)))
    if not inside_liver.any():
        return None
    aorta = _blood_pool(work, body, bone, np.abs(x_world - centre_x) < 45.0, px_mm)
    if aorta is None:
        return None
    return Enhancement(aorta_hu=aorta, vessel_hu=float(np.percentile(work[inside_liver], 98)),
                       liver_hu=float(np.median(work[liver_core])))


def _liver(work: np.ndarray, body: np.ndarray, right_2d: np.ndarray, px_mm: tuple[float, float],
           voxel_mm3: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(core, region): the thick part of the liver at its own intensity, and it closed and filled."""
    right = np.broadcast_to(right_2d[None], work.shape)
    tissue = body & right & (work > -20) & (work < 250)
    if tissue.sum() < 100:
        return None
    hist, edges = np.histogram(work[tissue], bins=135, range=(-20, 250))
    hist = ndimage.gaussian_filter1d(hist.astype(float), 2)
    from scipy.signal import find_peaks  # here: scipy.signal takes 0.6 s to import, and `liverview --help` waits

    peaks, _ = find_peaks(hist, prominence=0.05 * hist.max())
    peaks = sorted(peaks if len(peaks) else [int(np.argmax(hist))], key=lambda i: -hist[i])[:3]
    erode = np.ones((1, max(3, int(round(8 / px_mm[0])) | 1), max(3, int(round(8 / px_mm[1])) | 1)))
    best: tuple[int, np.ndarray] | None = None
    for i in peaks:
        mode = float(edges[i] + 1.0)
        band = body & (work > mode - 30) & (work < mode + 30)
        lab, k = ndimage.label(ndimage.binary_erosion(band, erode))
        if k == 0:
            continue
        sizes = np.bincount(lab.ravel(), minlength=k + 1)
        on_right = np.bincount(lab[right].ravel(), minlength=k + 1)
        sizes = sizes * (on_right * 2 > sizes)
        sizes[0] = 0
        if best is None or sizes.max() > best[0]:
            best = (int(sizes.max()), lab == int(np.argmax(sizes)))
    if best is None or best[0] * voxel_mm3 / 1000.0 < MIN_LIVER_ML:
        return None
    core = best[1]
    region = ndimage.binary_closing(ndimage.binary_dilation(core, erode), np.ones((1, 7, 7)))
    return core, _fill_each(region) & body


def _blood_pool(work: np.ndarray, body: np.ndarray, bone: np.ndarray, midline_2d: np.ndarray,
                px_mm: tuple[float, float]) -> float | None:
    """The brightest uniform 10 mm disc near the midline outside bone (75th percentile over slices)."""
    size = (1, 2 * max(1, int(round(5.0 / px_mm[0]))) + 1, 2 * max(1, int(round(5.0 / px_mm[1]))) + 1)
    mean = ndimage.uniform_filter(work, size)
    sd = np.sqrt(np.maximum(ndimage.uniform_filter(work * work, size) - mean * mean, 0.0))
    inner = ndimage.binary_erosion(body, np.ones((1, 9, 9)))
    candidates = inner & midline_2d[None] & ~bone & (sd < 30.0) & (mean > -50.0)
    per_slice = [float(mean[k][candidates[k]].max()) for k in range(work.shape[0]) if candidates[k].any()]
    return float(np.percentile(per_slice, 75)) if per_slice else None
