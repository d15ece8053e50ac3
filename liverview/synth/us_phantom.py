"""Synthetic liver B-mode ultrasound with one lesion per image, its mask and class (phantom data).

Why: no liver-ultrasound data set with masks is available, so the four lesion types are drawn with
their textbook echo patterns to train and check the click segmenter with exact ground truth:

- cyst: anechoic, sharp wall, posterior acoustic enhancement (brighter column below it);
- hemangioma: well-defined, homogeneous hyperechoic;
- metastasis: "target" / bull's eye: iso- to hyperechoic centre inside a thick hypoechoic halo;
- HCC: hypoechoic or mixed, mosaic of nodules of different echo, thin hypoechoic halo (capsule).

Image formation: tissue reflectivity x Rayleigh speckle (complex Gaussian field blurred anisotropically:
axial resolution finer than lateral) -> depth attenuation with partial TGC -> log compression, inside a
convex-probe sector. Vessels (anechoic tubes), rib/gas shadows (dark columns) and the diaphragm add
distractors. Pixel size is drawn per image (0.15-0.35 mm) and written with the image.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

US_LESION_CLASSES: tuple[str, ...] = ("cyst", "hemangioma", "metastasis", "hcc")
LABELS_FILE = "labels.csv"
LABEL_FIELDS = ("image", "mask", "class", "width", "height", "pixel_spacing_mm", "bbox_x0", "bbox_y0",
                "bbox_x1", "bbox_y1")


@dataclass
class UsPhantom:
    image: np.ndarray  # uint8 [H, W]
    mask: np.ndarray  # bool [H, W]
    lesion_class: str
    pixel_spacing_mm: float  # isotropic


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return n / (n.std() + 1e-6)


def _lesion_shape(rng: np.random.Generator, shape, cx, cy, rx, ry, angle, irregular: float):
    """Normalised radius field r (1 = boundary) of a lobulated ellipse, for rings and masks."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    ca, sa = math.cos(angle), math.sin(angle)
    u, v = (dx * ca + dy * sa) / rx, (-dx * sa + dy * ca) / ry
    theta = np.arctan2(v, u)
    wobble = np.ones_like(theta)
    for k in range(2, 6):
        wobble += irregular * rng.uniform(-1, 1) / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.sqrt(u * u + v * v) / wobble


