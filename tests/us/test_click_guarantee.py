"""liverview.us.click_guarantee: clicks a network ignored are painted back, as far as the shown mask allows."""

import numpy as np
import pytest
from scipy import ndimage

from liverview.us.click_guarantee import MIN_RADIUS_PX, distance_to_region, honour_clicks
from liverview.us.clicks import Click


def _disk(shape, cy, cx, r):
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_an_ignored_lesion_click_paints_a_disk_that_reaches_the_shown_mask():
    shown = _disk((100, 100), 50, 40, 15)  # the lesion shown runs to x = 55
    click = Click(65, 50, True)  # 10 px right of it, in missed lesion
    out = honour_clicks(shown, [click], shown)
    assert out[50, 65] and out[50, 56] and out[50, 74]  # the disk of radius 10 joins the mask
    assert not out[50, 76] and not out[38, 65]
    assert (out & ~shown).sum() == pytest.approx(np.pi * 10 ** 2, rel=0.15)
    assert out[shown].all()  # nothing of the shown lesion is lost


def test_an_ignored_background_click_carves_out_to_the_shown_background():
    shown = _disk((100, 100), 50, 50, 20)
    click = Click(62, 50, False)  # 8 px inside the right edge (x = 70)
    out = honour_clicks(shown, [click], shown)
    assert not out[50, 62] and not out[50, 57] and out[50, 50]
    assert out.sum() < shown.sum() and not (out & ~shown).any()


def test_clicks_already_honoured_change_nothing_and_the_shown_lesion_caps_the_disk():
    mask = _disk((80, 80), 40, 40, 10)
    clicks = [Click(40, 40, True), Click(5, 5, False)]
    assert np.array_equal(honour_clicks(mask, clicks), mask)
    far = honour_clicks(mask, [Click(75, 40, True)], mask)  # 25 px away from a lesion of radius 10
    added = far & ~mask
    assert added[40, 75] and added.sum() <= np.pi * 10.5 ** 2  # capped at the lesion's radius, not 25
    nothing_shown = honour_clicks(np.zeros((30, 30), bool), [Click(15, 15, True)], np.zeros((30, 30), bool))
    assert nothing_shown[15, 15] and nothing_shown.sum() == _disk((30, 30), 15, 15, MIN_RADIUS_PX).sum()


def test_later_clicks_win_and_clicks_off_the_image_are_left_alone():
    shown = _disk((60, 60), 30, 30, 12)
    out = honour_clicks(np.zeros_like(shown), [Click(30, 30, True), Click(30, 30, False)], shown)
    assert not out[30, 30]
    assert np.array_equal(honour_clicks(shown, [Click(90, 90, True)], shown), shown)
    with pytest.raises(ValueError, match="shown mask"):
        honour_clicks(shown, [Click(30, 30, True)], np.zeros((5, 5), bool))


def test_the_distance_to_a_region_searched_on_its_edge_equals_the_euclidean_distance_transform():
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(60):
        region = ndimage.gaussian_filter(rng.random((40, 50)), 2.5) > 0.5
        if not region.any() or region.all():
            continue
        to_region = ndimage.distance_transform_edt(~region)
        for y, x in rng.integers(0, (40, 50), size=(5, 2)):
            assert distance_to_region(region, int(y), int(x)) == pytest.approx(to_region[y, x], abs=1e-9)
            checked += 1
    assert checked > 100
    assert distance_to_region(np.zeros((5, 5), bool), 2, 2) is None
