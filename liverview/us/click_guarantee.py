"""Every click is honoured: where the network's mask still disagrees with a click, the click's label is painted
around it.

A corrective click lands in the middle of a region the mask got wrong. A network that leaves the clicked pixel
wrong has ignored it, and the reader would click there again and again. The painted disk reaches from the click
to the mask shown before it (a lesion click: to its foreground; a background click: to its background), which is
how far the wrong region runs from the click at most; it is capped by the shown lesion's own radius, so a stray
click far from the lesion does not paint a disk the size of the image. Pure numpy: no network involved.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from liverview.us.clicks import Click

MIN_RADIUS_PX = 3.0  # a click whose shown mask gives no distance (nothing shown yet) still changes its neighbourhood


def _borders_other(region: np.ndarray) -> np.ndarray:
    """Pixels of ``region`` with a 4-neighbour (inside the image) outside it."""
    edge = np.zeros_like(region)
    edge[1:] |= region[1:] & ~region[:-1]
    edge[:-1] |= region[:-1] & ~region[1:]
    edge[:, 1:] |= region[:, 1:] & ~region[:, :-1]
    edge[:, :-1] |= region[:, :-1] & ~region[:, 1:]
    return edge


def distance_to_region(region: np.ndarray, y: int, x: int) -> float | None:
    """Euclidean distance from pixel (y, x) to the nearest pixel of ``region`` (0 inside it; None when empty).
    The nearest pixel always borders the rest of the image (one step from it towards the click leaves the
    region), so only the region's edge is searched: a few hundred pixels, not the image."""
    if region[y, x]:
        return 0.0
    ys, xs = np.nonzero(_borders_other(region))
    if ys.size == 0:
        return None
    return float(np.sqrt(((ys - y) ** 2 + (xs - x) ** 2).min()))


def honour_clicks(mask: np.ndarray, clicks: Sequence[Click], shown: np.ndarray | None = None) -> np.ndarray:
    """``mask`` with each click whose pixel it labels wrongly repaired by a disk of the click's label.

    ``shown``: the mask the reader saw when clicking (None: ``mask`` itself). Disk radius: the distance from the
    click to the shown mask's opposite label, at most the shown lesion's equivalent radius, at least
    :data:`MIN_RADIUS_PX`. Clicks are repaired in order, so a later click wins where disks overlap. When no click
    needs repair, ``mask`` itself is returned (not a copy)."""
    mask = np.asarray(mask, bool)
    ref = mask if shown is None else np.asarray(shown, bool)
    if ref.shape != mask.shape:
        raise ValueError(f"the shown mask is {ref.shape}, the mask {mask.shape}")
    h, w = mask.shape
    at = [(c, int(round(c.y)), int(round(c.x))) for c in clicks]
    if all(not (0 <= y < h and 0 <= x < w) or mask[y, x] == c.positive for c, y, x in at):
        return mask  # the usual case: every click already honoured, nothing to copy or measure
    out = mask.copy()
    cap = float(np.sqrt(ref.sum() / np.pi))
    for c, y, x in at:
        if not (0 <= y < h and 0 <= x < w) or out[y, x] == c.positive:
            continue
        reach = distance_to_region(ref if c.positive else ~ref, y, x)
        radius = MIN_RADIUS_PX if reach is None else max(MIN_RADIUS_PX, min(reach, cap))
        r = int(np.ceil(radius))
        y0, y1, x0, x1 = max(y - r, 0), min(y + r + 1, h), max(x - r, 0), min(x + r + 1, w)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        disk = (yy - y) ** 2 + (xx - x) ** 2 <= radius * radius
        out[y0:y1, x0:x1] = out[y0:y1, x0:x1] | disk if c.positive else out[y0:y1, x0:x1] & ~disk
    return out
