"""The click interaction model (Qt-free): clicks, box -> clicks, and their distance-map encoding.

The network sees two maps besides the image: the Euclidean distance (pixels) of every pixel to the
nearest foreground click and to the nearest background click, clipped at 255; a map with no clicks
is the constant 255 (as in Ryu et al. 2021). Models that take a prior mask (RITM's "previous mask")
also see the mask the interaction starts from: the mask shown before the newest clicks, or, for a
fresh box, the ellipse inscribed in it (:func:`interaction_prior`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

DISTANCE_CAP = 255.0
BOX_CLICK_COUNT = 5  # box_to_clicks: one foreground click at the centre, four background clicks at the corners


@dataclass(frozen=True)
class Click:
    """One click in image pixel coordinates (x = column, y = row); positive = inside the lesion."""

    x: float
    y: float
    positive: bool


def box_to_clicks(x0: float, y0: float, x1: float, y1: float) -> list[Click]:
    """Two-click mode: a box becomes 1 foreground click at its centre and 4 background clicks at its corners."""
    xa, xb = sorted((float(x0), float(x1)))
    ya, yb = sorted((float(y0), float(y1)))
    if not all(np.isfinite([xa, xb, ya, yb])):
        raise ValueError(f"box corners must be finite numbers, got {(x0, y0, x1, y1)}")
    if xb - xa < 1 or yb - ya < 1:
        raise ValueError(f"the box ({x0}, {y0}, {x1}, {y1}) is less than one pixel wide or tall")
    return [Click((xa + xb) / 2, (ya + yb) / 2, True),
            Click(xa, ya, False), Click(xb, ya, False), Click(xa, yb, False), Click(xb, yb, False)]


def box_of_clicks(clicks: Sequence[Click]) -> tuple[float, float, float, float] | None:
    """The box (x0, y0, x1, y1) when ``clicks`` are exactly the five clicks :func:`box_to_clicks` makes
    of it (in that order), else None."""
    if len(clicks) != BOX_CLICK_COUNT or not clicks[0].positive or any(c.positive for c in clicks[1:]):
        return None
    xa, ya, xb, yb = clicks[1].x, clicks[1].y, clicks[4].x, clicks[4].y
    try:
        expected = box_to_clicks(xa, ya, xb, yb)
    except ValueError:
        return None
    if any(abs(c.x - e.x) > 1e-6 or abs(c.y - e.y) > 1e-6 for c, e in zip(clicks, expected)):
        return None
    return xa, ya, xb, yb


def ellipse_in_box(shape: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """The ellipse inscribed in the box (axes along the image axes), as a mask: what a reader drags by hand.
    The box spans pixel centres x0..x1, so its edges (and the ellipse's) lie half a pixel further out."""
    x0, y0, x1, y1 = box
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0 + 1) / 2, (y1 - y0 + 1) / 2
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def filled_box(shape: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """Every pixel whose centre lies inside the box (x0, y0, x1, y1, in that order)."""
    x0, y0, x1, y1 = box
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)


def interaction_prior(shape: tuple[int, int], clicks: Sequence[Click]) -> np.ndarray | None:
    """The mask a fresh interaction starts from when no earlier mask is given: the ellipse inscribed in
    the box for a box's five clicks (the best guess a box alone allows), else None (nothing known)."""
    box = box_of_clicks(clicks)
    return None if box is None else ellipse_in_box(shape, box)


def _distance_map(shape: tuple[int, int], points: list[tuple[float, float]]) -> np.ndarray:
    h, w = shape
    if not points:
        return np.full((h, w), DISTANCE_CAP, np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    best = np.full((h, w), np.inf, np.float32)
    for x, y in points:  # few clicks: direct minimum beats a distance transform
        np.minimum(best, (xs - x) ** 2 + (ys - y) ** 2, out=best)
    return np.minimum(np.sqrt(best), DISTANCE_CAP)


def click_maps(shape: tuple[int, int], clicks: Sequence[Click]) -> np.ndarray:
    """[2, H, W] float32: distance to the nearest foreground click, then background click (cap 255)."""
    h, w = int(shape[0]), int(shape[1])
    fg = [(c.x, c.y) for c in clicks if c.positive]
    bg = [(c.x, c.y) for c in clicks if not c.positive]
    return np.stack([_distance_map((h, w), fg), _distance_map((h, w), bg)])
