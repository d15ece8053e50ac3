"""A box drawn to the lesion's edges bounds the lesion: the contour should touch all four sides.

Networks trained on a mix of loose and tight boxes return contours that stop short of a tight box's sides
(on the liver cross-validation the net's box masks scored below an ellipse inscribed in the same box). Fitting
rescales the mask along x and y so its bounding box becomes the drawn box: the shape comes from the image, the
extent from the reader. It is right when the reader drew the lesion's edges and wrong (too big) when the box was
drawn loosely, so it is a reader's choice (on in the workspace and in ``UsSegmenter`` by default).
Pure numpy/scipy: no network involved.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def fit_to_box(mask: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """``mask`` stretched or shrunk along each axis so that its bounding box fills ``box`` (x0, y0, x1, y1:
    pixel centres, edges half a pixel further out, as :func:`liverview.us.clicks.ellipse_in_box` reads a box).
    Pixels of the box outside the image are dropped. An empty mask is returned as it is (nothing to fit)."""
    mask = np.asarray(mask, bool)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return mask
    h, w = mask.shape
    x0, x1 = sorted((float(box[0]), float(box[2])))
    y0, y1 = sorted((float(box[1]), float(box[3])))
    # edges of the mask's bounding box and of the box, in pixel-edge coordinates
    mt, mb, ml, mr = rows[0] - 0.5, rows[-1] + 0.5, cols[0] - 0.5, cols[-1] + 0.5
    bt, bb, bl, br = y0 - 0.5, y1 + 0.5, x0 - 0.5, x1 + 0.5
    r0, r1 = max(int(np.ceil(bt)), 0), min(int(np.floor(bb)), h - 1)
    c0, c1 = max(int(np.ceil(bl)), 0), min(int(np.floor(br)), w - 1)
    out = np.zeros_like(mask)
    if r1 < r0 or c1 < c0:
        return out
    # each output pixel centre samples the mask where the box-to-mask mapping sends it (bilinear, then > 0.5)
    src_y = mt + (np.arange(r0, r1 + 1) - bt) * (mb - mt) / (bb - bt)
    src_x = ml + (np.arange(c0, c1 + 1) - bl) * (mr - ml) / (br - bl)
    yy, xx = np.meshgrid(src_y, src_x, indexing="ij")
    sampled = ndimage.map_coordinates(mask.astype(np.float32), [yy, xx], order=1, mode="constant", cval=0.0)
    out[r0:r1 + 1, c0:c1 + 1] = sampled > 0.5
    return out
