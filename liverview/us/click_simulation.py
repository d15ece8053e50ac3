"""Simulated clicks, as in Ryu et al. 2021, for training and for the evaluation protocols.

Training sequences (several per image, drawn fresh from a seeded generator):
- "paper": 1-5 foreground clicks inside the lesion, 0-10 background clicks in a band around it;
- "box": two-click mode, a box with positional error (slightly enlarged) -> 1 fg centre + 4 bg
  corners, sometimes followed by 1-2 refinement clicks (fg inside / bg just outside);
- "one": one foreground click near the lesion centre;
- "corrective": a box or one click, then 1-3 clicks where a plausible wrong mask (the ellipse in the
  box, the lesion grown, shrunk or shifted) is most wrong, as a reader corrects a result: a model
  trained without them learns to ignore every click after the first few.
:func:`simulate_interaction` also gives the mask each sequence starts from, for models with a prior-mask
input: a box's inscribed ellipse, the wrong mask a corrective click corrects, or nothing.
Evaluation uses :func:`eval_box` (box error seeded per image), :func:`centre_click` and, for
refinement, liverview.metrics.refinement.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from liverview.us.clicks import Click, box_to_clicks, ellipse_in_box

LOCAL_SIDE = 128  # corrective clicks are placed on the lesion's surroundings resampled to this size
MODE_WEIGHTS = {"paper": 0.3, "box": 0.3, "one": 0.1, "corrective": 0.3}


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("the mask is empty: no lesion to click on")
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _pick(rng: np.random.Generator, candidates: np.ndarray, n: int) -> list[tuple[float, float]]:
    """n random (x, y) from a boolean map (with replacement if too few)."""
    ys, xs = np.nonzero(candidates)
    if len(xs) == 0 or n == 0:
        return []
    idx = rng.choice(len(xs), size=n, replace=len(xs) < n)
    return [(float(xs[i]), float(ys[i])) for i in idx]


def perturbed_box(mask: np.ndarray, rng: np.random.Generator, enlarge: tuple[float, float] = (0.0, 0.12),
                  jitter: float = 0.04) -> tuple[float, float, float, float]:
    """The lesion's box, each side pushed out by U(enlarge) x size plus N(0, jitter x size), clipped."""
    x0, y0, x1, y1 = _bbox(mask)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    e = rng.uniform(*enlarge, size=4)
    n = rng.normal(0, jitter, size=4)
    bx0 = x0 - (e[0] + n[0]) * w
    bx1 = x1 + (e[1] + n[1]) * w
    by0 = y0 - (e[2] + n[2]) * h
    by1 = y1 + (e[3] + n[3]) * h
    H, W = mask.shape
    bx0, bx1 = np.clip([bx0, bx1], 0, W - 1)
    by0, by1 = np.clip([by0, by1], 0, H - 1)
    if bx1 - bx0 < 2:
        bx0, bx1 = max(x0 - 1, 0), min(x1 + 1, W - 1)
    if by1 - by0 < 2:
        by0, by1 = max(y0 - 1, 0), min(y1 + 1, H - 1)
    return float(bx0), float(by0), float(bx1), float(by1)


EVAL_BOX_ENLARGE = (0.02, 0.10)  # per side, as a share of the lesion's size
EVAL_BOX_JITTER = 0.03


@dataclass(frozen=True)
class ReaderBox:
    """How the simulated reader draws a test box: each side pushed out by U(enlarge) x lesion size plus
    N(0, jitter x size). ``ReaderBox()`` draws a slightly loose box (:data:`LOOSE_READER`); (0, 0) and 0 is the
    lesion's own tight box (:data:`TIGHT_READER`), which is how a reader who drags to the lesion's edges draws it."""

    enlarge: tuple[float, float] = EVAL_BOX_ENLARGE
    jitter: float = EVAL_BOX_JITTER

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.enlarge)
        if not (-0.25 <= lo <= hi < 1) or not 0 <= self.jitter < 1:
            raise ValueError(f"box margin must satisfy -0.25 <= low <= high < 1 (a negative margin cuts into the "
                             f"lesion) and jitter 0 <= sd < 1, got {self.enlarge} and {self.jitter}")
        object.__setattr__(self, "enlarge", (lo, hi))

    @property
    def mean_margin(self) -> float:
        return float(np.mean(self.enlarge))

    def draw(self, mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float, float]:
        """One box around ``mask``'s lesion, as this reader draws it."""
        return perturbed_box(mask, rng, enlarge=self.enlarge, jitter=self.jitter)


