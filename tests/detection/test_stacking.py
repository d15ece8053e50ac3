"""2D -> 3D stacking (liverview.detection.stacking): hand-made cases for each rule."""

import pytest

from liverview.detection.proposals import Detection2D, Proposal3D
from liverview.detection.stacking import (cap_depth, detected_extent, merge_fragments, stack_detections, trim_poles,
                                         widen_slice_boxes)


def det(z, box, score, probs=None):
    return Detection2D(z, box, score, probs or {})


def test_boxes_on_adjacent_slices_with_high_iou_link_into_one_proposal():
    dets = [det(3, (10, 10, 20, 20), 0.5), det(4, (10, 10, 20, 21), 0.9), det(5, (10, 10, 20, 20), 0.4)]
    [p] = stack_detections(dets, n_slices=20)
    assert p.z_range == (2, 6)  # 3..5 extended by one slice each way
    assert p.score == 0.9 and p.key_slice == 4  # max 2D score and its slice
    assert p.box == (10, 10, 20, 21)  # union of the 2D boxes


def test_low_iou_or_non_adjacent_boxes_do_not_link():
    far = [det(3, (10, 10, 20, 20), 0.5), det(4, (14, 14, 24, 24), 0.6)]  # IoU 36/164 < 0.8
    assert len(stack_detections(far, n_slices=20)) == 2
    gap = [det(3, (10, 10, 20, 20), 0.5), det(6, (10, 10, 20, 20), 0.6)]  # extended 2-4 and 5-7: no overlap
    assert len(stack_detections(gap, n_slices=20)) == 2


def test_one_slice_gap_is_bridged_by_the_extension_and_merge():
    dets = [det(3, (10, 10, 20, 20), 0.5), det(5, (10, 10, 20, 20), 0.7)]  # slice 4 missed
    [p] = stack_detections(dets, n_slices=20)
    assert p.z_range == (2, 6) and p.score == 0.7 and p.key_slice == 5


def test_merge_needs_iou_of_at_least_0_8():
    dets = [det(3, (10, 10, 20, 20), 0.5), det(5, (10, 10, 20, 25), 0.7)]  # IoU 100/150 = 0.67
    assert len(stack_detections(dets, n_slices=20)) == 2


def test_score_threshold_t_g_drops_weak_boxes():
    dets = [det(3, (10, 10, 20, 20), 0.1), det(8, (10, 10, 20, 20), 0.11)]
    props = stack_detections(dets, n_slices=20)
    assert len(props) == 1 and props[0].key_slice == 8  # score must be > 0.1
    assert stack_detections([det(0, (0, 0, 5, 5), 0.05)]) == []


def test_extension_is_clipped_to_the_volume():
    [p] = stack_detections([det(0, (0, 0, 5, 5), 0.5)], n_slices=1)
    assert p.z_range == (0, 0)


def test_class_probabilities_are_score_weighted():
    dets = [det(3, (10, 10, 20, 20), 0.75, {"cyst": 1.0}), det(4, (10, 10, 20, 20), 0.25, {"hcc": 1.0})]
    [p] = stack_detections(dets, n_slices=20)
    assert abs(p.class_probs["cyst"] - 0.75) < 1e-9 and abs(p.class_probs["hcc"] - 0.25) < 1e-9
    assert p.lesion_class == "cyst"


def test_two_lesions_on_the_same_slices_stay_apart():
    dets = []
    for z in range(5, 9):
        dets += [det(z, (10, 10, 20, 20), 0.6), det(z, (50, 50, 70, 70), 0.8)]
    props = stack_detections(dets, n_slices=20)
    assert len(props) == 2
    assert props[0].box == (50, 50, 70, 70) and props[0].z_range == (4, 9)


def test_fragments_of_one_lesion_are_joined_into_the_best_one():
    from liverview.detection.stacking import merge_fragments

    # a lesion whose boxes shrink towards its poles: the 0.8 linking rule breaks it into three chains
    dets = [det(4, (14, 14, 18, 18), 0.3), det(5, (12, 12, 20, 20), 0.5), det(6, (10, 10, 22, 22), 0.9),
            det(7, (10, 10, 22, 22), 0.8), det(8, (12, 12, 20, 20), 0.4)]
    chains = stack_detections(dets, n_slices=20)
    assert len(chains) >= 3
    [p] = merge_fragments(chains)
    assert p.score == 0.9 and p.key_slice == 6 and p.box == (10, 10, 22, 22)
    assert p.z_range == (3, 9)
    # a box elsewhere, or far along z, stays separate
    other = stack_detections([det(6, (40, 40, 50, 50), 0.6), det(15, (10, 10, 22, 22), 0.7)], n_slices=20)
    assert len(merge_fragments(chains + other)) == 3


