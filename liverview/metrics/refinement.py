"""Clicks to a good mask, as RITM and its successors measure it (NoC@IoU).

The simulated user starts with no click and always clicks where the mask is most wrong: in the larger
of the two error regions (missed lesion = false negatives, or spill = false positives), at its pixel
farthest from the region's border; a click in missed lesion is a foreground click, in spill a
background click. After each click the model predicts again from all clicks so far and the mask it gave
before the click (None before the first), as RITM feeds its previous mask back. NoC@t is the
number of clicks after which IoU first reaches t, or the cap (20) when it never does.

:func:`refine_from_box` is the workspace's own flow, reported beside (never instead of) that protocol: the
reader drags a box (two clicks: its corners), then corrects with the same simulated clicks; the box counts
as 2 clicks towards NoC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from scipy import ndimage

from liverview.metrics.segmentation import jaccard_index
from liverview.us.clicks import Click

MAX_CLICKS = 20
THRESHOLDS = (0.85, 0.90)
BOX_CLICKS = 2  # a box costs the reader two clicks (its corners)

Predict = Callable[[Sequence[Click], "np.ndarray | None"], np.ndarray]  # clicks so far, previous mask -> mask


def next_click(pred: np.ndarray, truth: np.ndarray) -> Click | None:
    """The standard simulated next click: deepest point of the larger error region (None: no error)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    missed, spill = truth & ~pred, pred & ~truth
    # distance to the region's border, the image border counting as border too (as in RITM)
    d_missed = ndimage.distance_transform_edt(np.pad(missed, 1))[1:-1, 1:-1]
    d_spill = ndimage.distance_transform_edt(np.pad(spill, 1))[1:-1, 1:-1]
    if d_missed.max() == 0 and d_spill.max() == 0:
        return None
    positive = d_missed.max() >= d_spill.max()
    dist = d_missed if positive else d_spill
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return Click(float(x), float(y), bool(positive))


@dataclass
class RefinementTrace:
    """IoU after each interaction step (ious[0] after the first, which cost the reader ``first_cost``
    clicks; every later step is one click)."""

    ious: list[float]
    clicks: list[Click] = field(default_factory=list)
    first_cost: int = 1

    def noc(self, threshold: float, cap: int = MAX_CLICKS) -> int:
        for n, iou in enumerate(self.ious, start=self.first_cost):
            if n > cap:
                break
            if iou >= threshold:
                return n
        return cap

    @property
    def improvements(self) -> tuple[int, int]:
        """(clicks after the first that raised IoU, clicks after the first), among those made before the
        mask was perfect."""
        steps = [b - a for a, b in zip(self.ious, self.ious[1:])]
        return sum(s > 0 for s in steps), len(steps)


def refine(predict: Predict, truth: np.ndarray, max_clicks: int = MAX_CLICKS,
           stop_at: float | None = max(THRESHOLDS)) -> RefinementTrace:
    """Simulate up to ``max_clicks`` corrective clicks; stops early once IoU >= ``stop_at`` (None: never)."""
    return _simulate(predict, truth, (), max_clicks, stop_at)


def refine_from_box(predict: Predict, truth: np.ndarray, box_clicks: Sequence[Click],
                    max_clicks: int = MAX_CLICKS, stop_at: float | None = max(THRESHOLDS)) -> RefinementTrace:
    """A box first (its clicks, e.g. :func:`liverview.us.clicks.box_to_clicks`, counted as
    :data:`BOX_CLICKS`), then corrective clicks by the rule of :func:`refine` until ``max_clicks`` in all;
    ``trace.clicks`` holds the corrective clicks only."""
    if not box_clicks:
        raise ValueError("refine_from_box needs the box's clicks")
    return _simulate(predict, truth, box_clicks, max_clicks, stop_at)


def _simulate(predict: Predict, truth: np.ndarray, box_clicks: Sequence[Click], max_clicks: int,
              stop_at: float | None) -> RefinementTrace:
    """The corrective-click loop of both protocols; with ``box_clicks``, their mask is the first step."""
    truth = np.asarray(truth, bool)
    if not truth.any():
        raise ValueError("the lesion mask is empty")
    clicks = list(box_clicks)
    trace = RefinementTrace([], first_cost=BOX_CLICKS if clicks else 1)
    pred, previous = np.zeros_like(truth), None
    if clicks:
        pred = previous = np.asarray(predict(clicks, None), bool)
        trace.ious.append(jaccard_index(pred, truth))
    while (trace.first_cost + len(trace.ious) - 1 if trace.ious else 0) < max_clicks:
        if trace.ious and stop_at is not None and trace.ious[-1] >= stop_at:
            break
        click = next_click(pred, truth)
        if click is None:  # perfect already: every further click keeps IoU 1
            break
        trace.clicks.append(click)
        clicks.append(click)
        pred = previous = np.asarray(predict(clicks, previous), bool)
        trace.ious.append(jaccard_index(pred, truth))
    return trace


def mean_noc(traces: Sequence[RefinementTrace], threshold: float, cap: int = MAX_CLICKS) -> float:
    return float(np.mean([t.noc(threshold, cap) for t in traces]))
