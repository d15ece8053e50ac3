"""NoC as RITM measures it: the next click goes deep into the larger error region, NoC counts clicks to
reach the IoU, capped at 20."""

import numpy as np
import pytest

from liverview.metrics.refinement import MAX_CLICKS, RefinementTrace, next_click, refine


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