def test_each_proposal_keeps_its_box_per_slice():
    dets = [Detection2D(z, (10 + z, 10, 30 + z, 30), 0.9) for z in (4, 5, 6)]
    (p,) = stack_detections(dets)
    assert p.slice_boxes == {4: (14.0, 10.0, 34.0, 30.0), 5: (15.0, 10.0, 35.0, 30.0), 6: (16.0, 10.0, 36.0, 30.0)}
    assert p.z_range == (3, 7)  # the extension slices have no box of their own


def test_without_the_extension_the_range_is_the_detected_slices():
    dets = [Detection2D(z, (10, 10, 30, 30), 0.5) for z in (4, 5, 6)]
    (p,) = stack_detections(dets, extend=0)
    assert p.z_range == (4, 6) and sorted(p.slice_boxes) == [4, 5, 6]


def test_a_small_lesion_above_a_big_one_is_not_absorbed_as_its_pole():
    big = [Detection2D(z, (10, 10, 60, 60), 0.9) for z in (5, 6, 7)]
    big += [Detection2D(8, (25, 25, 45, 45), 0.85)]  # the big lesion's pole: a small box at its centre
    small = [Detection2D(z, (48, 12, 58, 22), 0.6) for z in (9, 10)]  # another lesion, in a corner above
    props = merge_fragments(stack_detections(big + small, extend=0))
    assert len(props) == 2
    assert props[0].z_range == (5, 8) and props[1].z_range == (9, 10)
    # compared by union boxes (no per-slice boxes), the corner lesion would have been swallowed
    bare = [type(p)(p.box, p.z_range, p.score, p.key_slice) for p in stack_detections(big + small, extend=0)]
    assert len(merge_fragments(bare)) == 1


def test_fragment_merge_keeps_the_slice_boxes_of_both_pieces():
    big = [Detection2D(z, (10, 10, 40, 40), 0.9) for z in (5, 6, 7)]
    pole = [Detection2D(z, (18, 18, 30, 30), 0.5) for z in (9, 10)]
    (joined,) = merge_fragments(stack_detections(big + pole))
    assert sorted(joined.slice_boxes) == [5, 6, 7, 9, 10] and joined.slice_boxes[6] == (10.0, 10.0, 40.0, 40.0)


def test_the_detected_extent_drops_the_extension_slices_after_merging():
    dets = [Detection2D(z, (10, 10, 30, 30), 0.8) for z in (4, 5, 6)]
    dets += [Detection2D(8, (12, 12, 28, 28), 0.6)]  # one slice gap: joined through the extension
    (p,) = merge_fragments(stack_detections(dets))
    assert p.z_range == (3, 9)  # the harvester's extended range
    tight = detected_extent(p)
    assert tight.z_range == (4, 8) and tight.slice_boxes == p.slice_boxes and tight.score == p.score
    bare = type(p)(p.box, p.z_range, p.score, p.key_slice)
    assert detected_extent(bare) is bare  # nothing to cut by


def _square(side: float) -> tuple[float, float, float, float]:
    return (50 - side / 2, 50 - side / 2, 50 + side / 2, 50 + side / 2)


def test_pole_slices_with_small_boxes_are_cut_and_the_box_is_the_union_of_the_rest():
    sides = {10: 2.0, 11: 10.0, 12: 20.0, 13: 20.0, 14: 7.0, 15: 3.0}  # 0.3 x 20 = 6: slices 11-14 stay
    p = Proposal3D(_square(20), (10, 15), 0.9, 12, {}, {z: _square(s) for z, s in sides.items()})
    t = trim_poles(p)
    assert t.z_range == (11, 14) and sorted(t.slice_boxes) == [11, 12, 13, 14]
    assert t.box == _square(20) and t.score == 0.9 and t.key_slice == 12
    assert trim_poles(p, 0.0).z_range == (10, 15)  # nothing is cut at 0


