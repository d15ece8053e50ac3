"""Lesion detection metrics: FROC (recall at fixed false positives per volume), AP and class accuracy.

Two match criteria between a 3D proposal and a ground-truth lesion:
- ``"p3d"`` (pseudo-3D IoU, Cai et al. 2020): the proposal spans the mark's key slice (z0 <= z <= z1) and
  its 2D box has IoU >= threshold with the mark's 2D box; the overlap value is that 2D IoU.
- ``"iou3d"``: the 3D IoU of the proposal's box (x0..x1, y0..y1, slices z0..z1 inclusive) and the lesion's
  3D box is >= threshold.

Matching: proposals of all volumes are ranked by score (stable for ties). Each proposal, best first,
takes the not-yet-matched lesion of its volume that it overlaps most (overlap >= threshold) and is a
true positive; otherwise it is a false positive. Each lesion is matched at most once.

Operating points are taken at every distinct score (tied proposals enter together). The FROC curve is
recall vs false positives per volume (FP / number of evaluated volumes); recall at a rate f is linearly
interpolated between operating points, starting from (0, 0), and is the final recall beyond the last
point (the DeepLesion convention); between two operating points the curve is the straight segment from
the last point at or below the rate to the next one (see ``froc_recalls``). AP is the area under the
precision-recall curve with the usual monotone precision envelope (VOC, all points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from liverview.detection.proposals import Proposal3D, box_iou
from liverview.metrics.ground_truth import Box3D, GroundTruthLesion

FROC_FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
Criterion = Literal["p3d", "iou3d"]
CRITERIA: tuple[str, ...] = ("p3d", "iou3d")


class CriterionUnavailableError(ValueError):
    """The ground truth lacks what the criterion needs (e.g. 3D boxes for "iou3d")."""


def iou_3d(a: Box3D, b: Box3D) -> float:
    """IoU of two 3D boxes (x0, y0, x1, y1 continuous pixels; z0, z1 inclusive slices)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    iz = min(a[5], b[5]) - max(a[4], b[4]) + 1
    if iw <= 0 or ih <= 0 or iz <= 0:
        return 0.0
    inter = iw * ih * iz
    va = (a[2] - a[0]) * (a[3] - a[1]) * (a[5] - a[4] + 1)
    vb = (b[2] - b[0]) * (b[3] - b[1]) * (b[5] - b[4] + 1)
    union = va + vb - inter
    return inter / union if union > 0 else 0.0


def proposal_box_3d(p: Proposal3D) -> Box3D:
    return (*p.box, *p.z_range)


def padded(p: Proposal3D, pixels: float) -> Proposal3D:
    """The proposal with its 2D box grown by ``pixels`` on each side (e.g. 5 px to compare tight boxes
    with DeepLesion's RECIST boxes, which pad the end points by 5 px)."""
    x0, y0, x1, y1 = p.box
    return Proposal3D((x0 - pixels, y0 - pixels, x1 + pixels, y1 + pixels), p.z_range, p.score, p.key_slice,
                      p.class_probs)


def p3d_overlap(p: Proposal3D, lesion: GroundTruthLesion) -> float:
    """Pseudo-3D overlap: 2D IoU with the mark's box when the proposal spans the key slice, else 0."""
    if lesion.box is None or lesion.key_slice is None:
        raise CriterionUnavailableError(f"lesion {lesion.lesion_id!r} of {lesion.volume!r} has no key-slice "
                                        f"mark: the pseudo-3D criterion needs one (use iou3d)")
    if not p.z_range[0] <= lesion.key_slice <= p.z_range[1]:
        return 0.0
    return box_iou(p.box, lesion.box)


def iou3d_overlap(p: Proposal3D, lesion: GroundTruthLesion) -> float:
    if lesion.box_3d is None:
        raise CriterionUnavailableError(f"lesion {lesion.lesion_id!r} of {lesion.volume!r} has no 3D box: "
                                        f"the 3D IoU criterion is unavailable for this ground truth (use p3d)")
    return iou_3d(proposal_box_3d(p), lesion.box_3d)