LOOSE_READER = ReaderBox()  # drags with a margin: each side 2-10 % of the lesion's size out, sd 3 %
TIGHT_READER = ReaderBox((0.0, 0.0), 0.0)  # drags to the lesion's edges: its own box
# The test reader of eval-us and cv-us: the lesion's own box, as the workspace asks ("drag to the lesion's edges")
# and as the baseline draws its ellipse; LOOSE_READER is the robustness check (--box-margin, --box-jitter).
DEFAULT_READER = TIGHT_READER
TRAIN_READER = ReaderBox((0.0, 0.12), 0.04)  # the boxes of training sequences (box and corrective modes)


def eval_box(mask: np.ndarray, seed: int, reader: ReaderBox = DEFAULT_READER) -> tuple[float, float, float, float]:
    """The test-time box drawn by ``reader`` (default: the lesion's own box), seeded."""
    return reader.draw(mask, np.random.default_rng(seed))


def margin_corrected_box(box: tuple[float, float, float, float], reader: ReaderBox = DEFAULT_READER
                         ) -> tuple[float, float, float, float]:
    """The box less the simulated reader's mean margin per side: a baseline that knows how the test boxes
    were drawn but not the image."""
    m = reader.mean_margin
    x0, y0, x1, y1 = box
    sx, sy = (x1 - x0) * m / (1 + 2 * m), (y1 - y0) * m / (1 + 2 * m)
    return x0 + sx, y0 + sy, x1 - sx, y1 - sy


def centre_click(mask: np.ndarray) -> Click:
    """One-click mode: the lesion pixel farthest from its boundary."""
    dt = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(dt.argmax()), dt.shape)
    return Click(float(x), float(y), True)


