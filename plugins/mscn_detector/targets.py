"""Ground truth for one slice on the stride-4 output grid: Gaussian heatmap peaks at box centres
(CenterNet's size-adaptive radius), width/height and offset at the peak pixels, hard-negative heatmap."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


HARD_NEGATIVE = -1
UNKNOWN_CLASS = -2


@dataclass(frozen=True)
class SliceBox:
    """A box on one slice of the working grid (pixels, x0 <= x < x1) with its class index, or HARD_NEGATIVE,
    or UNKNOWN_CLASS (a lesion whose class is not known, e.g. a DeepLesion mark: it trains the lesion
    channel, size and offset, and the class channels ignore it)."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: int


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius: the largest centre shift that keeps IoU >= min_overlap (three cases, minimum)."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(heatmap: np.ndarray, cx: int, cy: int, radius: int) -> None:
    """Max-blend a Gaussian peak of value 1 at (cx, cy), sigma = diameter / 6, into heatmap (H, W)."""
    d = 2 * radius + 1
    sigma = d / 6.0
    ys, xs = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    g = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma))
    h, w = heatmap.shape
    l, r = min(cx, radius), min(w - cx, radius + 1)
    t, b = min(cy, radius), min(h - cy, radius + 1)
    if l + r <= 0 or t + b <= 0:
        return
    region = heatmap[cy - t:cy + b, cx - l:cx + r]
    np.maximum(region, g[radius - t:radius + b, radius - l:radius + r], out=region)


def build_targets(boxes: list[SliceBox], out_h: int, out_w: int, n_classes: int, stride: int = 4
                  ) -> dict[str, np.ndarray]:
    """Targets of one slice. Heatmap channels: one per class, then 'any lesion'. Hard negatives (label -1)
    go to the separate ``hard_negative`` map used by the HNSL; lesions of unknown class (label -2) mark
    ``class_ignore`` where the class channels get no loss."""
    heat = np.zeros((n_classes + 1, out_h, out_w), np.float32)
    hard = np.zeros((1, out_h, out_w), np.float32)
    wh = np.zeros((2, out_h, out_w), np.float32)
    off = np.zeros((2, out_h, out_w), np.float32)
    mask = np.zeros((out_h, out_w), np.float32)
    ignore = np.zeros((1, out_h, out_w), np.float32)
    for b in boxes:
        w, h = (b.x1 - b.x0) / stride, (b.y1 - b.y0) / stride
        if w <= 0 or h <= 0:
            continue
        cx, cy = (b.x0 + b.x1) / 2 / stride, (b.y0 + b.y1) / 2 / stride
        ix, iy = int(cx), int(cy)
        if not (0 <= ix < out_w and 0 <= iy < out_h):
            continue
        radius = max(0, int(gaussian_radius(math.ceil(h), math.ceil(w))))
        if b.label == HARD_NEGATIVE:
            draw_gaussian(hard[0], ix, iy, radius)
            continue
        if b.label == UNKNOWN_CLASS:
            draw_gaussian(ignore[0], ix, iy, radius)
        else:
            draw_gaussian(heat[b.label], ix, iy, radius)
        draw_gaussian(heat[n_classes], ix, iy, radius)
        wh[:, iy, ix] = (w, h)
        off[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1.0
    return {"heatmap": heat, "hard_negative": hard, "wh": wh, "offset": off, "mask": mask, "class_ignore": ignore}
