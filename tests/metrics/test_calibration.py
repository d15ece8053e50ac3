"""Reliability bins, ECE and Platt scaling on cases with known answers."""

import math

import numpy as np
import pytest

from liverview.metrics.calibration import PlattScaling, draw_reliability_diagram, expected_calibration_error, \
    reliability_bins


def test_bins_and_ece_by_hand():
    p = [0.05, 0.15, 0.95, 1.0]
    y = [False, True, True, True]
    bins = reliability_bins(p, y, n_bins=10)
    assert [b.count for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert math.isnan(bins[5].mean_predicted) and bins[9].mean_predicted == pytest.approx(0.975)
    # |0.05 - 0| + |0.15 - 1| + 2 x |0.975 - 1|, each weighted 1/4
    assert expected_calibration_error(p, y) == pytest.approx((0.05 + 0.85 + 2 * 0.025) / 4)


def test_calibrated_scores_have_small_ece_and_overconfident_ones_large():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20000)
    y = rng.uniform(0, 1, p.size) < p
    assert expected_calibration_error(p, y) < 0.02
    sharp = np.where(p > 0.5, 0.99, 0.01)
    assert expected_calibration_error(sharp, y) > 0.2


def test_platt_scaling_undoes_a_known_distortion():
    rng = np.random.default_rng(1)
    true_p = rng.uniform(0.02, 0.98, 5000)
    y = rng.uniform(0, 1, true_p.size) < true_p
    logit = np.log(true_p / (1 - true_p))
    distorted = 1 / (1 + np.exp(-(3.0 * logit + 1.0)))  # overconfident and shifted
    platt = PlattScaling.fit(distorted, y)
    assert platt.a == pytest.approx(1 / 3, abs=0.05) and platt.b == pytest.approx(-1 / 3, abs=0.1)
    assert expected_calibration_error(platt(distorted), y) < expected_calibration_error(distorted, y) / 3


def test_platt_needs_both_classes_and_bins_need_valid_probabilities(tmp_path):
    with pytest.raises(ValueError, match="one positive and one negative"):
        PlattScaling.fit([0.2, 0.3], [True, True])
    with pytest.raises(ValueError, match="within"):
        reliability_bins([1.2], [True])
    path = tmp_path / "r.png"
    draw_reliability_diagram(reliability_bins([0.1, 0.9], [False, True]), "t", path)
    assert path.stat().st_size > 1000