def lesion_distances(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance inside the lesion to its edge, distance outside to the lesion), float32 px."""
    mask = np.asarray(mask, bool)
    inside = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1].astype(np.float32)
    return inside, ndimage.distance_transform_edt(~mask).astype(np.float32)


@dataclass
class Interaction:
    """A simulated click sequence and the mask the model is shown as its start (None: nothing yet)."""

    clicks: list[Click]
    prior: np.ndarray | None = None


def simulate_clicks(mask: np.ndarray, rng: np.random.Generator, mode: str | None = None,
                    distances: tuple[np.ndarray, np.ndarray] | None = None) -> list[Click]:
    """One training click sequence for this lesion mask (mode random by MODE_WEIGHTS when None).

    ``distances`` (from :func:`lesion_distances`) may be passed to avoid recomputing them per sequence.
    """
    return simulate_interaction(mask, rng, mode, distances).clicks


def simulate_interaction(mask: np.ndarray, rng: np.random.Generator, mode: str | None = None,
                         distances: tuple[np.ndarray, np.ndarray] | None = None,
                         reader: ReaderBox | None = None) -> Interaction:
    """:func:`simulate_clicks` with its prior: a box (with or without follow-up clicks) starts from the
    ellipse inscribed in it, a corrective sequence from the wrong mask its last click corrects, the
    others from nothing. Draws the same random numbers as :func:`simulate_clicks`. Boxes are drawn by
    ``reader`` (default TRAIN_READER)."""
    reader = reader or TRAIN_READER
    mask = np.asarray(mask, bool)
    if mode is None:
        modes = list(MODE_WEIGHTS)
        mode = modes[rng.choice(len(modes), p=np.array(list(MODE_WEIGHTS.values())))]
    inside, outside = distances if distances is not None else lesion_distances(mask)
    deepest = float(inside.max())
    if mode == "one":
        return Interaction([Click(*_pick(rng, inside >= 0.5 * deepest, 1)[0], True)])
    if mode == "box":
        box = reader.draw(mask, rng)
        clicks = box_to_clicks(*box)
        if rng.random() < 0.3:
            for _ in range(int(rng.integers(1, 3))):
                if rng.random() < 0.5:
                    clicks += [Click(x, y, True) for x, y in _pick(rng, inside >= min(3.0, deepest), 1)]
                else:
                    clicks += [Click(x, y, False) for x, y in _pick(rng, (outside >= 2) & (outside <= 8), 1)]
        return Interaction(clicks, ellipse_in_box(mask.shape, box))
    if mode == "corrective":
        return corrective_interaction(mask, rng, reader)
    if mode != "paper":
        raise ValueError(f"unknown click mode {mode!r}")
    radius = np.sqrt(mask.sum() / np.pi)
    fg = _pick(rng, inside >= min(0.2 * deepest, 5.0), int(rng.integers(1, 6)))
    band = (outside >= 3) & (outside <= max(10.0, 0.5 * radius))
    bg = _pick(rng, band, int(rng.integers(0, 11)))
    return Interaction([Click(x, y, True) for x, y in fg] + [Click(x, y, False) for x, y in bg])


def _wrong_mask(mask: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator) -> np.ndarray:
    """A plausible wrong answer near the lesion: the ellipse in the box, or the lesion grown, shrunk or
    shifted by up to a quarter of its size."""
    x0, y0, x1, y1 = box
    size = max(x1 - x0, y1 - y0, 4.0)
    kind = rng.integers(4)
    if kind == 0:
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 1), max((y1 - y0) / 2, 1)
        yy, xx = np.ogrid[:mask.shape[0], :mask.shape[1]]
        return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    r = max(1, int(rng.uniform(0.05, 0.25) * size))
    if kind == 1:
        return ndimage.distance_transform_edt(~mask) <= r
    if kind == 2:
        shrunk = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1] > r
        return shrunk if shrunk.any() else mask.copy()
    dy, dx = (int(v) for v in rng.uniform(-0.25, 0.25, 2) * size)
    return np.roll(mask, (dy, dx), axis=(0, 1))


def corrective_clicks(mask: np.ndarray, rng: np.random.Generator) -> list[Click]:
    """Initial clicks (a box, or one inside) then 1-3 clicks at the error regions of a wrong mask: inside
    the missed lesion (foreground) or the spill (background), each deep in the larger region, which is
    then taken as fixed so the next click goes elsewhere."""
    return corrective_interaction(mask, rng).clicks


def corrective_interaction(mask: np.ndarray, rng: np.random.Generator, reader: ReaderBox | None = None
                           ) -> Interaction:
    """:func:`corrective_clicks` with, as prior, the wrong mask as it stood before the last click (the
    earlier clicks' regions already fixed), at the image's size."""
    mask = np.asarray(mask, bool)
    box = (reader or TRAIN_READER).draw(mask, rng)
    if rng.random() < 0.6:
        clicks = box_to_clicks(*box)
    else:
        inside = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        clicks = [Click(*_pick(rng, inside >= 0.5 * inside.max(), 1)[0], True)]
    # work around the lesion only, at most 128 px across: the cost then does not grow with the image
    H, W = mask.shape
    bx0, by0, bx1, by1 = _bbox(mask)
    pad = int(0.6 * max(bx1 - bx0, by1 - by0)) + 4
    r0, r1, c0, c1 = max(by0 - pad, 0), min(by1 + pad + 1, H), max(bx0 - pad, 0), min(bx1 + pad + 1, W)
    f = min(1.0, LOCAL_SIDE / max(r1 - r0, c1 - c0))
    truth = mask[r0:r1, c0:c1]
    if f < 1:
        truth = cv2.resize(truth.astype(np.uint8), (max(1, round((c1 - c0) * f)), max(1, round((r1 - r0) * f))),
                           interpolation=cv2.INTER_NEAREST).astype(bool)
        if not truth.any():
            return Interaction(clicks)
    local_box = tuple(v * f for v in (box[0] - c0, box[1] - r0, box[2] - c0, box[3] - r0))
    wrong = _wrong_mask(truth, local_box, rng)
    before_last = wrong
    for _ in range(int(rng.integers(1, 4))):
        missed, spill = truth & ~wrong, wrong & ~truth
        d_missed = ndimage.distance_transform_edt(np.pad(missed, 1))[1:-1, 1:-1]
        d_spill = ndimage.distance_transform_edt(np.pad(spill, 1))[1:-1, 1:-1]
        if max(d_missed.max(), d_spill.max()) < 1.5:
            break
        positive = d_missed.max() >= d_spill.max()
        dist = d_missed if positive else d_spill
        (x, y), = _pick(rng, dist >= 0.6 * dist.max(), 1)
        clicks.append(Click((x + 0.5) / f - 0.5 + c0, (y + 0.5) / f - 0.5 + r0, bool(positive)))
        before_last = wrong
        region, _ = ndimage.label(missed if positive else spill)
        fixed = region == region[int(y), int(x)]
        wrong = np.where(fixed, truth, wrong)
    prior = np.zeros((H, W), bool)
    local = before_last.astype(np.uint8)
    if f < 1:
        local = cv2.resize(local, (c1 - c0, r1 - r0), interpolation=cv2.INTER_NEAREST)
    prior[r0:r1, c0:c1] = local.astype(bool)
    return Interaction(clicks, prior)