def overlap(p: Proposal3D, lesion: GroundTruthLesion, criterion: str) -> float:
    if criterion == "p3d":
        return p3d_overlap(p, lesion)
    if criterion == "iou3d":
        return iou3d_overlap(p, lesion)
    raise ValueError(f"unknown criterion {criterion!r} (expected one of {', '.join(CRITERIA)})")


def criterion_available(ground_truth: Mapping[str, Sequence[GroundTruthLesion]], criterion: str) -> bool:
    """True when every lesion has what the criterion needs (a mark for p3d, a 3D box for iou3d)."""
    need = (lambda g: g.box is not None) if criterion == "p3d" else (lambda g: g.box_3d is not None)
    return all(need(g) for lesions in ground_truth.values() for g in lesions)


@dataclass(frozen=True)
class ProposalMatch:
    """The outcome of one proposal: its volume and position in the input list, whether it is a true
    positive, which lesion (position in the volume's ground-truth list) it matched, and the overlap."""

    volume: str
    index: int
    score: float
    matched: bool
    lesion_index: int | None = None
    overlap: float = 0.0
    predicted_class: str = "unknown"
    true_class: str | None = None

    @property
    def class_correct(self) -> bool | None:
        if not self.matched or self.true_class is None:
            return None
        return self.predicted_class == self.true_class


def match_volume(proposals: Sequence[Proposal3D], lesions: Sequence[GroundTruthLesion], criterion: str = "p3d",
                 iou_threshold: float = 0.5, volume: str = "") -> list[ProposalMatch]:
    """Greedy matching in one volume (best score first); returned in the order of ``proposals``."""
    order = sorted(range(len(proposals)), key=lambda i: -proposals[i].score)
    taken: set[int] = set()
    out: list[ProposalMatch | None] = [None] * len(proposals)
    for i in order:
        p = proposals[i]
        best, best_ov = None, 0.0
        for g, les in enumerate(lesions):
            if g in taken:
                continue
            ov = overlap(p, les, criterion)
            if ov >= iou_threshold and ov > best_ov:
                best, best_ov = g, ov
        if best is None:
            out[i] = ProposalMatch(volume, i, p.score, False, predicted_class=p.lesion_class)
        else:
            taken.add(best)
            out[i] = ProposalMatch(volume, i, p.score, True, best, best_ov, p.lesion_class,
                                   lesions[best].lesion_class)
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class OperatingCurve:
    """Cumulative counts at each distinct score threshold, best score first (score >= threshold kept)."""

    thresholds: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray
    n_lesions: int
    n_volumes: int

    @property
    def recall(self) -> np.ndarray:
        return self.true_positives / self.n_lesions if self.n_lesions else np.full(len(self.thresholds), np.nan)

    @property
    def precision(self) -> np.ndarray:
        total = self.true_positives + self.false_positives
        return np.where(total > 0, self.true_positives / np.maximum(total, 1), 1.0)

    @property
    def fp_per_volume(self) -> np.ndarray:
        return self.false_positives / max(self.n_volumes, 1)


