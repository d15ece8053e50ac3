"""NoC as RITM measures it: the next click goes deep into the larger error region, NoC counts clicks to
reach the IoU, capped at 20."""

import numpy as np
import pytest

from liverview.metrics.refinement import BOX_CLICKS, MAX_CLICKS, RefinementTrace, next_click, refine, refine_from_box
from liverview.us.clicks import box_to_clicks


def disk(shape, cx, cy, r):
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_first_click_is_the_deepest_lesion_point_and_positive():
    truth = disk((60, 80), 30, 25, 10)
    c = next_click(np.zeros_like(truth), truth)
    assert (c.x, c.y, c.positive) == (30.0, 25.0, True)


def test_spill_larger_than_miss_gives_a_background_click_inside_the_spill():
    truth = disk((60, 80), 20, 30, 8)
    pred = truth | disk((60, 80), 55, 30, 12)  # a second blob spilled beside the lesion
    c = next_click(pred, truth)
    assert not c.positive and pred[int(c.y), int(c.x)] and not truth[int(c.y), int(c.x)]
    assert next_click(truth, truth) is None


def test_noc_counts_clicks_to_the_threshold_and_caps():
    trace = RefinementTrace([0.5, 0.8, 0.86, 0.91])
    assert (trace.noc(0.85), trace.noc(0.90), trace.noc(0.95)) == (3, 4, MAX_CLICKS)
    assert trace.improvements == (3, 3)
    assert RefinementTrace([0.9, 0.8]).improvements == (0, 1)
    after_box = RefinementTrace([0.5, 0.8, 0.86, 0.91], first_cost=BOX_CLICKS)  # ious[0] after a box: 2 clicks
    assert (after_box.noc(0.85), after_box.noc(0.90), after_box.noc(0.95)) == (4, 5, MAX_CLICKS)
    assert after_box.noc(0.95, cap=4) == 4 and RefinementTrace([0.9], first_cost=BOX_CLICKS).noc(0.85) == 2


def test_refine_with_a_model_that_fixes_a_disk_around_each_click():
    """A toy model: its mask is the union of the truth within 6 px of each foreground click, minus
    nothing: every click fixes a patch, so IoU must rise click after click until 0.90."""
    truth = disk((64, 64), 32, 32, 14) & ~disk((64, 64), 46, 32, 6)

    previous_masks, outputs = [], []

    def predict(clicks, previous):
        previous_masks.append(previous)
        out = np.zeros_like(truth)
        for c in clicks:
            if c.positive:
                out |= disk(truth.shape, c.x, c.y, 6) & truth
        outputs.append(out)
        return out

    trace = refine(predict, truth)
    assert previous_masks[0] is None  # no mask before the first click; then each call gets the last mask
    assert all(np.array_equal(prev, returned) for prev, returned in zip(previous_masks[1:], outputs))
    assert all(b > a for a, b in zip(trace.ious, trace.ious[1:]))
    assert trace.ious[-1] >= 0.90 and trace.noc(0.90) == len(trace.ious) < MAX_CLICKS
    assert all(c.positive for c in trace.clicks)


def test_refine_refuses_an_empty_lesion():
    with pytest.raises(ValueError, match="empty"):
        refine(lambda clicks, previous: np.zeros((4, 4), bool), np.zeros((4, 4), bool))


def test_refine_from_a_box_counts_it_as_two_clicks_and_corrects_from_its_mask():
    """A toy model: the box gives a disk too small for the lesion; every later foreground click adds the
    truth within 6 px of it, every background click removes what lies within 6 px."""
    truth = disk((64, 64), 30, 32, 14) | disk((64, 64), 44, 32, 6)
    box = box_to_clicks(16, 18, 50, 46)
    calls = []

    def predict(clicks, previous):
        calls.append((list(clicks), previous))
        if previous is None:
            return disk(truth.shape, 30, 32, 12)  # the box's first guess: too small
        out = previous.copy()
        c = clicks[-1]
        patch = disk(truth.shape, c.x, c.y, 6)
        return out | (patch & truth) if c.positive else out & ~patch

    trace = refine_from_box(predict, truth, box)
    assert calls[0] == (list(box), None)  # the box's five clicks first, from no mask
    assert all(call[0][:5] == list(box) and len(call[0]) == 5 + i for i, call in enumerate(calls))
    assert len(trace.clicks) == len(trace.ious) - 1 and trace.first_cost == BOX_CLICKS
    assert trace.ious[0] < 0.85 and trace.ious[-1] >= 0.90
    assert trace.noc(0.90) == BOX_CLICKS + len(trace.clicks)
    # the cap counts the box: never more than 20 clicks in all
    stuck = refine_from_box(lambda clicks, previous: np.zeros_like(truth), truth, box)
    assert BOX_CLICKS + len(stuck.clicks) == MAX_CLICKS and stuck.noc(0.85) == MAX_CLICKS
