"""2D detections -> 3D proposals, the lesion harvester's rule (Cai et al. 2020, section 2D -> 3D).

1. keep 2D boxes with score > t_G (0.1);
2. link a box to a chain ending on the slice just above when their 2D IoU > 0.8 (best IoU wins, one box
   per chain and slice);
3. extend every chain one slice up and down (clipped to the volume) and merge two chains whose slice
   ranges then overlap and whose 2D boxes overlap with IoU >= 0.8 (repeated until nothing merges);
4. the 3D score is the maximum 2D score, the key slice is that box's slice, the 3D box is the union of
   the 2D boxes, class probabilities are the score-weighted mean of the chain's 2D class probabilities.

Pure numpy / stdlib: the detector and the harvest loop share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from liverview.detection.proposals import Box2D, Detection2D, Proposal3D, box_iou

SCORE_THRESHOLD = 0.1  # t_G
LINK_IOU = 0.8
MERGE_IOU = 0.8


def union_box(boxes: Iterable[Box2D]) -> Box2D:
    """The smallest box holding every one of ``boxes`` (at least one)."""
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


@dataclass
class _Chain:
    detections: list[Detection2D] = field(default_factory=list)
    z0: int = 0
    z1: int = 0

    @property
    def last(self) -> Detection2D:
        return self.detections[-1]

    @property
    def box(self) -> Box2D:
        return union_box(d.box for d in self.detections)

    @property
    def best(self) -> Detection2D:
        return max(self.detections, key=lambda d: d.score)


def _link(detections: list[Detection2D], link_iou: float) -> list[_Chain]:
    by_slice: dict[int, list[Detection2D]] = {}
    for d in detections:
        by_slice.setdefault(d.slice_index, []).append(d)
    chains: list[_Chain] = []
    open_chains: list[_Chain] = []  # chains whose last box is on the previous slice
    for z in sorted(by_slice):
        still_open: list[_Chain] = []
        candidates = [c for c in open_chains if c.last.slice_index == z - 1]
        for d in sorted(by_slice[z], key=lambda d: -d.score):
            best, best_iou = None, link_iou
            for c in candidates:
                iou = box_iou(c.last.box, d.box)
                if iou > best_iou:
                    best, best_iou = c, iou
            if best is None:
                best = _Chain([d], z, z)
                chains.append(best)
            else:
                candidates.remove(best)
                best.detections.append(d)
                best.z1 = z
            still_open.append(best)
        open_chains = still_open
    return chains


def _merge(chains: list[_Chain], merge_iou: float) -> list[_Chain]:
    merged = True
    while merged:
        merged = False
        for a in range(len(chains)):
            for b in range(a + 1, len(chains)):
                ca, cb = chains[a], chains[b]
                if ca.z1 < cb.z0 or cb.z1 < ca.z0:
                    continue
                if box_iou(ca.box, cb.box) >= merge_iou:
                    ca.detections = sorted(ca.detections + cb.detections, key=lambda d: d.slice_index)
                    ca.z0, ca.z1 = min(ca.z0, cb.z0), max(ca.z1, cb.z1)
                    del chains[b]
                    merged = True
                    break
            if merged:
                break
    return chains


def _class_probs(chain: _Chain) -> dict[str, float]:
    total = sum(d.score for d in chain.detections if d.class_probs)
    if total <= 0:
        return dict(chain.best.class_probs)
    probs: dict[str, float] = {}
    for d in chain.detections:
        for name, p in d.class_probs.items():
            probs[name] = probs.get(name, 0.0) + d.score * p / total
    return probs


def _slice_boxes(chain: _Chain) -> dict[int, Box2D]:
    """One box per slice of the chain (after merging two chains may share a slice: the better box wins)."""
    out: dict[int, Detection2D] = {}
    for d in chain.detections:
        if d.slice_index not in out or d.score > out[d.slice_index].score:
            out[d.slice_index] = d
    return {z: d.box for z, d in sorted(out.items())}


def stack_detections(detections: Iterable[Detection2D], n_slices: int | None = None,
                     score_threshold: float = SCORE_THRESHOLD, link_iou: float = LINK_IOU,
                     merge_iou: float = MERGE_IOU, extend: int = 1) -> list[Proposal3D]:
    """3D proposals from 2D detections (slice indices of one volume); ``n_slices`` clips the one-slice
    extension to the volume (None: no clipping except at slice 0); ``extend`` = 0 leaves it out.
    Each proposal keeps its 2D box per detected slice (``slice_boxes``). Sorted by score, best first."""
    kept = [d for d in detections if d.score > score_threshold]
    chains = _link(kept, link_iou)
    last = None if n_slices is None else n_slices - 1
    for c in chains:
        c.z0 = max(0, c.z0 - extend)
        c.z1 = c.z1 + extend if last is None else min(last, c.z1 + extend)
    chains = _merge(chains, merge_iou)
    proposals = []
    for c in chains:
        best = c.best
        proposals.append(Proposal3D(box=c.box, z_range=(c.z0, c.z1), score=best.score,
                                    key_slice=best.slice_index, class_probs=_class_probs(c),
                                    slice_boxes=_slice_boxes(c)))
    return sorted(proposals, key=lambda p: -p.score)


FRAGMENT_OVERLAP = 0.6


def overlap_of_smaller(a: Box2D, b: Box2D) -> float:
    """Intersection area over the smaller box's area (1 when one box lies inside the other)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def _box_facing(a: Proposal3D, z_lo: int, z_hi: int) -> Box2D:
    """``a``'s 2D box on its slice nearest the slice range z_lo..z_hi (its union box when it kept none)."""
    if not a.slice_boxes:
        return a.box
    def distance(z: int) -> int:
        return 0 if z_lo <= z <= z_hi else min(abs(z - z_lo), abs(z - z_hi))
    return a.slice_boxes[min(a.slice_boxes, key=lambda z: (distance(z), abs(z - (z_lo + z_hi) / 2)))]