def operating_curve(matches: Sequence[ProposalMatch], n_lesions: int, n_volumes: int) -> OperatingCurve:
    scores = np.array([m.score for m in matches], float)
    tp = np.array([m.matched for m in matches], bool)
    order = np.argsort(-scores, kind="stable")
    scores, tp = scores[order], tp[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    last_of_tie = np.r_[scores[1:] != scores[:-1], True] if len(scores) else np.zeros(0, bool)
    return OperatingCurve(scores[last_of_tie], ctp[last_of_tie].astype(int), cfp[last_of_tie].astype(int),
                          n_lesions, n_volumes)


def froc_recalls(curve: OperatingCurve, fp_rates: Sequence[float] = FROC_FP_RATES) -> dict[float, float]:
    """Recall at each false-positive rate per volume, read off the FROC polyline that joins the operating
    points in score order from (0, 0): at a rate f, the last point with FP <= f and the next point are
    joined linearly, so a rate between two false positives never borrows true positives found later."""
    if curve.n_lesions == 0:
        return {float(f): math.nan for f in fp_rates}
    fps = np.r_[0.0, curve.fp_per_volume]
    rec = np.r_[0.0, curve.recall]
    out = {}
    for f in fp_rates:
        nxt = int(np.searchsorted(fps, f, side="right"))  # first point beyond f
        if nxt >= len(fps):
            out[float(f)] = float(rec[-1])
            continue
        x0, y0, x1, y1 = fps[nxt - 1], rec[nxt - 1], fps[nxt], rec[nxt]
        out[float(f)] = float(y0 + (y1 - y0) * (f - x0) / (x1 - x0))
    return out


def average_precision(curve: OperatingCurve) -> float:
    """VOC all-point AP: area under the precision-recall curve with its monotone envelope."""
    if curve.n_lesions == 0:
        return math.nan
    rec = np.r_[0.0, curve.recall]
    prec = np.r_[1.0, curve.precision]
    envelope = np.maximum.accumulate(prec[::-1])[::-1]
    return float(np.sum((rec[1:] - rec[:-1]) * envelope[1:]))


def recall_at_precision(curve: OperatingCurve, min_precision: float) -> tuple[float, float | None]:
    """The highest recall of an operating point with precision >= min_precision, and its score threshold
    (0.0 and None when no operating point is that precise)."""
    if curve.n_lesions == 0 or len(curve.thresholds) == 0:
        return 0.0, None
    ok = curve.precision >= min_precision
    if not ok.any():
        return 0.0, None
    rec = np.where(ok, curve.recall, -1.0)
    i = int(np.argmax(rec))  # first (highest threshold) point reaching the best recall
    return float(curve.recall[i]), float(curve.thresholds[i])


@dataclass(frozen=True)
class ClassAccuracy:
    correct: int
    matched: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.matched if self.matched else None


@dataclass(frozen=True)
class DetectionReport:
    """All numbers of one evaluation; ``matches`` lists every proposal best score first."""

    criterion: str
    iou_threshold: float
    n_volumes: int
    n_lesions: int
    n_proposals: int
    n_true_positives: int
    froc: dict[float, float]
    ap: float
    class_accuracy: dict[str, ClassAccuracy]  # per ground-truth class, plus "overall"
    matches: tuple[ProposalMatch, ...]
    curve: OperatingCurve
    missed: tuple[tuple[str, int], ...] = field(default=())  # (volume, lesion index) never matched

    @property
    def mean_froc(self) -> float:
        return float(np.mean(list(self.froc.values()))) if self.froc else math.nan

    @property
    def recall(self) -> float:
        return self.n_true_positives / self.n_lesions if self.n_lesions else math.nan

    def recall_at_precision(self, min_precision: float) -> float:
        return recall_at_precision(self.curve, min_precision)[0]

    def to_json(self) -> dict[str, Any]:
        def num(v: float | None) -> float | None:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6)

        return {
            "criterion": self.criterion, "iou_threshold": self.iou_threshold,
            "volumes": self.n_volumes, "lesions": self.n_lesions, "proposals": self.n_proposals,
            "true_positives": self.n_true_positives, "recall_all_proposals": num(self.recall),
            "froc": {f"{k:g}": num(v) for k, v in self.froc.items()}, "froc_mean": num(self.mean_froc),
            "ap": num(self.ap),
            "recall_at_precision_0.9": num(self.recall_at_precision(0.9) if self.n_lesions else None),
            "class_accuracy": {k: {"correct": v.correct, "matched": v.matched, "accuracy": num(v.accuracy)}
                               for k, v in self.class_accuracy.items()},
        }


