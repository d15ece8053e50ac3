"""Local interaction: the square crop the net sees is chosen from the clicks alone, so training and
inference agree and latency does not depend on the image size.

Rule: centre = centre of the clicks' bounding box; side = 1.4 x the larger side of that box. With
fewer than four background clicks the clicks do not bound the lesion, so the side is at least
``DEFAULT_SIDE_FRACTION`` of the image's shorter side (one-click mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from liverview.us.clicks import Click, click_maps

MARGIN = 1.4
DEFAULT_SIDE_FRACTION = 0.6
MIN_SIDE_PX = 32.0


@dataclass(frozen=True)
class CropWindow:
    """A square window in image pixels: top-left (x0, y0) and side (may extend past the image)."""

    x0: float
    y0: float
    side: float

    def to_crop(self, x: float, y: float, size: int) -> tuple[float, float]:
        s = size / self.side
        return ((x - self.x0 + 0.5) * s - 0.5, (y - self.y0 + 0.5) * s - 0.5)


def crop_window(image_shape: tuple[int, int], clicks: Sequence[Click]) -> CropWindow:
    if not clicks:
        raise ValueError("at least one click is needed to place the crop")
    if not any(c.positive for c in clicks):
        raise ValueError("at least one foreground (inside-the-lesion) click is needed")
    h, w = image_shape
    xs = np.array([c.x for c in clicks], float)
    ys = np.array([c.y for c in clicks], float)
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    side = MARGIN * max(xs.max() - xs.min(), ys.max() - ys.min())
    if sum(not c.positive for c in clicks) < 4:
        side = max(side, DEFAULT_SIDE_FRACTION * min(h, w))
    side = max(side, MIN_SIDE_PX)
    return CropWindow(cx - side / 2, cy - side / 2, side)


def _affine(window: CropWindow, size: int) -> np.ndarray:
    s = size / window.side
    return np.array([[s, 0, (0.5 - window.x0) * s - 0.5], [0, s, (0.5 - window.y0) * s - 0.5]], np.float64)


def crop_image(image: np.ndarray, window: CropWindow, size: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resample the window to size x size (zeros outside the image); area-averaged when shrinking."""
    img = np.asarray(image, np.float32)
    scale = size / window.side
    if scale < 0.7 and interpolation == cv2.INTER_LINEAR:
        # Blur before sampling so shrinking does not alias speckle (cheap stand-in for INTER_AREA).
        sigma = 0.4 / scale
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    return cv2.warpAffine(img, _affine(window, size), (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def paste_back(crop_probs: np.ndarray, window: CropWindow, image_shape: tuple[int, int]) -> np.ndarray:
    """Map crop probabilities back onto the native pixel grid (bilinear); 0 outside the window."""
    size = crop_probs.shape[0]
    inv = cv2.invertAffineTransform(_affine(window, size))
    h, w = image_shape
    return cv2.warpAffine(np.asarray(crop_probs, np.float32), inv, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def net_input(image: np.ndarray, clicks: Sequence[Click], size: int) -> tuple[np.ndarray, CropWindow]:
    """(3, size, size) float32 in 0..1: image crop, fg and bg click-distance maps (in crop pixels)."""
    window = crop_window(image.shape[:2], clicks)
    crop = crop_image(image, window, size)
    local = [Click(*window.to_crop(c.x, c.y, size), c.positive) for c in clicks]
    maps = click_maps((size, size), local)
    x = np.concatenate([crop[None], maps]) / 255.0
    return x.astype(np.float32), window