def test_pole_trim_keeps_the_range_contiguous_and_the_key_slice():
    sides = {10: 20.0, 11: 2.0, 12: 20.0, 13: 2.0}  # a small box in the middle stays; the key slice 13 stays
    p = Proposal3D(_square(20), (10, 13), 0.5, 13, {}, {z: _square(s) for z, s in sides.items()})
    t = trim_poles(p)
    assert t.z_range == (10, 13) and 11 in t.slice_boxes
    q = Proposal3D(_square(20), (10, 12), 0.5, 11, {}, {10: _square(2), 11: _square(4), 12: _square(20)})
    assert trim_poles(q).z_range == (11, 12)  # slice 10 goes; the key slice 11 stays though its box is small
    bare = Proposal3D(_square(20), (3, 9), 0.5, 5, {})
    assert trim_poles(bare) == bare  # no per-slice boxes: nothing to judge by


def test_depth_is_capped_by_the_widest_box_keeping_the_run_with_most_area():
    # 10 px boxes at 1 mm/px are 10 mm wide; 2.5 mm slices: at most int(1.27 x 10 / 2.5) + 1 = 6 slices
    sides = {z: 10.0 for z in range(20, 30)} | {20: 4.0, 21: 6.0}  # the run 22-27 holds the most area
    p = Proposal3D(_square(10), (20, 29), 0.8, 21, {"cyst": 1.0}, {z: _square(s) for z, s in sides.items()})
    c = cap_depth(p, pixel_mm=1.0, slice_mm=2.5)
    assert c.z_range == (22, 27) and sorted(c.slice_boxes) == list(range(22, 28))
    assert c.key_slice in c.slice_boxes and c.score == 0.8 and c.class_probs == {"cyst": 1.0}
    assert c.box == _square(10)
    assert cap_depth(p, pixel_mm=1.0, slice_mm=2.5, max_ratio=3.0) == p  # 13 slices allowed: nothing cut
    assert cap_depth(p, pixel_mm=1.0, slice_mm=1.0, max_ratio=2.0).z_range == (20, 29)  # 21 allowed
    bare = Proposal3D(_square(10), (0, 40), 0.5, 5, {})
    assert cap_depth(bare, 1.0, 2.5) == bare  # no per-slice boxes: nothing to measure the width by


def test_depth_cap_keeps_the_key_slice_when_it_lies_in_the_kept_run_and_rejects_bad_spacing():
    boxes = {z: _square(10) for z in range(0, 10)}
    p = Proposal3D(_square(10), (0, 9), 0.7, 3, {}, boxes)
    c = cap_depth(p, pixel_mm=1.0, slice_mm=2.5)  # equal areas: the first run of 6 slices, 0-5
    assert c.z_range == (0, 5) and c.key_slice == 3
    q = Proposal3D(_square(10), (0, 9), 0.7, 9, {}, boxes)
    assert cap_depth(q, 1.0, 2.5).key_slice in range(0, 6)  # the key slice was cut: the widest kept box is key
    with pytest.raises(ValueError):
        cap_depth(p, pixel_mm=0.0, slice_mm=2.5)


def test_each_slice_box_takes_in_its_neighbours_within_the_window():
    # a large lesion boxed whole on slices 10-11 and 14, its dark core only on 12-13
    whole, core = (10.0, 10.0, 90.0, 90.0), (40.0, 40.0, 60.0, 60.0)
    boxes = {10: whole, 11: whole, 12: core, 13: core, 14: whole}
    p = Proposal3D(whole, (10, 14), 0.9, 12, {}, boxes)
    wide = widen_slice_boxes(p, 1)
    assert wide.slice_boxes == {10: whole, 11: whole, 12: whole, 13: whole, 14: whole}
    assert (wide.box, wide.z_range, wide.key_slice, wide.score) == (p.box, p.z_range, p.key_slice, p.score)
    # a pole slice grows to its neighbour's box only within the window
    pole = Proposal3D(whole, (0, 3), 0.5, 2, {}, {0: core, 1: core, 2: whole, 3: whole})
    assert widen_slice_boxes(pole, 1).slice_boxes[0] == core
    assert widen_slice_boxes(pole, 1).slice_boxes[1] == whole
    assert widen_slice_boxes(pole, 0) is pole
    with pytest.raises(ValueError):
        widen_slice_boxes(pole, -1)
