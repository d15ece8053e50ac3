"""A corrective click nudges the shown contour through the click and leaves the rest of it where it was
(liverview.us.local_correction)."""

import numpy as np
import pytest
from scipy import ndimage

from liverview.metrics.segmentation import jaccard_index
from liverview.us.clicks import Click, box_to_clicks, filled_box
from liverview.us.local_correction import (NUDGE_DEPTH, NUDGE_WIDTH, box_before_corrections, correct_shown_mask,
                                           nudge_contour)

SHAPE = (80, 100)


def disk(cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.ogrid[:SHAPE[0], :SHAPE[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def nudged_on_the_whole_image(shown: np.ndarray, clicks: list[Click], earlier: list[Click] = ()) -> np.ndarray:
    """The rule of the module's note written out over the whole image (no window), each bump narrowed to the
    widest that leaves every earlier click of the other label on its side."""
    signed = ndimage.distance_transform_edt(shown) - ndimage.distance_transform_edt(~shown)
    level = signed.copy()
    yy, xx = np.mgrid[:shown.shape[0], :shown.shape[1]]
    for c in clicks:
        y, x = int(round(c.y)), int(round(c.x))
        if shown[y, x] == c.positive:
            continue
        t = max(1.0, abs(signed[y, x]))
        height, width = NUDGE_DEPTH * t, NUDGE_WIDTH * t
        spared = [(int(round(e.y)), int(round(e.x))) for e in earlier
                  if e.positive != c.positive and shown[int(round(e.y)), int(round(e.x))] == e.positive]
        for ey, ex in spared:  # the bump at the spared click must stay below its depth (its |signed distance|)
            depth, d2 = abs(signed[ey, ex]), (ey - y) ** 2 + (ex - x) ** 2
            if depth < height * np.exp(-d2 / (2 * width ** 2)):
                width = np.sqrt(d2 / (2 * np.log(height / (0.999 * depth))))
        bump = height * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * width ** 2))
        level = level + bump if c.positive else level - bump
    return level > 0


def test_the_box_is_found_only_when_more_clicks_follow_it():
    box = box_to_clicks(20, 10, 80, 70)
    assert box_before_corrections(box) is None  # the box alone: nothing to correct yet
    assert box_before_corrections(box + [Click(30, 30, False)]) == (20, 10, 80, 70)
    assert box_before_corrections([Click(50, 40, True)] * 6) is None


def test_a_lesion_click_pushes_the_contour_past_the_click_and_keeps_the_far_side():
    shown = disk(40, 50, 10)
    out = nudge_contour(shown, [Click(66, 40, True)])  # 6 px outside the shown lesion's edge
    assert out[40, 66] and out[40, 70] and not out[40, 74]  # moved out by about twice the click's distance
    assert (out | shown).sum() == out.sum()  # a lesion click only adds
    assert np.array_equal(out[:, :40], shown[:, :40])  # the far side of the contour has not moved
    assert not out[10, 66] and not out[70, 66]  # nor has it grown far along the contour


def test_a_background_click_only_removes_and_frees_its_pixel():
    shown = disk(40, 50, 15)
    out = nudge_contour(shown, [Click(61, 40, False)])  # 4 px inside the edge
    assert not out[40, 61] and not (out & ~shown).any()
    assert np.array_equal(out[:, :45], shown[:, :45])
    deep = nudge_contour(shown, [Click(50, 40, False)])  # "the middle of this is not lesion": all of it is spill
    assert not deep.any()


def test_the_window_gives_the_rule_computed_on_the_whole_image():
    rng = np.random.default_rng(3)
    for _ in range(20):
        shown = disk(*rng.uniform(20, 60, 2), rng.uniform(3, 18)) | disk(*rng.uniform(20, 60, 2), rng.uniform(3, 12))
        clicks = [Click(float(rng.integers(0, SHAPE[1])), float(rng.integers(0, SHAPE[0])), bool(rng.integers(2)))
                  for _ in range(int(rng.integers(1, 4)))]
        assert np.array_equal(nudge_contour(shown, clicks), nudged_on_the_whole_image(shown, clicks))


def test_a_correction_does_not_overturn_an_earlier_click_and_the_window_agrees_with_the_whole_image():
    shown = disk(40, 50, 10)
    earlier = [Click(57, 40, True)]  # "lesion here", about 3 px inside the contour, answered by the mask shown
    alone = nudge_contour(shown, [Click(58, 40, False)])  # "not lesion here", the next pixel out
    spared = nudge_contour(shown, [Click(58, 40, False)], earlier)
    assert not alone[40, 57]  # the bump alone would carry the earlier click out of the lesion
    assert spared[40, 57] and not spared[40, 58]  # narrowed: the earlier click stays, the new one still flips
    assert (spared & ~shown).sum() == 0 and spared.sum() > alone.sum()
    assert np.array_equal(spared, nudged_on_the_whole_image(shown, [Click(58, 40, False)], earlier))
    rng = np.random.default_rng(5)
    for _ in range(20):
        shown = disk(*rng.uniform(25, 55, 2), rng.uniform(4, 16))
        ys, xs = np.nonzero(ndimage.binary_dilation(shown, iterations=4) ^ ndimage.binary_erosion(shown, iterations=4))
        picks = rng.choice(ys.size, 4, replace=False)
        clicks = [Click(float(xs[i]), float(ys[i]), not shown[ys[i], xs[i]]) for i in picks[:1]]  # a correction
        earlier = [Click(float(xs[i]), float(ys[i]), bool(shown[ys[i], xs[i]])) for i in picks[1:]]  # answered
        out = nudge_contour(shown, clicks, earlier)
        assert np.array_equal(out, nudged_on_the_whole_image(shown, clicks, earlier))
        assert all(out[int(e.y), int(e.x)] == e.positive for e in earlier)


def test_clicks_that_are_already_right_or_off_the_image_change_nothing_and_no_contour_gives_none():
    shown = disk(40, 50, 10)
    assert np.array_equal(nudge_contour(shown, [Click(50, 40, True), Click(5, 5, False), Click(500, 40, True)]), shown)
    assert nudge_contour(np.zeros(SHAPE, bool), [Click(50, 40, True)]) is None
    assert nudge_contour(np.ones(SHAPE, bool), [Click(50, 40, False)]) is None


def test_without_a_shown_mask_or_a_correction_or_a_contour_the_segmenters_mask_is_kept():
    new = disk(40, 50, 12)
    box = box_to_clicks(30, 20, 70, 60)
    assert np.array_equal(correct_shown_mask(new, None, box + [Click(61, 40, True)], box_edges=True), new)
    assert np.array_equal(correct_shown_mask(new, disk(40, 50, 8), [Click(50, 40, True)], box_edges=True), new)
    empty = np.zeros(SHAPE, bool)
    assert np.array_equal(correct_shown_mask(new, empty, [Click(50, 40, True), Click(55, 40, True)],
                                             box_edges=False), new)


def test_a_correction_fixes_the_clicked_bump_keeps_the_rest_and_does_not_depend_on_the_redraw():
    truth = disk(40, 50, 15) | disk(40, 67, 6)  # a round lesion with a bump on its right side
    shown = disk(40, 50, 15)  # the box's contour missed the bump
    clicks = box_to_clicks(35, 25, 73, 55) + [Click(68, 40, True)]  # the deepest missed point
    out = correct_shown_mask(disk(43, 53, 15), shown, clicks, box_edges=True)
    assert jaccard_index(out, truth) > jaccard_index(shown, truth) + 0.03
    assert out[40, 68] and np.array_equal(out[:, :55], shown[:, :55])
    assert np.array_equal(out, correct_shown_mask(np.ones(SHAPE, bool), shown, clicks, box_edges=True))
    one_click = [Click(50, 40, True), Click(68, 40, True)]  # the same correction after a first click
    assert np.array_equal(correct_shown_mask(np.ones(SHAPE, bool), shown, one_click, box_edges=False),
                          nudge_contour(shown, one_click[1:]))


def test_an_edge_drawn_box_bounds_the_correction_and_every_click_is_honoured():
    box = (38, 28, 62, 52)
    shown = disk(40, 50, 8)
    clicks = box_to_clicks(*box) + [Click(61.0, 40.0, True)]  # 3 px outside the shown lesion, inside the box
    edges = correct_shown_mask(shown, shown, clicks, box_edges=True)
    loose = correct_shown_mask(shown, shown, clicks, box_edges=False)
    assert edges[40, 61] and not (edges & ~filled_box(SHAPE, box)).any()
    assert (loose & ~filled_box(SHAPE, box)).any()  # a loose box does not bound it
    outside = box_to_clicks(*box) + [Click(64.0, 40.0, True)]  # a lesion click the box left out
    assert correct_shown_mask(shown, shown, outside, box_edges=True)[40, 64]  # honoured all the same
    background = box_to_clicks(*box) + [Click(50.0, 40.0, False)]
    assert not correct_shown_mask(shown, shown, background, box_edges=True)[40, 50]


def test_clicks_made_before_the_mask_came_back_are_all_corrections_of_the_mask_shown():
    truth = disk(40, 50, 15) | disk(40, 67, 6) | disk(40, 33, 6)  # bumps on both sides
    shown = disk(40, 50, 15)
    new = disk(43, 53, 15)
    clicks = box_to_clicks(26, 25, 73, 55) + [Click(68, 40, True), Click(32, 40, True)]
    both = correct_shown_mask(new, shown, clicks, box_edges=True, corrections=2)
    last = correct_shown_mask(new, shown, clicks, box_edges=True)  # as if only the newest click were new
    assert both[40, 68] and both[40, 32] and jaccard_index(both, truth) > jaccard_index(last, truth)
    assert np.array_equal(correct_shown_mask(new, shown, clicks, box_edges=True, corrections=0), new)
    assert np.array_equal(correct_shown_mask(new, shown, clicks, box_edges=True, corrections=3), new)  # box's own


def test_a_shown_mask_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="shown mask"):
        correct_shown_mask(np.zeros(SHAPE, bool), np.zeros((10, 10), bool), [Click(5, 5, True), Click(6, 5, True)],
                           box_edges=False)