def merge_fragments(proposals: Iterable[Proposal3D], min_overlap: float = FRAGMENT_OVERLAP, gap: int = 1
                    ) -> list[Proposal3D]:
    """Join 3D proposals that are pieces of one lesion (a step after ``stack_detections``, not part of the
    harvester's rule): a lesion's cross-section changes size from slice to slice, so its 2D boxes often
    fall below the 0.8 linking IoU and the chain breaks into fragments stacked along z. A proposal whose
    slice range overlaps or comes within ``gap`` slices of a better-scoring one is absorbed when their 2D
    boxes where they meet (each one's box on its slice nearest the other; union boxes for proposals
    without per-slice boxes) overlap by >= ``min_overlap`` of the smaller box: a pole slice's small box
    lies inside its neighbour's. Comparing the facing slices, not the union boxes, keeps a separate small
    lesion above or below a big one apart. The better one keeps its box, score, key slice and class
    probabilities and takes the union of the slice ranges and per-slice boxes. Sorted by score, best first."""
    kept: list[Proposal3D] = []
    for p in sorted(proposals, key=lambda p: -p.score):
        for n, q in enumerate(kept):
            near = p.z_range[0] <= q.z_range[1] + gap and q.z_range[0] <= p.z_range[1] + gap
            if near and overlap_of_smaller(_box_facing(p, *q.z_range), _box_facing(q, *p.z_range)) >= min_overlap:
                boxes = {**dict(p.slice_boxes), **dict(q.slice_boxes)}  # the better proposal's boxes win
                kept[n] = Proposal3D(union_box((p.box, q.box)) if boxes else q.box,
                                     (min(p.z_range[0], q.z_range[0]), max(p.z_range[1], q.z_range[1])),
                                     q.score, q.key_slice, q.class_probs, boxes)
                break
        else:
            kept.append(p)
    return kept


def detected_extent(proposal: Proposal3D) -> Proposal3D:
    """The proposal with its slice range cut to the slices it has a 2D box on (unchanged without boxes).

    The harvester's one-slice extension (and the fragment merge's one-slice gap) decide what belongs
    together; once that is decided, the extra slices only stretch the 3D extent past the lesion."""
    if not proposal.slice_boxes:
        return proposal
    zs = list(proposal.slice_boxes)
    return Proposal3D(proposal.box, (min(zs), max(zs)), proposal.score, proposal.key_slice, proposal.class_probs,
                      proposal.slice_boxes)


POLE_SIDE_FRACTION = 0.3


