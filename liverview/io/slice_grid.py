"""Where the slices of a series lie on a regular grid, and what fills the slices that are missing.

A series whose slice steps are whole multiples of one step (2.5, 2.5, 5.0, 2.5 mm) has slices missing: a
transfer that lost files, a damaged file left out. Stacking the rest at their mean step would put every slice
after the gap at the wrong height (and the phases out of step with each other); on the true grid each slice
keeps its place and the gap is marked missing. Steps that are no whole multiple of one step (a series that
mixes slice spacings) have no such grid: the caller keeps its mean step and says positions are approximate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP_TOLERANCE = 0.01  # relative deviation of a step from its multiple of the grid step
MAX_MISSING_SHARE = 1.0  # at most as many missing slices as acquired ones; more is no grid with gaps


@dataclass(frozen=True)
class SliceGrid:
    """A regular grid along the slice normal holding ``len(slice_k)`` acquired slices."""

    step_mm: float
    slice_k: tuple[int, ...]  # grid index of each acquired slice, in order
    count: int  # slices on the grid, missing ones included

    @property
    def missing(self) -> tuple[int, ...]:
        acquired = set(self.slice_k)
        return tuple(k for k in range(self.count) if k not in acquired)


def regular_grid(positions_mm: np.ndarray) -> SliceGrid | None:
    """The grid on which sorted slice positions (mm along the normal, at least two) lie with gaps, or None
    when their steps are not whole multiples of one step or the gaps would outnumber the slices."""
    z = np.asarray(positions_mm, float)
    steps = np.diff(z)
    if steps.size == 0 or not np.all(steps > 0):
        return None
    # The grid step is the common short step; the long ones are its multiples.
    short = steps[steps < 1.5 * steps.min()]
    base = float(np.median(short))
    multiples = np.rint(steps / base).astype(int)
    if np.any(multiples < 1) or np.any(np.abs(steps - multiples * base) > STEP_TOLERANCE * base):
        return None
    count = int(multiples.sum()) + 1
    if count - z.size > MAX_MISSING_SHARE * z.size:
        return None
    slice_k = (0, *np.cumsum(multiples).tolist())
    return SliceGrid(step_mm=float((z[-1] - z[0]) / (count - 1)), slice_k=tuple(int(k) for k in slice_k), count=count)


def fill_missing(array: np.ndarray, grid: SliceGrid) -> None:
    """Fill the missing slices of ``array`` (indexed [k, j, i] on ``grid``) in place by linear interpolation
    between the acquired slices on either side, so that filters, models and reformats see no step; the
    volume marks these slices missing, so no view shows them as data."""
    known = grid.slice_k
    for lo, hi in zip(known[:-1], known[1:]):
        if hi - lo < 2:
            continue
        below = array[lo].astype(np.float64)
        above = array[hi].astype(np.float64)
        for k in range(lo + 1, hi):
            t = (k - lo) / (hi - lo)
            value = (1.0 - t) * below + t * above
            if np.issubdtype(array.dtype, np.integer):
                value = np.rint(value)
            array[k] = value.astype(array.dtype)
