"""A correction changes the mask shown where the reader asked, and nowhere against the reader's word.

A corrective click says "wrong here" about the mask on screen; the network, given the new click, redraws the whole
lesion. Two rules keep its answer to what the click asked:

* **By the click's sign** (every correction): a lesion click never removes lesion the reader saw, a background click
  never adds any. The network's redraw may still grow the lesion anywhere after a lesion click (the first clicks
  must), or shrink it after a background click. No parameter. Liver cross-validation, from one click (RITM's
  protocol): NoC@85/90 11.2/16.3 -> 10.8/14.9; BUSI test 7.9/12.2 -> 6.3/11.6.
* **Near the click** (corrections after a box): the box already gave a whole contour, so the rest of it was right
  or the reader would have clicked there; the redraw drifted where nothing was wrong (the first correction after
  a box lowered IoU on 11 of 14 liver images). The answer is the mask shown with the network's new mask pasted in a
  disk around the click: radius twice the distance from the click to the shown mask's opposite label (how far the
  wrong region can reach from a click at its deepest point), at least :data:`MIN_RADIUS_PX`. An edge-drawn box
  also bounds the lesion: nothing is drawn outside it. This rule does not pay from one click (the first clicks must
  redraw the whole lesion), so it applies after a box only.

Every click is honoured afterwards (:mod:`liverview.us.click_guarantee`). Pure numpy, any segmenter.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from liverview.us.click_guarantee import MIN_RADIUS_PX, distance_to_region, honour_clicks
from liverview.us.clicks import BOX_CLICK_COUNT, Click, box_of_clicks, filled_box

REACH = 2.0  # disk radius in units of the click's distance to the shown mask's opposite label


def box_before_corrections(clicks: Sequence[Click]) -> tuple[float, float, float, float] | None:
    """The box when ``clicks`` are a box's five clicks followed by at least one more click, else None."""
    if len(clicks) <= BOX_CLICK_COUNT:
        return None
    return box_of_clicks(clicks[:BOX_CLICK_COUNT])


def paste_near_clicks(new: np.ndarray, shown: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
    """``shown`` with ``new`` pasted inside each click's disk (see the module's note for its radius, always
    measured on ``shown``: the mask the clicks were made on)."""
    new, shown = np.asarray(new, bool), np.asarray(shown, bool)
    if new.shape != shown.shape:
        raise ValueError(f"the new mask is {new.shape}, the shown mask {shown.shape}")
    h, w = shown.shape
    out = shown.copy()
    for click in clicks:
        y, x = int(round(click.y)), int(round(click.x))
        inside = 0 <= y < h and 0 <= x < w
        reach = distance_to_region(shown if click.positive else ~shown, y, x) if inside else None
        if reach is None:  # nothing of the opposite label shown (or a click off the image): the new mask decides
            return new.copy()
        radius = max(MIN_RADIUS_PX, REACH * reach)
        r = int(np.ceil(radius))
        y0, y1, x0, x1 = max(y - r, 0), min(y + r + 1, h), max(x - r, 0), min(x + r + 1, w)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        near = (yy - y) ** 2 + (xx - x) ** 2 <= radius * radius
        out[y0:y1, x0:x1] = np.where(near, new[y0:y1, x0:x1], out[y0:y1, x0:x1])
    return out


def keep_clicks_sign(new: np.ndarray, shown: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
    """``new`` with nothing removed from ``shown`` when every click of ``clicks`` is a lesion click, nothing added
    when every one is a background click (clicks of both signs: ``new`` as it is)."""
    new, shown = np.asarray(new, bool), np.asarray(shown, bool)
    if all(c.positive for c in clicks):
        return new | shown
    if not any(c.positive for c in clicks):
        return new & shown
    return new


def correct_shown_mask(new: np.ndarray, shown: np.ndarray | None, clicks: Sequence[Click], box_edges: bool,
                       corrections: int = 1) -> np.ndarray:
    """The mask to show for ``clicks`` whose newest ``corrections`` clicks were made on ``shown`` (one, unless the
    reader clicked again before the mask came back): ``new`` kept to the clicks' signs and, when a box came before
    them, pasted near them only (clipped to the box when ``box_edges``: the box was drawn at the lesion's edges);
    every click honoured. ``new`` unchanged when nothing was shown or no click corrects it."""
    new = np.asarray(new, bool)
    if shown is None or not 1 <= corrections < len(clicks):
        return new
    made = clicks[-corrections:]
    box = box_before_corrections(clicks) if corrections <= len(clicks) - BOX_CLICK_COUNT else None
    out = new if box is None else paste_near_clicks(new, shown, made)
    out = keep_clicks_sign(out, shown, made)
    if box is not None and box_edges:
        out &= filled_box(out.shape, box)
    return honour_clicks(out, clicks, shown)
