"""The published protocols (deeplesion, manual1k) against strict, on hand-made cases worked out by hand, and
the FROC read-off against scipy's interp1d, which the reference codes call."""

import numpy as np
import pytest
from scipy import interpolate

from liverview.detection.proposals import Proposal3D, ProposalSet, box_iou, read_proposals, write_proposals
from liverview.metrics.deeplesion_conventions import (box_on_slice, inclusive_iou_2d, inclusive_iou_3d,
                                                      intersection_over_detected_box, sensitivity_at_fp)
from liverview.metrics.detection import CriterionUnavailableError, evaluate_detections, format_report
from liverview.metrics.ground_truth import GroundTruthLesion


def mark(vol, key, box, cls=None, box_3d=None):
    return GroundTruthLesion(vol, key, box, box_3d, cls)


def lesion_3d(vol, box_3d):
    return GroundTruthLesion(vol, None, None, box_3d)


def prop(box, z, score, slice_boxes=None, cls=None):
    return Proposal3D(box, z, score, z[0], {cls: 1.0} if cls else {}, slice_boxes or {})


# --- inclusive widths --------------------------------------------------------------------------


def test_inclusive_widths_lift_an_iou_across_the_half():
    m, p = (0, 0, 4, 4), (0, 0, 4, 9)
    assert box_iou(m, p) == pytest.approx(16 / 36)  # 4 x 4 over 4 x 9: below 0.5
    assert inclusive_iou_2d(m, p) == 0.5  # 5 x 5 over 5 x 10: exactly 0.5, a hit
    gt = {"A": [mark("A", 2, m)]}
    pred = {"A": [prop(p, (2, 2), 0.9)]}
    assert evaluate_detections(pred, gt, "p3d", protocol="strict").n_true_positives == 0
    r = evaluate_detections(pred, gt, "p3d", protocol="deeplesion")
    assert r.n_true_positives == 1 and r.matches[0].overlap == 0.5
    # the threshold stays an argument
    assert evaluate_detections(pred, gt, "p3d", 0.51, protocol="deeplesion").n_true_positives == 0


def test_inclusive_3d_overlaps_count_slices_and_pixels_inclusively():
    assert inclusive_iou_3d((0, 0, 9, 9, 0, 4), (0, 0, 9, 9, 0, 9)) == 0.5
    assert inclusive_iou_3d((0, 0, 9, 9, 0, 0), (0, 0, 9, 9, 1, 1)) == 0.0
    assert inclusive_iou_2d((0, 0, 10, 10), (10, 0, 20, 10)) == pytest.approx(11 / (121 + 121 - 11))  # touching


# --- repeated hits -----------------------------------------------------------------------------


def test_a_repeated_hit_is_no_false_positive_under_deeplesion_but_is_under_strict():
    gt = {"A": [mark("A", 0, (0, 0, 9, 9)), mark("A", 0, (50, 50, 59, 59))]}
    pred = {"A": [prop((0, 0, 9, 9), (0, 0), 0.9),       # finds the first mark
                  prop((0, 0, 9, 10), (0, 0), 0.8),      # the first mark again
                  prop((50, 50, 59, 59), (0, 0), 0.7)]}  # finds the second mark
    strict = evaluate_detections(pred, gt, protocol="strict")
    assert list(strict.curve.false_positives) == [0, 1, 1]
    assert strict.froc[0.125] == pytest.approx(0.5) and strict.froc[1.0] == pytest.approx(1.0)
    dl = evaluate_detections(pred, gt, protocol="deeplesion")
    assert list(dl.curve.false_positives) == [0, 0, 0] and list(dl.curve.true_positives) == [1, 1, 2]
    assert [m.matched for m in dl.matches] == [True, False, True]
    assert dl.matches[1].repeated == (0,) and not dl.matches[1].false_positive
    assert all(v == pytest.approx(1.0) for v in dl.froc.values())  # both found with no false positive
    # the Lesion Harvester's AP (Pascal VOC style) still counts the repeat as a miss: precision 1, 1/2, 2/3
    assert list(dl.curve.precision_misses) == [0, 1, 1]
    assert dl.ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert "lesions found 2" in format_report(dl) and "protocol deeplesion" in format_report(dl)


