"""Corrections keep to their sign; after a box they change the shown contour near the click only
(liverview.us.local_correction)."""

import numpy as np
import pytest

from liverview.metrics.segmentation import jaccard_index
from liverview.us.clicks import Click, box_to_clicks, filled_box
from liverview.us.local_correction import (box_before_corrections, correct_shown_mask,
                                           keep_clicks_sign, paste_near_clicks)

SHAPE = (80, 100)


def disk(cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.ogrid[:SHAPE[0], :SHAPE[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_the_box_is_found_only_when_more_clicks_follow_it():
    box = box_to_clicks(20, 10, 80, 70)
    assert box_before_corrections(box) is None  # the box alone: nothing to correct yet
    assert box_before_corrections(box + [Click(30, 30, False)]) == (20, 10, 80, 70)
    assert box_before_corrections([Click(50, 40, True)] * 6) is None


def test_the_new_mask_is_pasted_within_twice_the_clicks_distance_to_the_shown_lesion():
    shown = disk(40, 50, 10)
    new = np.ones(SHAPE, bool)  # a net that now calls everything lesion
    click = Click(50 + 16, 40, True)  # 6 px outside the shown lesion's edge
    out = paste_near_clicks(new, shown, [click])
    added = out & ~shown
    yy, xx = np.nonzero(added)
    reach = np.sqrt((yy - 40) ** 2 + (xx - 66) ** 2).max()
    assert 11.0 <= reach <= 12.0  # 2 x ~5.9 px: the wrong region can reach that far from its deepest point
    assert out[disk(40, 50, 10)].all() and not out[0, 0] and not out[79, 99]


def test_a_click_with_nothing_of_the_opposite_label_shown_takes_the_new_mask():
    new = disk(40, 50, 12)
    assert np.array_equal(paste_near_clicks(new, np.zeros(SHAPE, bool), [Click(50, 40, True)]), new)
    with pytest.raises(ValueError, match="shown mask"):
        paste_near_clicks(new, np.zeros((10, 10), bool), [Click(5, 5, True)])


def test_without_a_shown_mask_or_a_correction_the_segmenters_mask_is_kept():
    new = disk(40, 50, 12)
    box = box_to_clicks(30, 20, 70, 60)
    assert np.array_equal(correct_shown_mask(new, None, box + [Click(61, 40, True)], box_edges=True), new)
    assert np.array_equal(correct_shown_mask(new, disk(40, 50, 8), [Click(50, 40, True)], box_edges=True), new)


def test_a_lesion_click_never_removes_lesion_and_a_background_click_never_adds_any():
    shown = disk(40, 50, 10)
    redrawn = disk(40, 56, 10)  # the net moved the lesion: part of what was shown is gone, a part is new
    grow = [Click(50, 40, True), Click(63, 40, True)]
    assert np.array_equal(correct_shown_mask(redrawn, shown, grow, box_edges=True), shown | redrawn)
    shrink = [Click(50, 40, True), Click(43, 40, False)]
    out = correct_shown_mask(redrawn, shown, shrink, box_edges=True)
    assert not (out & ~shown).any() and not out[40, 43]  # only removals, the clicked pixel among them
    assert np.array_equal(keep_clicks_sign(redrawn, shown, [Click(63, 40, True), Click(43, 40, False)]), redrawn)


def test_a_correction_fixes_the_clicked_bump_and_keeps_the_rest_of_the_contour_that_was_right():
    truth = disk(40, 50, 15) | disk(40, 67, 6)  # a round lesion with a bump on its right side
    shown = disk(40, 50, 15)  # the box's contour missed the bump
    new = disk(43, 53, 15) | disk(40, 67, 6)  # the net found the bump but its outline drifted elsewhere
    clicks = box_to_clicks(35, 25, 73, 55) + [Click(68, 40, True)]  # the deepest missed point
    out = correct_shown_mask(new, shown, clicks, box_edges=True)
    assert jaccard_index(out, truth) > max(jaccard_index(shown, truth), jaccard_index(new, truth))
    assert out[40, 68] and np.array_equal(out[:, :50], shown[:, :50])  # left half untouched


def test_an_edge_drawn_box_bounds_the_correction_and_every_click_is_honoured():
    box = (38, 28, 62, 52)
    shown = disk(40, 50, 8)
    new = disk(40, 50, 30)  # spills far past the box
    clicks = box_to_clicks(*box) + [Click(61.0, 40.0, True)]  # 3 px outside the shown lesion, inside the box
    edges = correct_shown_mask(new, shown, clicks, box_edges=True)
    loose = correct_shown_mask(new, shown, clicks, box_edges=False)
    assert edges[40, 61] and not (edges & ~filled_box(SHAPE, box)).any()
    assert (loose & ~filled_box(SHAPE, box)).any()  # a loose box does not bound it
    outside = box_to_clicks(*box) + [Click(64.0, 40.0, True)]  # a lesion click the box left out
    assert correct_shown_mask(new, shown, outside, box_edges=True)[40, 64]  # honoured all the same
    background = box_to_clicks(*box) + [Click(50.0, 40.0, False)]
    assert not correct_shown_mask(np.ones(SHAPE, bool), shown, background, box_edges=True)[40, 50]


def test_clicks_made_before_the_mask_came_back_are_all_corrections_of_the_mask_shown():
    truth = disk(40, 50, 15) | disk(40, 67, 6) | disk(40, 33, 6)  # bumps on both sides
    shown = disk(40, 50, 15)
    new = disk(43, 53, 15) | disk(40, 67, 6) | disk(40, 33, 6)  # found both bumps, drifted elsewhere
    clicks = box_to_clicks(26, 25, 73, 55) + [Click(68, 40, True), Click(32, 40, True)]
    both = correct_shown_mask(new, shown, clicks, box_edges=True, corrections=2)
    last = correct_shown_mask(new, shown, clicks, box_edges=True)  # as if only the newest click were new
    assert both[40, 70] and both[40, 30] and jaccard_index(both, truth) > jaccard_index(last, truth)
    assert np.array_equal(correct_shown_mask(new, shown, clicks, box_edges=True, corrections=0), new)
    assert np.array_equal(correct_shown_mask(new, shown, clicks, box_edges=True, corrections=3), new)  # box's own
