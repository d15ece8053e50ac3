"""Detection metrics on hand-made cases whose FROC, AP, matches and class accuracy are worked out by hand."""

import math

import pytest

from liverview.detection.proposals import Proposal3D
from liverview.metrics.detection import (CriterionUnavailableError, average_precision, evaluate_detections,
                                         format_report, iou_3d, match_volume, operating_curve, p3d_overlap)
from liverview.metrics.ground_truth import GroundTruthLesion


def lesion(vol, key, box, cls=None, box_3d=None, lid=""):
    return GroundTruthLesion(vol, key, box, box_3d, cls, lid)


def prop(box, z, score, cls=None):
    return Proposal3D(box, z, score, z[0], {cls: 1.0} if cls else {})


@pytest.fixture
def two_volumes():
    gt = {"A": [lesion("A", 5, (10, 10, 20, 20), "cyst"), lesion("A", 8, (50, 50, 60, 60), "hcc")],
          "B": [lesion("B", 3, (0, 0, 10, 10), "hcc")]}
    pred = {"A": [prop((10, 10, 20, 20), (4, 6), 0.9, "cyst"),   # TP, lesion 0, right class
                  prop((50, 50, 60, 60), (0, 7), 0.8, "hcc"),    # misses key slice 8 -> FP
                  prop((51, 50, 60, 60), (8, 9), 0.6, "hcc")],   # 2D IoU 0.9 on slice 8 -> TP, right class
            "B": [prop((0, 0, 10, 10), (3, 3), 0.7, "cyst"),     # TP, wrong class
                  prop((100, 100, 110, 110), (3, 3), 0.5)]}      # FP
    return pred, gt


def test_froc_ap_and_class_accuracy_match_the_hand_computation(two_volumes):
    pred, gt = two_volumes
    r = evaluate_detections(pred, gt, "p3d")
    assert (r.n_volumes, r.n_lesions, r.n_proposals, r.n_true_positives) == (2, 3, 5, 3)
    # ranked TP FP TP TP FP: FP/volume 0, .5, .5, .5, 1; recall 1/3, 1/3, 2/3, 1, 1
    # polyline (0,0) (0,1/3) (.5,1/3) (.5,2/3) (.5,1) (1,1): flat at 1/3 until the first FP is spent
    assert r.froc[0.125] == pytest.approx(1 / 3)
    assert r.froc[0.25] == pytest.approx(1 / 3)
    assert [r.froc[f] for f in (0.5, 1.0, 2.0, 4.0, 8.0)] == pytest.approx([1.0] * 5)
    # precision 1, 1/2, 2/3, 3/4, 3/5 -> envelope 1, .75, .75, .75, .6; AP = 1/3 * 1 + 2/3 * 0.75
    assert r.ap == pytest.approx(1 / 3 + 0.5)
    assert r.class_accuracy["cyst"].accuracy == 1.0
    assert (r.class_accuracy["hcc"].correct, r.class_accuracy["hcc"].matched) == (1, 2)
    assert r.class_accuracy["overall"].accuracy == pytest.approx(2 / 3)
    assert r.recall_at_precision(0.9) == pytest.approx(1 / 3)
    assert r.recall_at_precision(0.7) == pytest.approx(1.0)
    assert [m.matched for m in r.matches] == [True, False, True, True, False]
    assert [(m.volume, m.index, m.lesion_index) for m in r.matches if m.matched] == [("A", 0, 0), ("B", 0, 0),
                                                                                     ("A", 2, 1)]
    assert r.missed == ()
    text = format_report(r)
    assert "pseudo-3D IoU" in text and "83.3" in text
    # 1 of 3 lesions at 0.125 FP, 3 of 3 from 0.5 FP: their 95 % Wilson intervals, in the table and the JSON
    assert r.froc_interval(0.125) == pytest.approx((0.0615, 0.7923), abs=1e-4)
    assert r.froc_interval(1.0) == pytest.approx((0.4385, 1.0), abs=1e-4)
    assert "95 % CI      6-79   6-79 44-100 44-100" in text
    assert r.to_json()["froc_95ci_wilson"]["1"] == pytest.approx([0.4385, 1.0], abs=1e-4)


def test_each_lesion_is_matched_once_and_the_best_score_wins():
    gt = {"A": [lesion("A", 2, (0, 0, 10, 10))]}
    pred = {"A": [prop((0, 0, 10, 10), (0, 4), 0.3), prop((1, 0, 10, 10), (2, 2), 0.9)]}
    matches = match_volume(pred["A"], gt["A"], "p3d", 0.5, "A")
    assert [m.matched for m in matches] == [False, True]  # input order kept; the 0.9 one took the lesion
    r = evaluate_detections(pred, gt)
    assert r.n_true_positives == 1 and r.ap == pytest.approx(1.0)
    assert r.froc[0.125] == pytest.approx(1.0)


def test_a_proposal_over_two_lesions_takes_the_best_free_one():
    a, b = lesion("A", 2, (0, 0, 10, 10)), lesion("A", 2, (0, 0, 10, 12))
    pred = [prop((0, 0, 10, 12), (2, 2), 0.9), prop((0, 0, 10, 10), (2, 2), 0.8)]
    m = match_volume(pred, [a, b], "p3d", 0.5)
    assert (m[0].lesion_index, m[1].lesion_index) == (1, 0)