# --- one proposal, several marks ---------------------------------------------------------------


def test_one_proposal_over_two_marks_finds_both_under_deeplesion():
    a, b = mark("A", 3, (0, 0, 9, 9), "cyst"), mark("A", 3, (1, 0, 11, 9), "hcc")
    pred = {"A": [prop((0, 0, 11, 9), (2, 4), 0.9, cls="hcc")]}  # inclusive IoU 100/120 with a, 110/120 with b
    strict = evaluate_detections(pred, {"A": [a, b]}, protocol="strict")
    assert strict.n_true_positives == 1 and strict.recall == 0.5
    dl = evaluate_detections(pred, {"A": [a, b]}, protocol="deeplesion")
    assert dl.n_true_positives == 2 and dl.recall == 1.0 and dl.missed == ()
    m = dl.matches[0]
    assert (m.lesion_index, m.also_found, m.found_lesions) == (1, (0,), (1, 0))  # best overlap first
    assert m.overlap == pytest.approx(110 / 120)
    # class accuracy counts each lesion found: hcc right, cyst wrong
    assert (dl.class_accuracy["overall"].correct, dl.class_accuracy["overall"].matched) == (1, 2)


# --- the proposal's box on the key slice --------------------------------------------------------


def test_the_key_slice_box_is_used_where_there_is_one_else_the_union_box():
    p = prop((0, 0, 39, 39), (3, 7), 0.9, {5: (10, 10, 19, 19)})
    assert box_on_slice(p, 5) == (10, 10, 19, 19)
    assert box_on_slice(p, 4) == (0, 0, 39, 39)  # no per-slice box there: the union box
    assert box_on_slice(p, 8) is None  # outside the z-range
    on_key = {"A": [mark("A", 5, (10, 10, 19, 19))]}
    assert evaluate_detections({"A": [p]}, on_key, protocol="deeplesion").n_true_positives == 1
    assert evaluate_detections({"A": [p]}, on_key, protocol="strict").n_true_positives == 0  # union: 100/1600
    off_key = {"A": [mark("A", 4, (10, 10, 19, 19))]}
    assert evaluate_detections({"A": [p]}, off_key, protocol="deeplesion").n_true_positives == 0
    whole = {"A": [mark("A", 4, (0, 0, 39, 39))]}
    assert evaluate_detections({"A": [p]}, whole, protocol="deeplesion").n_true_positives == 1


def test_per_slice_boxes_travel_through_proposals_json(tmp_path):
    p = prop((0, 0, 39, 39), (3, 7), 0.9, {5: (10, 10, 19, 19), 6: (11, 11, 18, 18)})
    back = read_proposals(write_proposals(tmp_path / "proposals.json", ProposalSet((p,)))).proposals[0]
    assert back.slice_boxes == {5: (10, 10, 19, 19), 6: (11, 11, 18, 18)}
    r = evaluate_detections({"A": [back]}, {"A": [mark("A", 5, (10, 10, 19, 19))]}, protocol="deeplesion")
    assert r.n_true_positives == 1


# --- manual1k: intersection over the detected box -----------------------------------------------


