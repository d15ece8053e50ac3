"""The harvest round's rules on hand-made proposals whose outcome is worked out by hand."""

import pytest

from liverview.detection.proposals import Proposal3D
from liverview.harvest.hard_negatives import select_hard_negatives
from liverview.harvest.lesion_score import ScoredProposal, lesion_score, threshold_for_precision
from liverview.harvest.rounds import HarvestVolume, harvest, split_proposals
from liverview.metrics.ground_truth import GroundTruthLesion


def prop(x, score, z=(0, 4)):
    return Proposal3D((x, 0, x + 10, 10), z, score, z[0])


def sp(volume, index, s_g, s_c=1.0):
    return ScoredProposal(volume, index, prop(20 * index, s_g), s_c)


def test_lesion_score_is_the_product():
    assert lesion_score(0.8, 0.5) == pytest.approx(0.4)
    assert sp("A", 0, 0.9, 0.5).score == pytest.approx(0.45)
    with pytest.raises(ValueError):
        sp("A", 0, 0.9, 1.5)


def test_threshold_is_the_lowest_score_with_precision_at_least_95_percent():
    # 20 positives above one negative, then 2 more positives, then negatives
    scores = [1.0 - 0.01 * i for i in range(20)] + [0.75, 0.7, 0.65, 0.5, 0.4]
    labels = [True] * 20 + [False, True, True, False, False]
    t = threshold_for_precision(scores, labels, 0.95)
    # kept at 0.65: 22 of 23 positive = 95.65 % >= 95 %; at 0.5: 22/24 = 91.7 %
    assert t.threshold == pytest.approx(0.65) and t.kept == 23 and t.recall == 1.0
    assert t.precision == pytest.approx(22 / 23)
    assert t.keeps(0.65) and not t.keeps(0.6499)
    strict = threshold_for_precision(scores, labels, 1.0)
    assert strict.threshold == pytest.approx(0.81) and strict.recall == pytest.approx(20 / 22)


def test_tied_scores_are_kept_together_and_no_precise_threshold_harvests_nothing():
    t = threshold_for_precision([0.9, 0.5, 0.5], [True, True, False], 0.95)
    assert t.threshold == 0.9 and t.kept == 1
    none = threshold_for_precision([0.9, 0.8], [False, True], 0.95)
    assert none.threshold is None and not none.keeps(1.0)
    assert threshold_for_precision([], [], 0.95).threshold is None
    with pytest.raises(ValueError):
        threshold_for_precision([0.1], [True, False])


def test_hard_negatives_need_sg_half_and_keep_the_top_five_per_volume():
    cands = [sp("A", i, s) for i, s in enumerate([0.49, 0.9, 0.6, 0.55, 0.95, 0.7, 0.5, 0.8])] + [sp("B", 0, 0.3)]
    hard = select_hard_negatives(cands)
    assert list(hard) == ["A"]  # B has nothing with s_g >= 0.5
    assert [c.s_g for c in hard["A"]] == [0.95, 0.9, 0.8, 0.7, 0.6]
    assert [c.s_g for c in select_hard_negatives(cands, per_volume=2)["A"]] == [0.95, 0.9]


def mark(volume, x, key=2):
    return GroundTruthLesion(volume, key, (x, 0, x + 10, 10))


@pytest.fixture
def round_volumes():
    vm = HarvestVolume("M", [prop(0, 0.9), prop(20, 0.8), prop(40, 0.7), prop(60, 0.6)], [], True,
                       {0: True, 1: True, 2: False, 3: True})
    other = HarvestVolume("H", [prop(0, 0.95), prop(1, 0.9), prop(40, 0.85), prop(60, 0.8), prop(80, 0.6),
                                prop(100, 0.55), prop(120, 0.3)], [mark("H", 0)])
    return [vm, other]


def test_split_uses_decisions_on_vm_and_p3d_marks_elsewhere(round_volumes):
    sets = split_proposals(round_volumes)
    assert sets.reviewed_positive == (("M", 0), ("M", 1), ("M", 3)) and sets.reviewed_negative == (("M", 2),)
    assert sets.mark_hits == (("H", 0),)  # the 0.95 proposal takes the mark
    assert sets.mark_duplicates == (("H", 1),)  # IoU 0.82 with the mark, but it is taken
    assert sets.unknown == (("H", 2), ("H", 3), ("H", 4), ("H", 5), ("H", 6))


def test_a_round_harvests_above_the_vm_threshold_and_mines_hard_negatives(round_volumes):
    s_c = {"M": [1.0, 1.0, 0.1, 0.9], "H": [1.0, 1.0, 0.9, 0.2, 0.95, 0.9, 1.0]}
    r = harvest(round_volumes, s_c)
    # V_M scores s: 0.9 (+), 0.8 (+), 0.07 (-), 0.54 (+): threshold 0.54 keeps the 3 positives only
    assert r.threshold.threshold == pytest.approx(0.54) and r.threshold.precision == 1.0
    # H candidates s: 0.765, 0.16, 0.57, 0.495, 0.3 -> harvested 0.765 and 0.57
    assert [(p.index, round(p.score, 3)) for p in r.harvested["H"]] == [(2, 0.765), (4, 0.57)]
    # hard negatives: below threshold, s_g >= 0.5: H3 (0.8), H5 (0.55); M2 (rejected, 0.7); H6 has s_g 0.3
    assert [p.index for p in r.hard_negatives["H"]] == [3, 5]
    assert [p.index for p in r.hard_negatives["M"]] == [2]
    assert r.n_harvested == 2 and r.n_hard_negatives == 3


def test_a_round_refuses_inputs_it_cannot_use(round_volumes):
    with pytest.raises(ValueError, match="classifier scores"):
        harvest(round_volumes, {"M": [1.0] * 4, "H": [1.0]})
    with pytest.raises(ValueError, match="fully annotated"):
        harvest(round_volumes[1:], {"H": [1.0] * 7})