def test_tied_scores_form_one_operating_point():
    gt = {"A": [lesion("A", 0, (0, 0, 10, 10)), lesion("A", 0, (20, 20, 30, 30))]}
    pred = {"A": [prop((0, 0, 10, 10), (0, 0), 0.5), prop((50, 50, 60, 60), (0, 0), 0.5)]}
    r = evaluate_detections(pred, gt)
    assert list(r.curve.true_positives) == [1] and list(r.curve.false_positives) == [1]
    # curve (0,0) -> (1 FP, recall 0.5): recall at 0.5 FP is 0.25 by interpolation
    assert r.froc[0.5] == pytest.approx(0.25) and r.froc[1.0] == pytest.approx(0.5)
    assert r.ap == pytest.approx(0.25)  # precision 1/2 over recall 0..0.5


def test_volumes_without_lesions_or_proposals_still_count():
    gt = {"A": [lesion("A", 0, (0, 0, 10, 10))], "B": [], "C": []}
    pred = {"A": [prop((0, 0, 10, 10), (0, 0), 0.9)], "B": [prop((0, 0, 5, 5), (0, 0), 0.95)]}
    r = evaluate_detections(pred, gt)
    assert r.n_volumes == 3
    assert r.curve.fp_per_volume[0] == pytest.approx(1 / 3)
    assert r.froc[0.125] == pytest.approx(0.0) and r.froc[0.5] == pytest.approx(1.0)


def test_p3d_needs_the_key_slice_inside_the_z_range():
    les = lesion("A", 5, (0, 0, 10, 10))
    assert p3d_overlap(prop((0, 0, 10, 10), (5, 9), 1), les) == 1.0
    assert p3d_overlap(prop((0, 0, 10, 10), (6, 9), 1), les) == 0.0
    assert p3d_overlap(prop((0, 0, 10, 5), (0, 5), 1), les) == pytest.approx(0.5)


def test_iou3d_counts_inclusive_slices():
    assert iou_3d((0, 0, 10, 10, 0, 4), (0, 0, 10, 10, 0, 9)) == pytest.approx(0.5)
    assert iou_3d((0, 0, 10, 10, 0, 3), (0, 0, 10, 10, 0, 9)) == pytest.approx(0.4)
    assert iou_3d((0, 0, 10, 10, 0, 0), (0, 0, 10, 10, 1, 1)) == 0.0
    gt = {"A": [lesion("A", 2, (0, 0, 10, 10), box_3d=(0, 0, 10, 10, 0, 9))]}
    hit = evaluate_detections({"A": [prop((0, 0, 10, 10), (0, 4), 0.9)]}, gt, "iou3d")
    miss = evaluate_detections({"A": [prop((0, 0, 10, 10), (0, 3), 0.9)]}, gt, "iou3d")
    assert hit.n_true_positives == 1 and miss.n_true_positives == 0
    assert evaluate_detections({"A": [prop((0, 0, 10, 10), (0, 3), 0.9)]}, gt, "iou3d",
                               iou_threshold=0.4).n_true_positives == 1


def test_missing_3d_boxes_make_iou3d_unavailable_with_a_clear_error():
    gt = {"A": [lesion("A", 2, (0, 0, 10, 10))]}
    with pytest.raises(CriterionUnavailableError, match="3D boxes"):
        evaluate_detections({}, gt, "iou3d")
    only_3d = {"A": [GroundTruthLesion("A", None, None, (0, 0, 10, 10, 0, 2))]}
    with pytest.raises(CriterionUnavailableError, match="key-slice marks"):
        evaluate_detections({}, only_3d, "p3d")


def test_bad_inputs_are_refused():
    gt = {"A": [lesion("A", 2, (0, 0, 10, 10))]}
    with pytest.raises(ValueError, match="without ground truth: Z"):
        evaluate_detections({"Z": []}, gt)
    with pytest.raises(ValueError, match="criterion"):
        evaluate_detections({}, gt, "iou2d")
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate_detections({}, gt, iou_threshold=0)
    with pytest.raises(ValueError, match="no ground-truth"):
        evaluate_detections({}, {})
    with pytest.raises(ValueError):
        GroundTruthLesion("A", None, None)


def test_no_proposals_gives_zero_recall_and_no_lesions_gives_nan():
    gt = {"A": [lesion("A", 2, (0, 0, 10, 10))]}
    r = evaluate_detections({}, gt)
    assert r.froc[8.0] == 0.0 and r.ap == 0.0 and r.missed == (("A", 0),)
    empty = evaluate_detections({"A": [prop((0, 0, 1, 1), (0, 0), 0.4)]}, {"A": []})
    assert math.isnan(empty.ap) and math.isnan(empty.froc[1.0])
    assert empty.to_json()["ap"] is None


def test_class_accuracy_is_absent_without_classes():
    gt = {"A": [lesion("A", 2, (0, 0, 10, 10))]}
    r = evaluate_detections({"A": [prop((0, 0, 10, 10), (2, 2), 0.9, "cyst")]}, gt)
    assert r.class_accuracy == {}
    assert "no lesion classes" in format_report(r)


def test_average_precision_of_a_perfect_ranking_is_one():
    gt = {"A": [lesion("A", 0, (0, 0, 10, 10)), lesion("A", 0, (20, 0, 30, 10))]}
    pred = {"A": [prop((0, 0, 10, 10), (0, 0), 0.9), prop((20, 0, 30, 10), (0, 0), 0.8),
                  prop((40, 0, 50, 10), (0, 0), 0.1)]}
    r = evaluate_detections(pred, gt)
    assert average_precision(r.curve) == pytest.approx(1.0)
    assert operating_curve(r.matches, 2, 1).thresholds.tolist() == [0.9, 0.8, 0.1]