def test_manual1k_hits_at_intersection_over_the_detected_box_of_0_3():
    gt_box = (0, 0, 9, 9, 0, 9)  # 10 x 10 x 10 voxels inclusive
    assert intersection_over_detected_box((7, 0, 16, 9, 0, 9), gt_box) == pytest.approx(0.3)  # 3 of 10 columns
    assert intersection_over_detected_box((8, 0, 17, 9, 0, 9), gt_box) == pytest.approx(0.2)
    assert intersection_over_detected_box((4, 4, 5, 5, 4, 5), gt_box) == 1.0  # inside: IoBB 1, IoU 8/1000
    gt = {"A": [lesion_3d("A", gt_box)]}

    def found(box, z):
        return evaluate_detections({"A": [prop(box, z, 0.9)]}, gt, protocol="manual1k").n_true_positives

    assert found((7, 0, 16, 9), (0, 9)) == 1
    assert found((8, 0, 17, 9), (0, 9)) == 0
    assert found((4, 4, 5, 5), (4, 5)) == 1
    assert found((0, 0, 29, 29), (0, 9)) == 0  # covers the lesion, but 1000 / 9000 of the box is lesion
    r = evaluate_detections({"A": [prop((4, 4, 5, 5), (4, 5), 0.9)]}, gt, protocol="manual1k")
    assert (r.criterion, r.iou_threshold, r.protocol) == ("iobb3d", 0.3, "manual1k")
    assert "3D intersection over the detected box >= 0.3" in format_report(r)


def test_manual1k_needs_3d_boxes_and_its_own_criterion():
    marks_only = {"A": [mark("A", 2, (0, 0, 9, 9))]}
    with pytest.raises(CriterionUnavailableError, match="3D boxes.*manual1k"):
        evaluate_detections({}, marks_only, protocol="manual1k")
    with pytest.raises(ValueError, match="criterion 'p3d' for protocol 'manual1k'"):
        evaluate_detections({}, marks_only, "p3d", protocol="manual1k")
    with pytest.raises(ValueError, match="criterion 'iobb3d' for protocol 'strict'"):
        evaluate_detections({}, marks_only, "iobb3d")
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_detections({}, marks_only, protocol="luna")


# --- FROC read-off -----------------------------------------------------------------------------


def test_the_froc_read_off_at_a_reached_rate_differs_between_the_codes():
    # ranked TP FP TP TP FP over two volumes: FP/volume 0 .5 .5 .5 1, sensitivity 1/3 1/3 2/3 1 1
    fps, sens = [0, 0.5, 0.5, 0.5, 1.0], [1 / 3, 1 / 3, 2 / 3, 1, 1]
    dl = sensitivity_at_fp(fps, sens, (0.25, 0.5, 0.75, 1.0, 8.0), "deeplesion")
    m1k = sensitivity_at_fp(fps, sens, (0.25, 0.5, 0.75, 1.0, 8.0), "manual1k")
    assert dl == pytest.approx({0.25: 1 / 3, 0.5: 1 / 3, 0.75: 1.0, 1.0: 1.0, 8.0: 1.0})  # first point at 0.5
    assert m1k == pytest.approx({0.25: 1 / 3, 0.5: 1.0, 0.75: 1.0, 1.0: 1.0, 8.0: 1.0})  # last point at 0.5
    # the first proposal a false positive: nothing before it
    assert sensitivity_at_fp([0.5, 0.5], [0.0, 0.5], (0.25,), "deeplesion") == {0.25: 0.0}
    assert sensitivity_at_fp([], [], (1.0,), "manual1k") == {1.0: 0.0}


def test_the_froc_read_off_agrees_with_scipy_interp1d_as_the_reference_codes_call_it():
    rng = np.random.default_rng(7)
    rates = np.array([0.125, 0.25, 0.5, 1, 2, 4, 8])
    compared = 0
    for _ in range(300):
        n_volumes = int(rng.integers(1, 9))
        outcome = rng.integers(0, 3, int(rng.integers(2, 40)))  # 0 FP, 1 new lesion, 2 repeat
        fps = np.cumsum(outcome == 0) / n_volumes
        sens = np.cumsum(outcome == 1) / max(int((outcome == 1).sum()), 1)
        with np.errstate(all="ignore"):
            ref_dl = interpolate.interp1d(fps, sens, fill_value="extrapolate")(rates)
        ours_dl = sensitivity_at_fp(fps, sens, rates, "deeplesion")
        for f, ref in zip(rates, ref_dl):
            if np.isfinite(ref):  # their extrapolation divides by zero at some curve ends
                assert ours_dl[float(f)] == pytest.approx(ref, abs=1e-12)
                compared += 1
        inside = [f for f in rates if fps[0] <= f <= fps[-1]]
        if len(fps) > 1 and fps[-1] > fps[0] and inside:
            ref_m1k = interpolate.interp1d(fps, sens)(inside)
            ours_m1k = sensitivity_at_fp(fps, sens, inside, "manual1k")
            assert [ours_m1k[float(f)] for f in inside] == pytest.approx(list(ref_m1k), abs=1e-12)
    assert compared > 1000


