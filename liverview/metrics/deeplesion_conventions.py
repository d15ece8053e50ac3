"""The DeepLesion family's evaluation rules, so that our figures can be set beside published ones.

Two published protocols share these rules (``evaluate_detections(..., protocol=...)`` applies them):

- ``"deeplesion"``: DeepLesion's detection evaluation (Yan et al. 2018, the 3DCE / MULAN code) as the Lesion
  Harvester (Cai et al. 2020) runs it on 3D proposals with the pseudo-3D IoU: a proposal hits a mark when it
  has a box on the mark's key slice and that box's IoU with the mark's box is >= 0.5.
- ``"manual1k"``: the code of the DeepLesion manual-1K 3D test set (Yan et al. 2020): a proposal hits a
  lesion when the intersection volume over the proposal's own box volume (IoBB) is >= 0.3 in 3D.

The rules, each as those codes have it:

- Widths are inclusive: a box x0..x1 is x1 - x0 + 1 wide (pixel indices), likewise heights and slices, and
  an intersection x-range a..b is b - a + 1 wide (none below 0). The formula is applied to the numbers as
  they are given; no convention is converted.
- The proposal's box on a slice: its per-slice box (``Proposal3D.slice_boxes``, the Lesion Harvester's
  tracklet box) where it has one for that slice, else its union box ``Proposal3D.box`` (what a 3D box
  x1, y1, z1, x2, y2, z2 gives, as in the manual-1K code's "P3D"); none outside the proposal's z-range.
- Counting (``sweep``): the proposals of all volumes are ranked by score, best first (ties in input order;
  the reference codes use numpy's unstable sort, so only tied scores can come out differently). A proposal
  that hits no lesion is a false positive. Otherwise every lesion it hits that is not yet found becomes
  found (one proposal may find several), and a hit on a lesion already found is ignored: neither a true nor a
  false positive for the FROC. The Lesion Harvester's AP (Pascal VOC style) counts each such repeated hit as
  one miss; ``sweep`` reports them so that AP and precision can follow it.
- Every proposal is an operating point (tied scores are not grouped).
- FROC read-off (``sensitivity_at_fp``): sensitivity at f false positives per volume from the points
  (FP_k / volumes, found_k / lesions), k = 1..N in rank order, by linear interpolation. The two codes differ
  only where f equals a reached FP rate exactly: the DeepLesion / Lesion Harvester code (scipy ``interp1d``
  with extrapolation) takes the first point at that rate, i.e. the sensitivity when that false positive
  arrives; the manual-1K code (``interp1d`` without it, which scipy hands to ``numpy.interp``) takes the
  last point at that rate. Below the first point the sensitivity is 0, beyond the last it is the final
  sensitivity (the manual-1K code's rule; the DeepLesion code's extrapolation gives the same wherever it
  gives a finite number).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from liverview.detection.proposals import Box2D, Proposal3D
from liverview.metrics.ground_truth import Box3D, GroundTruthLesion

PUBLISHED_PROTOCOLS: tuple[str, ...] = ("deeplesion", "manual1k")


def inclusive_iou_2d(a: Box2D, b: Box2D) -> float:
    """IoU of two 2D boxes with inclusive widths (x1 - x0 + 1), as DeepLesion's code computes it."""
    iw = max(min(a[2], b[2]) - max(a[0], b[0]) + 1.0, 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]) + 1.0, 0.0)
    inter = iw * ih
    union = (a[2] - a[0] + 1.0) * (a[3] - a[1] + 1.0) + (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0) - inter
    return inter / max(union, 1e-6)


def _inclusive_3d(det: Box3D, gt: Box3D) -> tuple[float, float, float]:
    """Intersection volume, detected-box volume and ground-truth volume, every extent inclusive."""
    iw = max(min(det[2], gt[2]) - max(det[0], gt[0]) + 1.0, 0.0)
    ih = max(min(det[3], gt[3]) - max(det[1], gt[1]) + 1.0, 0.0)
    iz = max(min(det[5], gt[5]) - max(det[4], gt[4]) + 1.0, 0.0)
    v_det = (det[2] - det[0] + 1.0) * (det[3] - det[1] + 1.0) * (det[5] - det[4] + 1.0)
    v_gt = (gt[2] - gt[0] + 1.0) * (gt[3] - gt[1] + 1.0) * (gt[5] - gt[4] + 1.0)
    return iw * ih * iz, v_det, v_gt


def inclusive_iou_3d(det: Box3D, gt: Box3D) -> float:
    """3D IoU with inclusive widths, heights and slice counts."""
    inter, v_det, v_gt = _inclusive_3d(det, gt)
    return inter / (v_det + v_gt - inter)