def trim_poles(proposal: Proposal3D, min_side_fraction: float = POLE_SIDE_FRACTION) -> Proposal3D:
    """The proposal without its end slices whose 2D box is small beside its widest one (box side, the square
    root of the area, < ``min_side_fraction`` of the widest); the 3D box becomes the union of the boxes left.

    A 2.5D detector sees a lesion in the neighbouring slices of its input, so it keeps drawing small boxes a
    few slices past the lesion's poles: the proposal's slice range overshoots the lesion's (3D IoU). Only
    ends are cut (a slice range stays contiguous) and the key slice always stays."""
    if not proposal.slice_boxes:
        return proposal
    side = {z: max(b[2] - b[0], 0.0) ** 0.5 * max(b[3] - b[1], 0.0) ** 0.5 for z, b in proposal.slice_boxes.items()}
    widest = max(side.values())
    kept = [z for z in sorted(side) if side[z] >= min_side_fraction * widest]
    lo, hi = min(kept), max(kept)
    if proposal.key_slice in side:
        lo, hi = min(lo, proposal.key_slice), max(hi, proposal.key_slice)
    boxes = {z: b for z, b in proposal.slice_boxes.items() if lo <= z <= hi}
    return Proposal3D(union_box(boxes.values()), (lo, hi), proposal.score, proposal.key_slice, proposal.class_probs, boxes)


# Depth over widest in-plane side of real lesions' 3D boxes, DeepLesion manual-1K (5,416 lesions, all organs,
# radiologist-drawn 3D boxes): median 0.73, 90th percentile 1.14, 95th 1.27. The cap is that 95th percentile.
MAX_DEPTH_RATIO = 1.27


def cap_depth(proposal: Proposal3D, pixel_mm: float, slice_mm: float,
              max_ratio: float = MAX_DEPTH_RATIO) -> Proposal3D:
    """The proposal cut to at most ``floor(max_ratio x widest side / slice_mm) + 1`` slices: the run of that
    many slices holding the most box area (the key slice stays only if it lies in it).

    A 2.5D detector still draws full-size boxes a few slices past a small lesion's poles, where
    :func:`trim_poles` (relative box size) cannot tell them apart; a lesion is rarely deeper than it is wide,
    so the slice range is capped by the widest 2D box, in mm. The +1 slice allows for partial volume."""
    if not proposal.slice_boxes:
        return proposal
    if pixel_mm <= 0 or slice_mm <= 0 or max_ratio <= 0:
        raise ValueError(f"pixel_mm, slice_mm and max_ratio must be > 0, got {pixel_mm}, {slice_mm}, {max_ratio}")
    zs = sorted(proposal.slice_boxes)
    widest_mm = max(max(b[2] - b[0], b[3] - b[1]) for b in proposal.slice_boxes.values()) * pixel_mm
    n = int(max_ratio * widest_mm / slice_mm) + 1
    if zs[-1] - zs[0] + 1 <= n:
        return proposal
    area = {z: max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0) for z, b in proposal.slice_boxes.items()}
    start = max(range(zs[0], zs[-1] - n + 2), key=lambda z0: sum(area.get(z, 0.0) for z in range(z0, z0 + n)))
    boxes = {z: b for z, b in proposal.slice_boxes.items() if start <= z < start + n}
    key = proposal.key_slice if start <= proposal.key_slice < start + n else max(boxes, key=area.__getitem__)
    return Proposal3D(union_box(boxes.values()), (min(boxes), max(boxes)), proposal.score, key,
                      proposal.class_probs, boxes)


# Half-height of the window whose boxes make each slice's box (widen_slice_boxes), chosen on synth-inserted
# validation studies (2026-12-02; benchmarks/RESULTS.md).
SLICE_BOX_WINDOW_MM = 5.0


def widen_slice_boxes(proposal: Proposal3D, slices: int) -> Proposal3D:
    """The proposal with each slice's box replaced by the union of its boxes within ``slices`` slices of it.

    On a large lesion with a dark core or a faint rim, the detector boxes the core on some slices and the whole
    lesion on their neighbours; a lesion's outline changes little over a few mm, so the neighbours' boxes hold
    its extent. The union box, slice range and key slice are unchanged; at the poles boxes grow a little."""
    if slices < 0:
        raise ValueError(f"slices must be >= 0, got {slices}")
    if not proposal.slice_boxes or slices == 0:
        return proposal
    zs = sorted(proposal.slice_boxes)
    boxes = {z: union_box(proposal.slice_boxes[q] for q in zs if abs(q - z) <= slices) for z in zs}
    return Proposal3D(proposal.box, proposal.z_range, proposal.score, proposal.key_slice, proposal.class_probs, boxes)
