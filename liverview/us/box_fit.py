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


# |rho| -> 1 flattens the ellipse onto the box's diagonal; beyond this the shape is a sliver
_MAX_TILT = 0.9


def mask_tilt(weights: np.ndarray) -> float:
    """The correlation of x and y over a mask (or non-negative pixel weights): the tilt of the lesion's long
    axis against the image axes, in -1..1 (0 for an axis-aligned or round lesion, or fewer than 3 pixels).
    It does not change when the mask is stretched along x or y, so a mask and its box-fitted copy agree."""
    w = np.clip(np.asarray(weights, np.float64), 0.0, None)
    if np.count_nonzero(w) < 3:
        return 0.0
    ys, xs = np.nonzero(w)
    wt = w[ys, xs]
    total = wt.sum()
    mx, my = (wt * xs).sum() / total, (wt * ys).sum() / total
    dx, dy = xs - mx, ys - my
    sxx, syy, sxy = (wt * dx * dx).sum(), (wt * dy * dy).sum(), (wt * dx * dy).sum()
    if sxx <= 0 or syy <= 0:
        return 0.0
    return float(sxy / np.sqrt(sxx * syy))


def tilted_ellipse_in_box(shape: tuple[int, int], box: tuple[float, float, float, float], tilt: float) -> np.ndarray:
    """The ellipse that touches all four sides of ``box`` (pixel centres, edges half a pixel further out, as
    :func:`liverview.us.clicks.ellipse_in_box`), with x-y correlation ``tilt``: 0 is the axis-aligned inscribed
    ellipse; towards +-1 (capped at 0.9) it leans onto the box's diagonal. Every such ellipse has exactly this
    bounding box (its shape matrix has the squared half-sides on its diagonal), so the reader's extent is kept."""
    x0, x1 = sorted((float(box[0]), float(box[2])))
    y0, y1 = sorted((float(box[1]), float(box[3])))
    cx, cy, a, b = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0 + 1) / 2, (y1 - y0 + 1) / 2
    rho = float(np.clip(tilt, -_MAX_TILT, _MAX_TILT))
    out = np.zeros(shape, bool)
    r0, r1 = max(int(np.floor(cy - b)), 0), min(int(np.ceil(cy + b)) + 1, shape[0])
    c0, c1 = max(int(np.floor(cx - a)), 0), min(int(np.ceil(cx + a)) + 1, shape[1])
    if r1 <= r0 or c1 <= c0:
        return out
    u = (np.arange(c0, c1, dtype=np.float64)[None, :] - cx) / a
    v = (np.arange(r0, r1, dtype=np.float64)[:, None] - cy) / b
    # inverse of [[1, rho], [rho, 1]] in box-normalised coordinates
    out[r0:r1, c0:c1] = (u * u - 2 * rho * u * v + v * v) <= (1 - rho * rho)
    return out


def ellipse_fit_to_box(mask: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The ellipse in ``box`` that touches its four sides, leaning as ``mask`` leans (:func:`mask_tilt`): the
    extent from the reader, only the orientation from the mask. An empty mask is returned as it is."""
    mask = np.asarray(mask, bool)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return mask
    # the tilt is a correlation, blind to where the mask sits: its bounding box is all it needs
    tilt = mask_tilt(mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    return tilted_ellipse_in_box(mask.shape, box, tilt)


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Distance to the contour, negative inside (pixels; cv2's exact Euclidean transform, in float32)."""
    m = np.ascontiguousarray(mask, np.uint8)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return outside - inside


def blend_fit_to_box(mask: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Halfway between the net's outline stretched onto the box and the box's leaning ellipse: the mean of their
    signed distances, cut at 0 (a shape average; both touch the box's sides, so the blend stays close to it)."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask
    net, ellipse = fit_to_box(mask, box), ellipse_fit_to_box(mask, box)
    if not net.any() or not ellipse.any():  # a box off the image: nothing of one shape to average
        return net | ellipse
    # both shapes lie in the box: every pixel of it and of a one-pixel ring around it has its nearest contour point
    # inside that crop, so only the crop is computed (5x faster on a 500x600 image; the same pixels up to float32
    # ties of the two distances)
    both = net | ellipse
    rows, cols = np.flatnonzero(both.any(1)), np.flatnonzero(both.any(0))
    h, w = mask.shape
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, h)
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, w)
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = (_signed_distance(net[r0:r1, c0:c1]) + _signed_distance(ellipse[r0:r1, c0:c1])) < 0
    return out


# fit_box_shape's shapes: the net's outline stretched, its tilt's ellipse, or the two averaged
BOX_SHAPES = ("net", "ellipse", "blend")


def fit_box_shape(mask: np.ndarray, box: tuple[float, float, float, float], shape: str = "net") -> np.ndarray:
    """The contour of a box drawn to the lesion's edges: ``"net"`` the mask's own outline stretched onto the box
    (:func:`fit_to_box`), ``"ellipse"`` the box's ellipse leaning as the mask leans (:func:`ellipse_fit_to_box`),
    ``"blend"`` the shape halfway between them (:func:`blend_fit_to_box`)."""
    if shape == "net":
        return fit_to_box(mask, box)
    if shape == "ellipse":
        return ellipse_fit_to_box(mask, box)
    if shape == "blend":
        return blend_fit_to_box(mask, box)
    raise ValueError(f"box shape must be one of {BOX_SHAPES}, got {shape!r}")
