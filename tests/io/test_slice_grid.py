"""Placing a series' slices on their regular grid when some are missing."""

import numpy as np
import pytest

from liverview.io.slice_grid import SliceGrid, fill_missing, regular_grid


def test_gaps_that_are_whole_steps_give_the_grid():
    grid = regular_grid(np.array([10.0, 12.5, 15.0, 22.5, 25.0]))  # 17.5 and 20.0 missing
    assert grid is not None
    assert grid.step_mm == pytest.approx(2.5)
    assert grid.slice_k == (0, 1, 2, 5, 6) and grid.count == 7 and grid.missing == (3, 4)


def test_every_other_slice_missing_still_finds_the_short_step():
    grid = regular_grid(np.array([0.0, 1.0, 3.0, 5.0, 6.0]))
    assert grid is not None and grid.step_mm == pytest.approx(1.0) and grid.missing == (2, 4)


@pytest.mark.parametrize("positions", [
    [0.0, 2.0, 4.0, 7.0, 10.0],  # 3 mm is no whole multiple of 2 mm
    [0.0, 2.0, 4.0, 4.0, 6.0],  # a zero step
    [0.0, 1.0, 10.0],  # more missing slices (8) than acquired ones (3)
])
def test_no_grid_for_steps_that_are_not_whole_multiples(positions):
    assert regular_grid(np.array(positions)) is None


def test_small_position_jitter_is_tolerated():
    grid = regular_grid(np.array([0.0, 2.5004, 4.9998, 10.0003]))
    assert grid is not None and grid.missing == (3,)


def test_fill_interpolates_between_the_acquired_neighbours_and_keeps_them():
    array = np.zeros((5, 2, 2), np.int16)
    array[0], array[4] = 0, 100
    array[1], array[2], array[3] = -999, -999, -999
    fill_missing(array, SliceGrid(1.0, (0, 4), 5))
    assert array[:, 0, 0].tolist() == [0, 25, 50, 75, 100]


def test_fill_leaves_a_grid_without_gaps_alone():
    array = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    before = array.copy()
    fill_missing(array, SliceGrid(1.0, (0, 1, 2), 3))
    assert np.array_equal(array, before)