def test_deeplesion_matches_a_direct_sweep_on_random_volumes():
    """The counting written out once more, plainly, as the reference codes' loops do it."""
    rng = np.random.default_rng(3)

    def box(rng):
        x, y = rng.integers(0, 40, 2)
        w, h = rng.integers(3, 15, 2)
        return (float(x), float(y), float(x + w), float(y + h))

    for _ in range(30):
        gt = {f"v{k}": [mark(f"v{k}", int(rng.integers(0, 6)), box(rng)) for _ in range(int(rng.integers(0, 4)))]
              for k in range(int(rng.integers(1, 5)))}
        pred = {}
        for v, marks in gt.items():
            ps = [prop(box(rng), tuple(sorted(rng.integers(0, 6, 2))), float(rng.random())) for _ in range(6)]
            ps += [prop(m.box, (m.key_slice, m.key_slice), float(rng.random())) for m in marks[:2]]
            pred[v] = ps
        r = evaluate_detections(pred, gt, protocol="deeplesion")
        flat = sorted(((p.score, v, p) for v, ps in pred.items() for p in ps), key=lambda t: -t[0])
        hit = {v: [False] * len(ms) for v, ms in gt.items()}
        n_hits = n_fp = n_miss_ap = 0
        tps, fps, misses = [], [], []
        for _, v, p in flat:
            ov = [inclusive_iou_2d(p.box, m.box) if p.z_range[0] <= m.key_slice <= p.z_range[1] else 0.0
                  for m in gt[v]]
            if not ov or max(ov) < 0.5:
                n_fp += 1
                n_miss_ap += 1
            else:
                for j, o in enumerate(ov):
                    if o >= 0.5 and not hit[v][j]:
                        hit[v][j] = True
                        n_hits += 1
                    elif o >= 0.5:
                        n_miss_ap += 1
            tps.append(n_hits)
            fps.append(n_fp)
            misses.append(n_miss_ap)
        assert list(r.curve.true_positives) == tps
        assert list(r.curve.false_positives) == fps
        assert list(r.curve.precision_misses) == misses
        n_gt = sum(map(len, gt.values()))
        if n_gt:
            rec = np.array(tps) / n_gt
            prec = np.array(tps) / np.maximum(np.array(tps) + np.array(misses), 1e-12)
            mrec, mpre = np.r_[0.0, rec, 1.0], np.r_[0.0, prec, 0.0]
            for i in range(len(mpre) - 2, -1, -1):
                mpre[i] = max(mpre[i], mpre[i + 1])
            i = np.where(mrec[1:] != mrec[:-1])[0]
            assert r.ap == pytest.approx(float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])))


def test_strict_stays_the_default_and_unchanged():
    gt = {"A": [mark("A", 5, (10, 10, 20, 20), "cyst")], "B": [mark("B", 3, (0, 0, 10, 10), "hcc")]}
    pred = {"A": [prop((10, 10, 20, 20), (4, 6), 0.9, cls="cyst"), prop((10, 10, 20, 21), (5, 5), 0.8)],
            "B": [prop((100, 100, 110, 110), (3, 3), 0.95)]}
    default = evaluate_detections(pred, gt)
    strict = evaluate_detections(pred, gt, "p3d", 0.5, protocol="strict")
    assert default.to_json() == strict.to_json() and default.protocol == "strict"
    assert default.froc == strict.froc and default.to_json()["protocol"] == "strict"
