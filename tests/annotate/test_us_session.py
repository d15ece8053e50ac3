"""The ultrasound click session: clicks, boxes, undo, clear, frames, and stale results dropped."""

import numpy as np
import pytest

from liverview.annotate.us_session import UsSession, UsSessionError
from liverview.us.clicks import Click


def test_left_and_right_clicks_are_foreground_and_background_and_each_asks_a_newer_prediction():
    s = UsSession((60, 80))
    r1 = s.add_click(10, 20, True)
    r2 = s.add_click(30.5, 40, False)
    assert r2.request_id > r1.request_id
    assert r2.clicks == (Click(10, 20, True), Click(30.5, 40, False))
    assert r2.frame_index == 0


def test_a_click_outside_the_image_is_refused_and_changes_nothing():
    s = UsSession((60, 80))
    with pytest.raises(UsSessionError, match="outside"):
        s.add_click(80.1, 10, True)
    with pytest.raises(UsSessionError):
        s.add_click(float("nan"), 10, True)
    assert s.clicks == () and s.latest_request_id == 0


def test_a_box_becomes_one_foreground_and_four_background_clicks_and_undo_removes_it_whole():
    s = UsSession((100, 100))
    s.add_click(5, 5, False)
    s.begin_box(20, 30)
    assert s.update_box(60, 70).width == 40
    request = s.finish_box(60, 70)
    assert s.box is None
    assert len(request.clicks) == 6
    assert request.clicks[1] == Click(40, 50, True)
    assert [c.positive for c in request.clicks[2:]] == [False] * 4
    assert {(c.x, c.y) for c in request.clicks[2:]} == {(20, 30), (60, 30), (20, 70), (60, 70)}
    assert s.undo() is True
    assert s.clicks == (Click(5, 5, False),)
    assert s.current_request().clicks == (Click(5, 5, False),)


def test_a_box_dragged_past_the_edge_is_clipped_and_a_tiny_drag_is_a_click():
    s = UsSession((50, 40))
    s.begin_box(10, 10)
    request = s.finish_box(100, -20)
    corners = {(c.x, c.y) for c in request.clicks if not c.positive}
    assert corners == {(10, 0), (39, 0), (10, 10), (39, 10)}
    s.clear()
    s.begin_box(10, 10)
    assert s.finish_box(11, 11).clicks == (Click(10, 10, True),)
    assert s.finish_box(5, 5) is None  # no drag in progress


def test_undo_removes_the_last_click_and_with_none_left_the_mask_goes():
    s = UsSession((60, 80))
    r = s.add_click(10, 10, True)
    assert s.accept(r.request_id, "mask-1")
    s.add_click(20, 20, False)
    assert s.undo()
    assert s.clicks == (Click(10, 10, True),)
    assert not s.has_current_prediction  # the shown mask belongs to an older request until re-predicted
    assert s.undo()
    assert s.clicks == () and s.prediction is None and s.current_request() is None
    assert s.undo() is False


def test_a_stale_result_never_overwrites_a_newer_one():
    s = UsSession((60, 80))
    old = s.add_click(10, 10, True)
    new = s.add_click(20, 20, True)
    assert not s.accept(old.request_id, "old mask")
    assert s.prediction is None
    assert s.accept(new.request_id, "new mask")
    assert s.has_current_prediction and s.prediction == "new mask"
    late = s.add_click(30, 30, False)
    s.clear()
    assert not s.accept(late.request_id, "too late")  # Esc came first
    assert s.prediction is None and s.clicks == ()


def test_changing_frame_keeps_the_clicks_and_asks_a_prediction_on_the_new_frame():
    s = UsSession((60, 80), n_frames=5)
    first = s.add_click(10, 10, True)
    request = s.set_frame(3)
    assert request.frame_index == 3 and request.clicks == first.clicks
    assert not s.accept(first.request_id, "frame 0 mask")
    assert s.set_frame(3) is None  # same frame: nothing to do
    with pytest.raises(UsSessionError, match="outside"):
        s.set_frame(5)
    s.clear()
    assert s.set_frame(1) is None  # no click to predict from


def test_an_image_too_small_to_annotate_is_refused():
    with pytest.raises(UsSessionError):
        UsSession((1, 80))
    with pytest.raises(UsSessionError):
        UsSession((10, 10), n_frames=0)


def test_renewing_a_request_makes_the_running_one_stale():
    s = UsSession((60, 80))
    first = s.add_click(10, 10, True)
    again = s.renew_request()
    assert again.clicks == first.clicks and again.request_id > first.request_id
    assert not s.accept(first.request_id, "old model")
    assert s.accept(again.request_id, "new model")
    s.clear()
    assert s.renew_request() is None


class _Shown:
    """A prediction as the workspace keeps it: something with the mask shown."""

    def __init__(self, mask):
        self.mask = mask


def test_each_interaction_carries_the_mask_shown_when_it_was_made_and_undo_restores_the_earlier_one():
    s = UsSession((60, 80))
    s.begin_box(10, 10)
    first = s.finish_box(40, 30)
    assert first.prior is None  # nothing shown yet: the segmenter starts a box from its own prior
    box_mask = np.zeros((60, 80), bool)
    box_mask[12:28, 12:38] = True
    assert s.accept(first.request_id, _Shown(box_mask))
    second = s.add_click(30, 20, False)
    assert np.array_equal(second.prior, box_mask)
    # a click made before the second mask came back corrects the same mask as the pending prediction
    third = s.add_click(15, 15, True)
    assert np.array_equal(third.prior, box_mask)
    third_mask = np.zeros((60, 80), bool)
    third_mask[14:26, 14:30] = True
    assert s.accept(third.request_id, _Shown(third_mask))
    assert np.array_equal(s.add_click(20, 22, True).prior, third_mask)
    assert s.undo()
    assert np.array_equal(s.current_request().prior, box_mask)  # the third click's request again
    assert s.undo() and s.undo()
    assert s.current_request().prior is None
    s.clear()
    assert s.add_click(5, 5, True).prior is None


def test_a_click_on_the_shown_mask_is_a_correction_but_a_new_frame_or_model_looks_afresh():
    s = UsSession((60, 80), n_frames=2)
    s.begin_box(10, 10)
    box = s.finish_box(40, 30)
    assert box.corrections == 0  # the box itself draws the first contour
    shown = np.zeros((60, 80), bool)
    shown[12:28, 12:38] = True
    assert s.accept(box.request_id, _Shown(shown))
    fix = s.add_click(39, 20, False)
    assert fix.corrections == 1 and np.array_equal(fix.prior, shown)
    again = s.add_click(12, 20, False)  # before the first correction's mask came back: both correct `shown`
    assert again.corrections == 2 and again.prior is fix.prior
    assert s.current_request().corrections == 2  # asked again (a retry): the same corrections
    assert s.renew_request().corrections == 0  # another model: a fresh look at all the clicks
    assert s.current_request().corrections == 0
    moved = s.set_frame(1)
    assert moved.corrections == 0  # the shown mask belongs to the other frame
    assert s.accept(moved.request_id, _Shown(shown.copy()))
    assert s.add_click(20, 20, True).corrections == 1  # made on this frame's mask only
    assert s.undo() and s.current_request().corrections == 0  # the clicks left were made on frame 0
