"""A box drawn to the lesion's edges bounds the lesion: the contour should touch all four sides.

Networks trained on a mix of loose and tight boxes return contours that stop short of a tight box's sides
(on the liver cross-validation the net's box masks scored below an ellipse inscribed in the same box). Fitting
rescales the mask along x and y so its bounding box becomes the drawn box: the shape comes from the image, the
extent from the reader. It is right when the reader drew the lesion's edges and wrong (too big) when the box was
drawn loosely, so it is a reader's choice (on in the workspace and in ``UsSegmenter`` by default).
Pure numpy/OpenCV: no network involved.
"""

from __future__ import annotations

import cv2
import numpy as np


def fit_to_box(mask: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """``mask`` stretched or shrunk along each axis so that its bounding box fills ``box`` (x0, y0, x1, y1:
    pixel centres, as :func:`liverview.us.clicks.ellipse_in_box` reads a box; rounded to whole pixels).
    Pixels of the box outside the image are dropped. An empty mask is returned as it is (nothing to fit)."""
    mask = np.asarray(mask, bool)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return mask
    h, w = mask.shape
    x0, x1 = sorted((float(box[0]), float(box[2])))
    y0, y1 = sorted((float(box[1]), float(box[3])))
    left, top = int(round(x0)), int(round(y0))
    width, height = max(int(round(x1)) - left + 1, 1), max(int(round(y1)) - top + 1, 1)
    lesion = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    # bilinear, pixel edges onto pixel edges; only the box's pixels are computed, so the cost is the box's
    fitted = cv2.resize(lesion, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5
    out = np.zeros_like(mask)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + height, h), min(left + width, w)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = fitted[r0 - top:r1 - top, c0 - left:c1 - left]
    return out
