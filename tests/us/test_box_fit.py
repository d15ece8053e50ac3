"""Fitting a box's mask to the box: the bounding box becomes the drawn box, the shape is kept."""

import numpy as np
from scipy import ndimage

from liverview.commands.reader_box import BOX_SHAPE_CHOICES
from liverview.us.box_fit import (BOX_SHAPES, blend_fit_to_box, ellipse_fit_to_box, fit_box_shape, fit_to_box,
                                 mask_tilt, tilted_ellipse_in_box)
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


def test_a_tilted_ellipse_keeps_the_box_and_its_tilt_is_read_back():
    box = (10, 20, 70, 45)
    assert (tilted_ellipse_in_box((80, 90), box, 0.0) == ellipse_in_box((80, 90), box)).all()
    for tilt in (-0.8, -0.3, 0.4, 0.85):
        ell = tilted_ellipse_in_box((80, 90), box, tilt)
        assert _bbox(ell) == box  # every tilt touches all four sides
        assert abs(mask_tilt(ell) - tilt) < 0.03
    # positive tilt: the long axis runs from top left to bottom right (y grows downwards)
    ell = tilted_ellipse_in_box((80, 90), box, 0.8)
    assert ell[22, 14] and ell[43, 66] and not ell[22, 66] and not ell[43, 14]


def test_mask_tilt_ignores_stretching_and_is_zero_for_too_little():
    bar = np.zeros((100, 100), bool)
    for i in range(60):
        bar[20 + i // 2, 20 + i: 26 + i] = True  # a bar leaning down to the right
    assert mask_tilt(bar) > 0.5
    assert abs(mask_tilt(bar) - mask_tilt(fit_to_box(bar, (0, 0, 40, 90)))) < 0.05
    assert mask_tilt(np.fliplr(bar)) < -0.5
    assert mask_tilt(np.zeros((9, 9), bool)) == 0.0
    assert mask_tilt(np.eye(2, dtype=bool)) == 0.0


def test_the_ellipse_fit_leans_as_the_mask_leans_and_fills_the_box():
    bar = np.zeros((100, 100), bool)
    for i in range(60):
        bar[20 + i // 2, 20 + i: 26 + i] = True
    fitted = ellipse_fit_to_box(bar, (10, 10, 89, 69))
    assert _bbox(fitted) == (10, 10, 89, 69)
    assert fitted[15, 20] and fitted[64, 80] and not fitted[15, 80] and not fitted[64, 20]
    assert not ellipse_fit_to_box(np.zeros((30, 30), bool), (2, 2, 20, 20)).any()


def test_the_blend_lies_between_the_stretched_outline_and_the_ellipse():
    """A square lesion in a square box: the stretched outline is the box itself, the ellipse its inscribed
    circle; halfway between them keeps the box's centre lines, fills the centre, rounds the corners less
    than the circle and keeps out of the box."""
    square = np.zeros((80, 80), bool)
    square[30:50, 30:50] = True
    box = (10, 10, 69, 69)
    net, ellipse, blend = (fit_box_shape(square, box, s) for s in ("net", "ellipse", "blend"))
    assert np.array_equal(blend, blend_fit_to_box(square, box))
    assert (ellipse & ~net).sum() == 0 and (blend & ~net).sum() == 0 and (ellipse & ~blend).sum() == 0
    assert ellipse.sum() < blend.sum() < net.sum()
    assert _bbox(blend) == (10, 10, 69, 69)  # the sides' midpoints are on both shapes, so on the blend
    assert blend[12, 12] == 0 and blend[16, 16]  # the corner rounded, less than the circle's (which misses 16,16)
    assert not ellipse[16, 16]
    assert not blend_fit_to_box(np.zeros((30, 30), bool), (2, 2, 20, 20)).any()


def test_the_cli_offers_every_box_shape():
    assert BOX_SHAPE_CHOICES == BOX_SHAPES


def test_the_blend_computed_on_the_box_alone_is_the_blend_of_the_whole_image_but_for_ties():
    def signed(m):
        return ndimage.distance_transform_edt(~m) - ndimage.distance_transform_edt(m)

    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(40):
        h, w = rng.integers(60, 200, 2)
        mask = ndimage.gaussian_filter(rng.random((h, w)), rng.uniform(2, 6)) > 0.52
        x0, y0 = rng.integers(-10, w // 2), rng.integers(-10, h // 2)  # some boxes run off the image
        box = (x0, y0, x0 + rng.integers(5, w), y0 + rng.integers(5, h))
        net, ellipse = fit_to_box(mask, box), ellipse_fit_to_box(mask, box)
        if not net.any() or not ellipse.any():
            continue
        whole = signed(net) + signed(ellipse)  # float64 over the whole image
        clear = np.abs(whole) > 1e-4
        assert np.array_equal(blend_fit_to_box(mask, box)[clear], (whole < 0)[clear])
        checked += 1
    assert checked >= 20
