"""Local interaction: the square crop the net sees is chosen from the clicks alone, so training and
inference agree and latency does not depend on the image size.

Rule: centre = centre of the bounding box of the clicks and of the prior mask (the mask being corrected),
when there is one; side = 1.4 x the larger side of that box. With fewer than four background clicks the
clicks do not bound the lesion: with a prior the side is ``PRIOR_CONTEXT`` x that box's larger side (room
to grow); without one it is at least ``DEFAULT_SIDE_FRACTION`` of the image's shorter side (one-click mode).
A fresh box's prior is the ellipse inside it, so the box alone places that crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from liverview.us.clicks import Click, click_maps

MARGIN = 1.4
DEFAULT_SIDE_FRACTION = 0.6
MIN_SIDE_PX = 32.0
PRIOR_CONTEXT = 2.0


@dataclass(frozen=True)
class CropWindow:
    """A square window in image pixels: top-left (x0, y0) and side (may extend past the image)."""

    x0: float
    y0: float
    side: float

    def to_crop(self, x: float, y: float, size: int) -> tuple[float, float]:
        s = size / self.side
        return ((x - self.x0 + 0.5) * s - 0.5, (y - self.y0 + 0.5) * s - 0.5)


def crop_window(image_shape: tuple[int, int], clicks: Sequence[Click], prior: np.ndarray | None = None) -> CropWindow:
    if not clicks:
        raise ValueError("at least one click is needed to place the crop")
    if not any(c.positive for c in clicks):
        raise ValueError("at least one foreground (inside-the-lesion) click is needed")
    h, w = image_shape
    xs = np.array([c.x for c in clicks], float)
    ys = np.array([c.y for c in clicks], float)
    bounded = sum(not c.positive for c in clicks) >= 4
    rows = cols = np.zeros(0, int)
    if prior is not None:
        rows, cols = np.flatnonzero(np.any(prior, 1)), np.flatnonzero(np.any(prior, 0))
    if rows.size:
        xs = np.concatenate([xs, [cols[0], cols[-1]]])
        ys = np.concatenate([ys, [rows[0], rows[-1]]])
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    extent = max(xs.max() - xs.min(), ys.max() - ys.min())
    side = MARGIN * extent
    if not bounded:
        side = PRIOR_CONTEXT * extent if rows.size else max(side, DEFAULT_SIDE_FRACTION * min(h, w))
    side = max(side, MIN_SIDE_PX)
    return CropWindow(cx - side / 2, cy - side / 2, side)


def _affine(window: CropWindow, size: int) -> np.ndarray:
    s = size / window.side
    return np.array([[s, 0, (0.5 - window.x0) * s - 0.5], [0, s, (0.5 - window.y0) * s - 0.5]], np.float64)


def crop_image(image: np.ndarray, window: CropWindow, size: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resample the window to size x size (zeros outside the image); blurred first when shrinking."""
    image = np.asarray(image)
    scale = size / window.side
    h, w = image.shape[:2]
    sigma = 0.4 / scale if scale < 0.7 and interpolation == cv2.INTER_LINEAR else 0.0
    pad = int(math.ceil(3 * sigma)) + 2
    # Work on the part of the image under the window only: cost independent of the image size.
    r0, r1 = max(int(window.y0) - pad, 0), min(int(math.ceil(window.y0 + window.side)) + pad, h)
    c0, c1 = max(int(window.x0) - pad, 0), min(int(math.ceil(window.x0 + window.side)) + pad, w)
    if r1 <= r0 or c1 <= c0:
        return np.zeros((size, size), np.float32)
    part = np.ascontiguousarray(image[r0:r1, c0:c1], np.float32)  # convert the part under the window only
    if sigma > 0:
        # Blur so shrinking does not alias the speckle (cheap stand-in for INTER_AREA).
        part = cv2.GaussianBlur(part, (0, 0), sigma)
    local = CropWindow(window.x0 - c0, window.y0 - r0, window.side)
    return cv2.warpAffine(part, _affine(local, size), (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def paste_back(crop_probs: np.ndarray, window: CropWindow, image_shape: tuple[int, int]) -> np.ndarray:
    """Map crop probabilities back onto the native pixel grid (bilinear); 0 outside the window.

    Only the pixels under the window are resampled, so the cost does not grow with the image.
    """
    size = crop_probs.shape[0]
    h, w = image_shape
    out = np.zeros((h, w), np.float32)
    r0, r1 = max(int(math.floor(window.y0)), 0), min(int(math.ceil(window.y0 + window.side)) + 1, h)
    c0, c1 = max(int(math.floor(window.x0)), 0), min(int(math.ceil(window.x0 + window.side)) + 1, w)
    if r1 <= r0 or c1 <= c0:
        return out
    local = CropWindow(window.x0 - c0, window.y0 - r0, window.side)
    inv = cv2.invertAffineTransform(_affine(local, size))
    out[r0:r1, c0:c1] = cv2.warpAffine(np.asarray(crop_probs, np.float32), inv, (c1 - c0, r1 - r0),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return out


def net_input(image: np.ndarray, clicks: Sequence[Click], size: int, prior: np.ndarray | None = None,
              with_prior: bool = False) -> tuple[np.ndarray, CropWindow]:
    """(3, size, size) float32 in 0..1: image crop, fg and bg click-distance maps (in crop pixels); with
    ``with_prior`` a 4th channel, the ``prior`` mask (image-sized; None: all 0) cropped the same way."""
    window = crop_window(image.shape[:2], clicks, prior if with_prior else None)
    prior_crop = prior_channel(prior, window, size) if with_prior else None
    return input_from_crop(crop_image(image, window, size), clicks, window, prior_crop), window


def prior_channel(prior: np.ndarray | None, window: CropWindow, size: int) -> np.ndarray:
    """The prior mask's size x size crop of ``window`` (all 0 without a prior)."""
    if prior is None:
        return np.zeros((size, size), np.float32)
    return crop_image(np.asarray(prior, np.float32), window, size)


def input_from_crop(crop: np.ndarray, clicks: Sequence[Click], window: CropWindow,
                    prior_crop: np.ndarray | None = None) -> np.ndarray:
    """(3, S, S) float32 in 0..1 from an S x S crop of ``window`` (grey 0..255) and the clicks in image pixels;
    (4, S, S) with ``prior_crop`` (the prior mask's S x S crop, 0..1) as the last channel.

    The one place the net input is assembled: inference (:func:`net_input`) and training samples share it.
    """
    size = crop.shape[0]
    local = [Click(*window.to_crop(c.x, c.y, size), c.positive) for c in clicks]
    x = np.concatenate([np.asarray(crop, np.float32)[None], click_maps((size, size), local)]) / 255.0
    if prior_crop is not None:
        x = np.concatenate([x, np.clip(np.asarray(prior_crop, np.float32), 0, 1)[None]])
    return x.astype(np.float32)