def _class_accuracy(matches: Sequence[ProposalMatch]) -> dict[str, ClassAccuracy]:
    counts: dict[str, list[int]] = {}
    for m in matches:
        if m.class_correct is None:
            continue
        c = counts.setdefault(m.true_class, [0, 0])  # type: ignore[arg-type]
        c[0] += int(m.class_correct)
        c[1] += 1
    out = {k: ClassAccuracy(*v) for k, v in sorted(counts.items())}
    if out:
        out["overall"] = ClassAccuracy(sum(v.correct for v in out.values()), sum(v.matched for v in out.values()))
    return out


def evaluate_detections(predictions: Mapping[str, Sequence[Proposal3D]],
                        ground_truth: Mapping[str, Sequence[GroundTruthLesion]],
                        criterion: str = "p3d", iou_threshold: float = 0.5,
                        fp_rates: Sequence[float] = FROC_FP_RATES) -> DetectionReport:
    """Evaluate proposals of many volumes against their ground truth (both keyed by volume id).

    The evaluated volumes are the keys of ``ground_truth`` (a volume with no lesions counts for false
    positives); a volume with no entry in ``predictions`` has no proposals. Predictions for a volume
    without ground truth are an error, not silently dropped.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r} (expected one of {', '.join(CRITERIA)})")
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if not ground_truth:
        raise ValueError("no ground-truth volumes to evaluate")
    orphans = sorted(set(predictions) - set(ground_truth))
    if orphans:
        raise ValueError(f"proposals for {len(orphans)} volume(s) without ground truth: "
                         f"{', '.join(orphans[:5])}{' ...' if len(orphans) > 5 else ''}")
    if not criterion_available(ground_truth, criterion):
        what = "key-slice marks" if criterion == "p3d" else "3D boxes"
        raise CriterionUnavailableError(f"the ground truth lacks {what}: criterion {criterion!r} is unavailable")
    matches: list[ProposalMatch] = []
    missed: list[tuple[str, int]] = []
    for volume, lesions in ground_truth.items():
        proposals = list(predictions.get(volume, ()))
        if any(not math.isfinite(p.score) for p in proposals):
            raise ValueError(f"volume {volume}: a proposal has a non-finite score")
        vm = match_volume(proposals, lesions, criterion, iou_threshold, volume)
        matched = {m.lesion_index for m in vm if m.matched}
        missed += [(volume, g) for g in range(len(lesions)) if g not in matched]
        matches += vm
    n_lesions = sum(len(v) for v in ground_truth.values())
    curve = operating_curve(matches, n_lesions, len(ground_truth))
    ranked = tuple(sorted(matches, key=lambda m: -m.score))
    return DetectionReport(criterion, iou_threshold, len(ground_truth), n_lesions, len(matches),
                           sum(m.matched for m in matches), froc_recalls(curve, fp_rates), average_precision(curve),
                           _class_accuracy(matches), ranked, curve, tuple(missed))


def format_report(report: DetectionReport) -> str:
    """A readable table of one report."""
    name = {"p3d": "pseudo-3D IoU", "iou3d": "3D IoU"}[report.criterion]
    lines = [f"criterion: {name} >= {report.iou_threshold:g}   volumes {report.n_volumes}   lesions "
             f"{report.n_lesions}   proposals {report.n_proposals}   true positives {report.n_true_positives}"]
    head = "  FP/volume " + "".join(f"{f:>7g}" for f in report.froc) + "    mean"
    vals = "  recall %  " + "".join(f"{100 * r:7.1f}" for r in report.froc.values()) + f"{100 * report.mean_froc:8.1f}"
    lines += [head, vals, f"  AP {100 * report.ap:.1f} %   recall at precision >= 90 %: "
                          f"{100 * report.recall_at_precision(0.9):.1f} %"]
    if report.class_accuracy:
        lines.append("  class accuracy of matched lesions:")
        for cls, acc in report.class_accuracy.items():
            a = "n/a" if acc.accuracy is None else f"{100 * acc.accuracy:.1f} %"
            lines.append(f"    {cls:<12} {a:>8}  ({acc.correct}/{acc.matched})")
    else:
        lines.append("  class accuracy: n/a (the ground truth has no lesion classes)")
    return "\n".join(lines)