def intersection_over_detected_box(det: Box3D, gt: Box3D) -> float:
    """IoBB: intersection volume over the detected (proposal) box's volume, extents inclusive."""
    inter, v_det, _ = _inclusive_3d(det, gt)
    return inter / v_det


def box_on_slice(p: Proposal3D, z: int) -> Box2D | None:
    """The proposal's 2D box on slice z: its per-slice box there if it has one, else its union box; None when
    z is outside the proposal's z-range."""
    if not p.z_range[0] <= z <= p.z_range[1]:
        return None
    return p.slice_boxes.get(z, p.box)


def published_overlap(p: Proposal3D, lesion: GroundTruthLesion, criterion: str) -> float:
    """Overlap of a proposal with a lesion under the published rules: ``"p3d"`` (inclusive 2D IoU of the
    proposal's box on the key slice with the mark), ``"iou3d"`` (inclusive 3D IoU) or ``"iobb3d"``
    (intersection over the detected box, 3D)."""
    if criterion == "p3d":
        if lesion.box is None or lesion.key_slice is None:
            raise ValueError(f"lesion {lesion.lesion_id!r} of {lesion.volume!r} has no key-slice mark")
        box = box_on_slice(p, lesion.key_slice)
        return 0.0 if box is None else inclusive_iou_2d(box, lesion.box)
    if lesion.box_3d is None:
        raise ValueError(f"lesion {lesion.lesion_id!r} of {lesion.volume!r} has no 3D box")
    det = (*p.box, *p.z_range)
    if criterion == "iou3d":
        return inclusive_iou_3d(det, lesion.box_3d)
    if criterion == "iobb3d":
        return intersection_over_detected_box(det, lesion.box_3d)
    raise ValueError(f"unknown criterion {criterion!r} for a published protocol (p3d, iou3d or iobb3d)")


@dataclass(frozen=True)
class SweepStep:
    """One ranked proposal under the published counting: the lesions it found first (index in its volume's
    ground truth, overlap), best overlap first, and the already-found lesions it hit again."""

    volume: str
    index: int
    found: tuple[tuple[int, float], ...]
    repeated: tuple[int, ...]

    @property
    def false_positive(self) -> bool:
        """Hit no lesion at all (a repeated hit is not a false positive)."""
        return not self.found and not self.repeated


def sweep(ranked: Sequence[tuple[str, int, Proposal3D]], ground_truth: Mapping[str, Sequence[GroundTruthLesion]],
          criterion: str, threshold: float) -> list[SweepStep]:
    """Walk the proposals in the given (ranked) order: (volume, index in the volume's list, proposal)."""
    found: dict[str, set[int]] = {v: set() for v in ground_truth}
    steps = []
    for volume, index, p in ranked:
        lesions = ground_truth[volume]
        hits = [(g, ov) for g, les in enumerate(lesions) if (ov := published_overlap(p, les, criterion)) >= threshold]
        new = tuple(sorted(((g, ov) for g, ov in hits if g not in found[volume]), key=lambda h: (-h[1], h[0])))
        repeated = tuple(g for g, _ in hits if g in found[volume])
        found[volume].update(g for g, _ in new)
        steps.append(SweepStep(volume, index, new, repeated))
    return steps


def sensitivity_at_fp(fp_per_volume: Sequence[float], sensitivity: Sequence[float], fp_rates: Sequence[float],
                      protocol: str = "deeplesion") -> dict[float, float]:
    """Sensitivity at each rate from per-proposal points in rank order (see the module notes): at a rate
    reached exactly, the first such point for ``"deeplesion"``, the last for ``"manual1k"``."""
    if protocol not in PUBLISHED_PROTOCOLS:
        raise ValueError(f"unknown published protocol {protocol!r} (expected {', '.join(PUBLISHED_PROTOCOLS)})")
    fps = np.asarray(fp_per_volume, float)
    sens = np.asarray(sensitivity, float)
    out: dict[float, float] = {}
    for f in fp_rates:
        f = float(f)
        if len(fps) == 0 or f < fps[0]:
            out[f] = 0.0
        elif f > fps[-1]:
            out[f] = float(sens[-1])
        elif protocol == "manual1k":
            out[f] = float(np.interp(f, fps, sens))
        else:
            hi = int(np.searchsorted(fps, f, side="left"))  # first point at or beyond f
            if hi == 0 or fps[hi] == f:
                out[f] = float(sens[hi])
            else:
                x0, y0, x1, y1 = fps[hi - 1], sens[hi - 1], fps[hi], sens[hi]
                out[f] = float(y0 + (y1 - y0) * (f - x0) / (x1 - x0))
    return out
