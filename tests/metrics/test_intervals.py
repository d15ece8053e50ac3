"""Wilson score intervals: known values, edges, and the line eval reports print."""

import math

import pytest

from liverview.metrics.intervals import wilson_interval


@pytest.mark.parametrize("k, n, low, high", [
    (11, 24, 0.279, 0.649),  # the key slices' 45.8 %
    (0, 10, 0.0, 0.278),
    (10, 10, 0.722, 1.0),
    (50, 100, 0.404, 0.596),
])
def test_known_intervals(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-3) and hi == pytest.approx(high, abs=1e-3)
    assert lo <= k / n <= hi


@pytest.mark.parametrize("k, n", [(0, 5), (3, 7), (11, 24), (23, 24), (40, 41), (7, 300)])
def test_agrees_with_scipy(k, n):
    from scipy.stats import binomtest

    expected = binomtest(k, n).proportion_ci(method="wilson")
    assert wilson_interval(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_more_cases_narrow_the_interval():
    lo1, hi1 = wilson_interval(11, 24)
    lo2, hi2 = wilson_interval(110, 240)
    assert hi2 - lo2 < (hi1 - lo1) / 2


def test_no_trials_and_impossible_counts():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
