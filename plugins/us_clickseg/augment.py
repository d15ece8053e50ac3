"""Ultrasound augmentations of a training sample: what changes between scanners, presets and sonographers.

Photometric and depth effects (speckle, overall gain, time-gain compensation, depth attenuation, a
convex probe's fan, blur, gamma) act on the net's crop only, so a sample costs the same on any image
size; the depth-dependent ones are evaluated at each crop pixel's image coordinates (:class:`PixelGrid`),
so a crop sees the part of the curve its rows lie on. Geometric ones: the crop window's scale and shift
(:func:`jitter_window`); horizontal flips are drawn in :func:`.dataset.training_sample` (the cached click
distances are flipped with the image). Every draw comes from the numpy Generator passed in, in a fixed
order, so a seed gives the same sample.

Intensities are display grey values, float32 in 0..255; every function returns a new float32 array of
the same shape, clipped to 0..255.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .crop import CropWindow

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels


@dataclass(frozen=True)
class PixelGrid:
    """Image coordinates of the pixels being augmented: the whole image, or the pixels of a crop."""

    rows: np.ndarray  # float32 [h, 1]: image row (y) of each pixel row
    cols: np.ndarray  # float32 [1, w]: image column (x) of each pixel column
    image_shape: tuple[int, int]  # (H, W) of the whole image: depth is measured against H

    @staticmethod
    def whole(shape: tuple[int, int]) -> "PixelGrid":
        h, w = int(shape[0]), int(shape[1])
        return PixelGrid(np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :], (h, w))

    @staticmethod
    def of_crop(window: CropWindow, size: int, image_shape: tuple[int, int]) -> "PixelGrid":
        """The inverse of :meth:`CropWindow.to_crop` for every crop pixel centre."""
        s = window.side / size
        centres = (np.arange(size, dtype=np.float32) + 0.5) * s - 0.5
        return PixelGrid((centres + window.y0)[:, None], (centres + window.x0)[None, :],
                         (int(image_shape[0]), int(image_shape[1])))

    def depth(self) -> np.ndarray:
        """[h, 1] depth as a fraction of the image height (0 = top row, 1 = bottom row)."""
        return self.rows / max(self.image_shape[0] - 1, 1)


def _out(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0.0, 255.0).astype(np.float32, copy=False)


def speckle(img: np.ndarray, rng: np.random.Generator, p: float = 0.5,
            looks: tuple[float, float] = (4.0, 25.0)) -> np.ndarray:
    """With probability p, multiply by gamma-distributed noise of mean 1 (shape = number of looks:
    fewer looks, rougher speckle)."""
    img = np.asarray(img, np.float32)
    if rng.random() >= p:
        return _out(img)
    k = rng.uniform(*looks)
    return _out(img * rng.gamma(k, 1.0 / k, img.shape).astype(np.float32))


def gain(img: np.ndarray, rng: np.random.Generator, db: tuple[float, float] = (-3.0, 3.0)) -> np.ndarray:
    """Overall receive gain: every grey value scaled by one factor of U(db) decibels."""
    return _out(np.asarray(img, np.float32) * np.float32(10 ** (rng.uniform(*db) / 20)))


def tgc_curve(depth: np.ndarray, rng: np.random.Generator, max_db: float = 4.0) -> np.ndarray:
    """A smooth random time-gain-compensation curve in dB over depth 0..1: a tilt plus two slow
    cosine bends (as a sonographer's TGC sliders give), within +-1.25 max_db."""
    tilt = rng.uniform(-max_db, max_db)
    bends = rng.uniform(-1.0, 1.0, 2) * max_db / np.array([2.0, 4.0])
    d = np.asarray(depth, np.float32)
    return (tilt * (d - 0.5) + bends[0] * np.cos(np.pi * 2 * d) + bends[1] * np.cos(np.pi * 3 * d)).astype(np.float32)


def tgc(img: np.ndarray, grid: PixelGrid, rng: np.random.Generator, p: float = 0.7, max_db: float = 4.0) -> np.ndarray:
    """With probability p, scale each row by a smooth random depth-dependent gain (:func:`tgc_curve`)."""
    img = np.asarray(img, np.float32)
    if rng.random() >= p:
        return _out(img)
    return _out(img * 10 ** (tgc_curve(grid.depth(), rng, max_db) / 20))


def depth_attenuation(img: np.ndarray, grid: PixelGrid, rng: np.random.Generator, p: float = 0.5,
                      strength: tuple[float, float] = (0.2, 1.0)) -> np.ndarray:
    """With probability p, darken exponentially with depth: x exp(-a depth), a ~ U(strength), depth 0..1
    (under-compensated attenuation: the bottom of the image up to e^-a as bright as the top)."""
    img = np.asarray(img, np.float32)
    if rng.random() >= p:
        return _out(img)
    a = rng.uniform(*strength)
    return _out(img * np.exp(-a * grid.depth()))


def fan_field(grid: PixelGrid, rng: np.random.Generator, keep: Box | None = None) -> np.ndarray:
    """Bool [h, w]: the field of view of a convex probe, a sector below an apex above the image.

    The apex lies above the image centre (0.1-0.35 image widths up), the half-angle is 30-42 degrees and
    the near-field arc lies 0-5 % of the height below the top, so the top corners are always outside.
    ``keep`` (the lesion's box) is always inside: the fan widens and its arc moves up to hold it.
    """
    h, w = grid.image_shape
    apex_x = (w - 1) / 2 + rng.normal(0, 0.03 * w)
    apex_y = -w * rng.uniform(0.10, 0.35)
    half = math.radians(rng.uniform(30, 42))
    near = -apex_y + h * rng.uniform(0.0, 0.05)
    if keep is not None:
        x0, y0, x1, y1 = keep
        corners = [(x, y) for x in (x0, x1) for y in (y0, y1)]
        half = max(half, max(abs(math.atan2(x - apex_x, y - apex_y)) for x, y in corners) + math.radians(2))
        closest_x = min(max(apex_x, x0), x1)
        near = min(near, math.hypot(closest_x - apex_x, y0 - apex_y) - 2.0)
    dx, dy = grid.cols - apex_x, grid.rows - apex_y
    return (np.abs(np.arctan2(dx, dy)) < half) & (dx * dx + dy * dy > near * near)


def fan_mask(img: np.ndarray, grid: PixelGrid, rng: np.random.Generator, keep: Box | None = None,
             p: float = 0.3) -> np.ndarray:
    """With probability p, black outside a random convex-probe fan (:func:`fan_field`) that holds ``keep``."""
    img = np.asarray(img, np.float32)
    if rng.random() >= p:
        return _out(img)
    return _out(np.where(fan_field(grid, rng, keep), img, np.float32(0)))


def blur(img: np.ndarray, rng: np.random.Generator, p: float = 0.3,
         sigma: tuple[float, float] = (0.3, 1.0)) -> np.ndarray:
    """With probability p, a mild Gaussian blur (another probe's resolution, a smoother preset)."""
    img = np.asarray(img, np.float32)
    if rng.random() >= p:
        return _out(img)
    return _out(cv2.GaussianBlur(img, (0, 0), rng.uniform(*sigma)))


def gamma(img: np.ndarray, rng: np.random.Generator, exponent: tuple[float, float] = (0.8, 1.25)) -> np.ndarray:
    """A display-curve change: 255 (x / 255) ** g; black and white stay."""
    return _out(255.0 * (np.clip(np.asarray(img, np.float32), 0, 255) / 255.0) ** np.float32(rng.uniform(*exponent)))


def jitter_window(window: CropWindow, rng: np.random.Generator, scale: tuple[float, float] = (0.85, 1.2),
                  shift: float = 0.03) -> CropWindow:
    """Scale the window's side by U(scale) about its centre and move it by N(0, shift x side): robustness
    to where the user's box or clicks land."""
    side = window.side * rng.uniform(*scale)
    dx, dy = rng.normal(0, shift * window.side, 2)
    cx, cy = window.x0 + window.side / 2 + dx, window.y0 + window.side / 2 + dy
    return CropWindow(cx - side / 2, cy - side / 2, side)


def lesion_box(mask: np.ndarray) -> Box | None:
    """The mask's bounding box (x0, y0, x1, y1), None when empty."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1]), float(rows[-1])


def augment_crop(crop: np.ndarray, grid: PixelGrid, rng: np.random.Generator, keep: Box | None = None) -> np.ndarray:
    """All photometric augmentations in acquisition order: attenuation, TGC, gain, fan, speckle, blur, gamma."""
    x = depth_attenuation(crop, grid, rng)
    x = tgc(x, grid, rng)
    x = gain(x, rng)
    x = fan_mask(x, grid, rng, keep)
    x = speckle(x, rng)
    x = blur(x, rng)
    return gamma(x, rng)