def generate_us_phantom(rng: np.random.Generator, lesion_class: str | None = None,
                        size: tuple[int, int] | None = None) -> UsPhantom:
    """One image (H, W) with one lesion of the class given (random when None)."""
    cls = lesion_class or US_LESION_CLASSES[int(rng.integers(len(US_LESION_CLASSES)))]
    if cls not in US_LESION_CLASSES:
        raise ValueError(f"unknown lesion class {cls!r}; choose one of {', '.join(US_LESION_CLASSES)}")
    if size is None:
        h = int(rng.integers(240, 400))
        w = int(h * rng.uniform(1.15, 1.45))
    else:
        h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    # Convex-probe sector: apex above the image, field = annulus sector.
    apex_x, apex_y = w / 2, -h * rng.uniform(0.25, 0.45)
    r = np.hypot(xx - apex_x, yy - apex_y)
    ang = np.arctan2(xx - apex_x, yy - apex_y)
    half = math.radians(rng.uniform(30, 40))
    r0 = -apex_y + h * rng.uniform(0.02, 0.06)
    fov = (np.abs(ang) < half) & (r > r0) & (r < r0 + h)
    depth = np.clip((r - r0) / h, 0, 1)

    # Tissue reflectivity: liver parenchyma with slow texture.
    refl = 1.0 + 0.18 * _smooth_noise(rng, (h, w), rng.uniform(6, 14))
    # Diaphragm: bright curved band deep in the image, dark (lung) beyond it.
    dia_r = r0 + h * rng.uniform(0.78, 0.95)
    refl = np.where(np.abs(r - dia_r) < 4, 3.0, refl)
    refl = np.where(r > dia_r + 4, 0.25, refl)
    # Vessels: anechoic tubes with bright walls.
    for _ in range(int(rng.integers(1, 4))):
        vx, vy = rng.uniform(0, w), rng.uniform(0.1 * h, 0.8 * h)
        va = rng.uniform(0, np.pi)
        vr = rng.uniform(3, 9)
        d = np.abs((xx - vx) * math.sin(va) - (yy - vy) * math.cos(va))
        along = np.abs((xx - vx) * math.cos(va) + (yy - vy) * math.sin(va))
        seg = along < rng.uniform(0.1, 0.35) * w  # a vessel segment, not a line across the image
        refl = np.where(seg & (d < vr + 1.5), 1.8, refl)
        refl = np.where(seg & (d < vr), 0.04, refl)

    # Lesion geometry (avoid the sector edge and the diaphragm).
    base = min(h, w)
    rx = base * rng.uniform(0.06, 0.2)
    ry = rx * rng.uniform(0.7, 1.1)
    for _ in range(50):
        cx = rng.uniform(0.25 * w, 0.75 * w)
        cy = rng.uniform(0.2 * h, 0.7 * h)
        if fov[int(cy), int(cx)] and np.hypot(cx - apex_x, cy - apex_y) + 1.3 * max(rx, ry) < dia_r:
            break
    irregular = {"cyst": 0.04, "hemangioma": 0.12, "metastasis": 0.15, "hcc": 0.12}[cls]
    rn = _lesion_shape(rng, (h, w), cx, cy, rx, ry, rng.uniform(0, np.pi), irregular)
    mask = rn <= 1.0
    edge = np.clip((1.0 - rn) / 0.06 + 0.5, 0, 1)  # soft boundary, ~6 % of the radius

    lesion = np.ones((h, w), np.float32)
    if cls == "cyst":
        lesion[:] = rng.uniform(0.02, 0.06)
    elif cls == "hemangioma":
        lesion = rng.uniform(2.0, 2.8) * (1 + 0.08 * _smooth_noise(rng, (h, w), 3))
    elif cls == "metastasis":
        halo = rng.uniform(0.25, 0.4)  # halo thickness, fraction of the radius
        centre = rng.uniform(1.1, 1.7) * (1 + 0.12 * _smooth_noise(rng, (h, w), 3))
        lesion = np.where(rn < 1 - halo, centre, rng.uniform(0.15, 0.3))
    else:  # hcc: mosaic of sub-nodules + thin capsule halo
        n_nod = int(rng.integers(4, 9))
        px, py = rng.uniform(cx - rx, cx + rx, n_nod), rng.uniform(cy - ry, cy + ry, n_nod)
        d2 = (xx[..., None] - px) ** 2 + (yy[..., None] - py) ** 2
        nearest = d2.argmin(-1)
        levels = rng.uniform(0.3, 1.6, n_nod)
        if rng.random() < 0.5:
            levels *= 0.6  # predominantly hypoechoic HCC
        lesion = levels[nearest].astype(np.float32)
        d_sorted = np.sort(d2, axis=-1)
        septa = (np.sqrt(d_sorted[..., 1]) - np.sqrt(d_sorted[..., 0])) < 2.0
        lesion = np.where(septa, lesion * 1.6, lesion)
        lesion = np.where(rn > 0.86, rng.uniform(0.12, 0.25), lesion)
    refl = refl * (1 - edge) + lesion * edge

    # Posterior enhancement (cyst, some hemangiomas) or lateral edge shadows, along the beam (below).
    below = (yy > cy) & (np.abs(xx - cx) < rx * 0.9) & ~mask
    fade = np.exp(-np.clip(yy - cy - ry, 0, None) / (0.6 * h))
    if cls == "cyst":
        refl = np.where(below, refl * (1 + rng.uniform(0.9, 1.5) * fade), refl)
    elif cls == "hemangioma" and rng.random() < 0.4:
        refl = np.where(below, refl * (1 + 0.25 * fade), refl)
    elif cls == "hcc" and rng.random() < 0.5:
        for side in (-1, 1):
            col = (np.abs(xx - (cx + side * rx)) < 3) & (yy > cy)
            refl = np.where(col, refl * 0.35, refl)

    # Acoustic shadows (ribs / gas): dark columns from a bright reflector down to the bottom.
    for _ in range(int(rng.integers(0, 3))):
        sx = rng.uniform(0, w)
        sw = rng.uniform(8, 30)
        sy = rng.uniform(0, 0.3 * h)
        col = (np.abs(xx - sx) < sw / 2) & (yy > sy)
        refl = np.where(col, refl * rng.uniform(0.1, 0.3), refl)
        refl = np.where((np.abs(xx - sx) < sw / 2) & (np.abs(yy - sy) < 3), 3.5, refl)

    # Speckle: complex Gaussian field blurred with the point-spread function (finer axially).
    field = rng.standard_normal((2, h, w)).astype(np.float32)
    sig_ax, sig_lat = rng.uniform(0.6, 1.0), rng.uniform(1.4, 2.4)
    field = np.stack([ndimage.gaussian_filter(f, (sig_ax, sig_lat)) for f in field])
    speckle = np.hypot(field[0], field[1])
    speckle /= speckle.mean() + 1e-6
    # Depth attenuation, partly undone by time-gain compensation.
    atten = np.exp(-rng.uniform(0.8, 1.6) * depth) * (1 + rng.uniform(0.3, 0.7) * depth)
    env = refl * speckle * atten * fov
    env = np.maximum(env, 1e-4)
    db = 20 * np.log10(env)
    dyn = rng.uniform(40, 55)
    gain = rng.uniform(-4, 4)
    img = np.clip((db + dyn * 0.7 + gain) / dyn, 0, 1) * 255 * fov
    img = img + rng.normal(0, 2.0, img.shape) * fov  # electronic noise
    image = np.clip(img, 0, 255).astype(np.uint8)
    mask &= fov
    return UsPhantom(image=image, mask=mask, lesion_class=cls, pixel_spacing_mm=float(rng.uniform(0.15, 0.35)))


def write_us_dataset(out: Path, seed: int, count: int) -> list[dict]:
    """Write images/, masks/ (PNG) and labels.csv; classes cycle so the set is balanced."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        ph = generate_us_phantom(rng, US_LESION_CLASSES[i % len(US_LESION_CLASSES)])
        name = f"us_{i:05d}.png"
        cv2.imwrite(str(out / "images" / name), ph.image)
        cv2.imwrite(str(out / "masks" / name), ph.mask.astype(np.uint8) * 255)
        ys, xs = np.nonzero(ph.mask)
        rows.append({"image": f"images/{name}", "mask": f"masks/{name}", "class": ph.lesion_class,
                     "width": ph.image.shape[1], "height": ph.image.shape[0],
                     "pixel_spacing_mm": f"{ph.pixel_spacing_mm:.4f}",
                     "bbox_x0": int(xs.min()), "bbox_y0": int(ys.min()),
                     "bbox_x1": int(xs.max()), "bbox_y1": int(ys.max())})
    with open(out / LABELS_FILE, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LABEL_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return rows
