import numpy as np
import pytest

from liverview.metrics.classification import accuracy, binary_auroc, one_vs_rest_auroc, youden_point


def test_binary_auroc_counts_pairs_and_half_ties():
    # positives 0.8, 0.4; negatives 0.5, 0.4, 0.1 -> pairs: (0.8 beats all 3) + (0.4: beats 0.1, ties 0.4,
    # loses 0.5) = 3 + 1 + 0.5 = 4.5 of 6
    labels = [1, 1, 0, 0, 0]
    scores = [0.8, 0.4, 0.5, 0.4, 0.1]
    assert binary_auroc(labels, scores) == pytest.approx(4.5 / 6)


def test_binary_auroc_perfect_and_inverted():
    assert binary_auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert binary_auroc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0


def test_binary_auroc_needs_both_classes():
    with pytest.raises(ValueError, match="positive and one negative"):
        binary_auroc([1, 1], [0.2, 0.3])


def test_one_vs_rest_is_mean_of_per_class_aurocs():
    labels = [0, 0, 1, 2]
    probs = np.array([[0.7, 0.2, 0.1],
                      [0.3, 0.6, 0.1],  # class 0 case scored low on class 0
                      [0.2, 0.5, 0.3],
                      [0.1, 0.1, 0.8]])
    mean, per = one_vs_rest_auroc(labels, probs)
    # class 0: pos {0.7, 0.3} vs neg {0.2, 0.1}: 4/4 = 1.0
    # class 1: pos {0.5} vs neg {0.2, 0.6, 0.1}: 2/3
    # class 2: pos {0.8} vs neg {0.1, 0.1, 0.3}: 1.0
    assert per == pytest.approx([1.0, 2 / 3, 1.0])
    assert mean == pytest.approx((1 + 2 / 3 + 1) / 3)


def test_one_vs_rest_skips_absent_classes():
    mean, per = one_vs_rest_auroc([0, 1], np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]))
    assert per[2] is None and mean == 1.0


def test_youden_point_hand_computed():
    labels = [1, 1, 1, 0, 0, 0, 0]
    scores = [0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.05]
    op = youden_point(labels, scores)
    # t=0.8: sens 2/3, spec 4/4 -> J = 0.667; t=0.3: sens 1, spec 3/4 -> J = 0.75 (best)
    assert op.threshold == 0.3
    assert op.sensitivity == pytest.approx(1.0)
    assert op.specificity == pytest.approx(0.75)
    assert op.youden_j == pytest.approx(0.75)


def test_accuracy():
    assert accuracy([0, 1, 2, 3], [0, 1, 1, 3]) == 0.75


def test_auroc_interval_holds_the_estimate_and_shrinks_with_more_cases():
    from liverview.metrics.classification import auroc_interval

    rng = np.random.default_rng(1)
    labels = [0] * 8 + [1] * 8  # 16 images, as the liver set
    scores = np.concatenate([rng.normal(0, 1, 8), rng.normal(0.9, 1, 8)])
    lo, hi = auroc_interval(labels, scores)
    assert lo < binary_auroc(labels, scores) < hi
    assert hi - lo > 0.3  # 16 cases: wide
    many = [0] * 400 + [1] * 400
    many_scores = np.concatenate([rng.normal(0, 1, 400), rng.normal(0.9, 1, 400)])
    lo2, hi2 = auroc_interval(many, many_scores)
    assert hi2 - lo2 < 0.1 and lo2 < binary_auroc(many, many_scores) < hi2
    assert auroc_interval(labels, scores) == (lo, hi)  # fixed seed: the same every run
    assert auroc_interval([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == (1.0, 1.0)  # perfectly separated
