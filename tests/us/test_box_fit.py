"""Fitting a box's mask to the box: the bounding box becomes the drawn box, the shape is kept."""

import numpy as np

from liverview.us.box_fit import fit_to_box
from liverview.us.clicks import ellipse_in_box


def _bbox(mask):
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return cols[0], rows[0], cols[-1], rows[-1]


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_a_small_ellipse_is_stretched_into_the_ellipse_of_the_box():
    small = ellipse_in_box((100, 120), (45, 40, 65, 52))
    fitted = fit_to_box(small, (20, 10, 99, 80))
    assert _bbox(fitted) == (20, 10, 99, 80)
    assert _iou(fitted, ellipse_in_box((100, 120), (20, 10, 99, 80))) > 0.95


def test_the_shape_is_kept_and_a_too_big_mask_is_shrunk():
    ell = np.zeros((80, 80), bool)
    ell[10:70, 10:70] = True
    ell[40:70, 40:70] = False  # an L: its lower right quarter is empty
    fitted = fit_to_box(ell, (20, 20, 49, 49))
    assert _bbox(fitted) == (20, 20, 49, 49)
    assert fitted[25, 25] and fitted[25, 45] and fitted[45, 25] and not fitted[45, 45]
    assert fitted.sum() == 3 * 15 * 15


def test_an_empty_mask_stays_empty_and_a_box_past_the_image_is_clipped():
    empty = np.zeros((50, 60), bool)
    assert not fit_to_box(empty, (5, 5, 30, 30)).any()
    blob = np.zeros((50, 60), bool)
    blob[20:30, 40:50] = True
    fitted = fit_to_box(blob, (30, 10, 80, 45))  # the box runs 21 px past the right edge
    assert fitted.shape == blob.shape
    x0, y0, x1, y1 = _bbox(fitted)
    assert (x0, y0, y1) == (30, 10, 45) and x1 == 59
