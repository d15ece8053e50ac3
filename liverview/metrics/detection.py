"""Lesion detection metrics: FROC (recall at fixed false positives per volume), AP and class accuracy.

Three protocols (``evaluate_detections(..., protocol=...)``):
- ``"strict"`` (the default, described below): our own rules, unchanged since the first release so that
  figures stay comparable run to run; one proposal finds at most one lesion and a repeated hit is a false
  positive.
- ``"deeplesion"`` and ``"manual1k"``: the published DeepLesion / Lesion Harvester and DeepLesion manual-1K
  evaluation codes' own rules (inclusive pixel widths, repeated hits ignored, one proposal may find several
  lesions, their FROC read-off); see ``liverview.metrics.deeplesion_conventions``. Use them to set a figure
  beside a paper's.

Strict protocol. Two match criteria between a 3D proposal and a ground-truth lesion:
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
from liverview.metrics.deeplesion_conventions import PUBLISHED_PROTOCOLS, sensitivity_at_fp, sweep
from liverview.metrics.ground_truth import Box3D, GroundTruthLesion
from liverview.metrics.intervals import wilson_interval

FROC_FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
Criterion = Literal["p3d", "iou3d", "iobb3d"]
CRITERIA: tuple[str, ...] = ("p3d", "iou3d")  # the strict protocol's criteria
Protocol = Literal["strict", "deeplesion", "manual1k"]
PROTOCOLS: tuple[str, ...] = ("strict", *PUBLISHED_PROTOCOLS)
DEFAULT_PROTOCOL = "strict"
PROTOCOL_CRITERIA: dict[str, tuple[str, ...]] = {"strict": CRITERIA, "deeplesion": ("p3d", "iou3d"),
                                                 "manual1k": ("iobb3d",)}
PROTOCOL_THRESHOLDS: dict[str, float] = {"strict": 0.5, "deeplesion": 0.5, "manual1k": 0.3}
CRITERION_NAMES: dict[str, str] = {"p3d": "pseudo-3D IoU", "iou3d": "3D IoU",
                                   "iobb3d": "3D intersection over the detected box"}


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
    def grow(b: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        return (b[0] - pixels, b[1] - pixels, b[2] + pixels, b[3] + pixels)

    return Proposal3D(grow(p.box), p.z_range, p.score, p.key_slice, p.class_probs,
                      {z: grow(b) for z, b in p.slice_boxes.items()})


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
    """True when every lesion has what the criterion needs (a mark for p3d, a 3D box for iou3d / iobb3d)."""
    need = (lambda g: g.box is not None) if criterion == "p3d" else (lambda g: g.box_3d is not None)
    return all(need(g) for lesions in ground_truth.values() for g in lesions)


@dataclass(frozen=True)
class ProposalMatch:
    """The outcome of one proposal: its volume and position in the input list, whether it is a true
    positive, which lesion (position in the volume's ground-truth list) it matched, and the overlap.

    Under the published protocols a proposal may find several lesions (``lesion_index`` is the best
    overlap, ``also_found`` the others) and may hit lesions found before (``repeated``); one that only
    repeats is neither a true nor a false positive."""

    volume: str
    index: int
    score: float
    matched: bool
    lesion_index: int | None = None
    overlap: float = 0.0
    predicted_class: str = "unknown"
    true_class: str | None = None
    also_found: tuple[int, ...] = ()
    repeated: tuple[int, ...] = ()

    @property
    def class_correct(self) -> bool | None:
        if not self.matched or self.true_class is None:
            return None
        return self.predicted_class == self.true_class

    @property
    def found_lesions(self) -> tuple[int, ...]:
        return (self.lesion_index, *self.also_found) if self.matched else ()  # type: ignore[return-value]

    @property
    def false_positive(self) -> bool:
        return not self.matched and not self.repeated


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
    """Cumulative counts at each distinct score threshold, best score first (score >= threshold kept);
    under the published protocols at each proposal instead. ``precision_misses``, when set, are the
    misses precision and AP count in place of ``false_positives`` (the Lesion Harvester's AP also counts
    repeated hits on found lesions)."""

    thresholds: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray
    n_lesions: int
    n_volumes: int
    precision_misses: np.ndarray | None = None

    @property
    def recall(self) -> np.ndarray:
        return self.true_positives / self.n_lesions if self.n_lesions else np.full(len(self.thresholds), np.nan)

    @property
    def precision(self) -> np.ndarray:
        misses = self.false_positives if self.precision_misses is None else self.precision_misses
        total = self.true_positives + misses
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


def per_proposal_curve(matches: Sequence[ProposalMatch], n_lesions: int, n_volumes: int) -> OperatingCurve:
    """The published protocols' curve: one point per proposal in the given (ranked) order; true positives
    are lesions found, false positives proposals that hit nothing, precision misses add repeated hits."""
    scores = np.array([m.score for m in matches], float)
    tp = np.cumsum([len(m.found_lesions) for m in matches]).astype(int)
    fp = np.cumsum([m.false_positive for m in matches]).astype(int)
    misses = np.cumsum([int(m.false_positive) + len(m.repeated) for m in matches]).astype(int)
    return OperatingCurve(scores, tp, fp, n_lesions, n_volumes, misses)


def read_froc(curve: OperatingCurve, fp_rates: Sequence[float] = FROC_FP_RATES,
              protocol: str = DEFAULT_PROTOCOL) -> dict[float, float]:
    """Recall at each false-positive rate per volume, read off as the protocol reads it."""
    if protocol == "strict":
        return froc_recalls(curve, fp_rates)
    if curve.n_lesions == 0:
        return {float(f): math.nan for f in fp_rates}
    return sensitivity_at_fp(curve.fp_per_volume, curve.recall, fp_rates, protocol)


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
    iou_threshold: float  # the overlap threshold, whatever the overlap (IoU, or IoBB under manual1k)
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
    protocol: str = DEFAULT_PROTOCOL

    @property
    def mean_froc(self) -> float:
        return float(np.mean(list(self.froc.values()))) if self.froc else math.nan

    @property
    def recall(self) -> float:
        return self.n_true_positives / self.n_lesions if self.n_lesions else math.nan

    def recall_at_precision(self, min_precision: float) -> float:
        return recall_at_precision(self.curve, min_precision)[0]

    def froc_interval(self, fp: float) -> tuple[float, float]:
        """95 % Wilson interval of the recall at ``fp`` false positives per volume (lesions counted as
        independent, which those of one patient are not: read it as a lower bound on the noise)."""
        found = int(round(self.froc[fp] * self.n_lesions)) if not math.isnan(self.froc[fp]) else 0
        return wilson_interval(found, self.n_lesions)

    def to_json(self) -> dict[str, Any]:
        def num(v: float | None) -> float | None:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6)

        return {
            "protocol": self.protocol, "criterion": self.criterion, "iou_threshold": self.iou_threshold,
            "volumes": self.n_volumes, "lesions": self.n_lesions, "proposals": self.n_proposals,
            "true_positives": self.n_true_positives, "recall_all_proposals": num(self.recall),
            "froc": {f"{k:g}": num(v) for k, v in self.froc.items()}, "froc_mean": num(self.mean_froc),
            "froc_95ci_wilson": {f"{k:g}": [num(b) for b in self.froc_interval(k)] for k in self.froc},
            "ap": num(self.ap),
            "recall_at_precision_0.9": num(self.recall_at_precision(0.9) if self.n_lesions else None),
            "class_accuracy": {k: {"correct": v.correct, "matched": v.matched, "accuracy": num(v.accuracy)}
                               for k, v in self.class_accuracy.items()},
        }


def _class_accuracy(pairs: Sequence[tuple[str, str | None]]) -> dict[str, ClassAccuracy]:
    """Per true class (and "overall"): (predicted, true) class of each found lesion; true None is skipped."""
    counts: dict[str, list[int]] = {}
    for predicted, true in pairs:
        if true is None:
            continue
        c = counts.setdefault(true, [0, 0])
        c[0] += int(predicted == true)
        c[1] += 1
    out = {k: ClassAccuracy(*v) for k, v in sorted(counts.items())}
    if out:
        out["overall"] = ClassAccuracy(sum(v.correct for v in out.values()), sum(v.matched for v in out.values()))
    return out


def evaluate_detections(predictions: Mapping[str, Sequence[Proposal3D]],
                        ground_truth: Mapping[str, Sequence[GroundTruthLesion]],
                        criterion: str | None = None, iou_threshold: float | None = None,
                        fp_rates: Sequence[float] = FROC_FP_RATES, protocol: str = DEFAULT_PROTOCOL
                        ) -> DetectionReport:
    """Evaluate proposals of many volumes against their ground truth (both keyed by volume id).

    The evaluated volumes are the keys of ``ground_truth`` (a volume with no lesions counts for false
    positives); a volume with no entry in ``predictions`` has no proposals. Predictions for a volume
    without ground truth are an error, not silently dropped.

    ``protocol``: "strict" (default; criteria p3d, iou3d), "deeplesion" (p3d, iou3d) or "manual1k" (iobb3d).
    ``criterion`` defaults to the protocol's first, ``iou_threshold`` to 0.5 (0.3 for manual1k).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})")
    allowed = PROTOCOL_CRITERIA[protocol]
    criterion = allowed[0] if criterion is None else criterion
    if criterion not in allowed:
        raise ValueError(f"unknown criterion {criterion!r} for protocol {protocol!r} "
                         f"(expected one of {', '.join(allowed)})")
    iou_threshold = PROTOCOL_THRESHOLDS[protocol] if iou_threshold is None else iou_threshold
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
        raise CriterionUnavailableError(f"the ground truth lacks {what}: criterion {criterion!r} is unavailable"
                                        + (" (protocol manual1k needs the 3D boxes of the DeepLesion manual-1K "
                                           "or Lesion Harvester 3D box tables; use protocol deeplesion for "
                                           "key-slice marks)" if protocol == "manual1k" else ""))
    for volume in ground_truth:
        if any(not math.isfinite(p.score) for p in predictions.get(volume, ())):
            raise ValueError(f"volume {volume}: a proposal has a non-finite score")
    if protocol != "strict":
        return _evaluate_published(predictions, ground_truth, criterion, iou_threshold, fp_rates, protocol)
    matches: list[ProposalMatch] = []
    missed: list[tuple[str, int]] = []
    for volume, lesions in ground_truth.items():
        proposals = list(predictions.get(volume, ()))
        vm = match_volume(proposals, lesions, criterion, iou_threshold, volume)
        matched = {m.lesion_index for m in vm if m.matched}
        missed += [(volume, g) for g in range(len(lesions)) if g not in matched]
        matches += vm
    n_lesions = sum(len(v) for v in ground_truth.values())
    curve = operating_curve(matches, n_lesions, len(ground_truth))
    ranked = tuple(sorted(matches, key=lambda m: -m.score))
    return DetectionReport(criterion, iou_threshold, len(ground_truth), n_lesions, len(matches),
                           sum(m.matched for m in matches), froc_recalls(curve, fp_rates), average_precision(curve),
                           _class_accuracy([(m.predicted_class, m.true_class) for m in matches if m.matched]),
                           ranked, curve, tuple(missed))


def _evaluate_published(predictions: Mapping[str, Sequence[Proposal3D]],
                        ground_truth: Mapping[str, Sequence[GroundTruthLesion]], criterion: str,
                        threshold: float, fp_rates: Sequence[float], protocol: str) -> DetectionReport:
    """The published protocols (see ``liverview.metrics.deeplesion_conventions``): one ranked sweep over all
    volumes, every proposal an operating point, AP and precision counting repeated hits as misses."""
    pooled = [(volume, i, p) for volume in ground_truth for i, p in enumerate(predictions.get(volume, ()))]
    ranked = sorted(pooled, key=lambda t: -t[2].score)  # stable: ties keep volume and input order
    matches: list[ProposalMatch] = []
    for step, (_, _, p) in zip(sweep(ranked, ground_truth, criterion, threshold), ranked):
        lesions = ground_truth[step.volume]
        if step.found:
            (best, ov), others = step.found[0], tuple(g for g, _ in step.found[1:])
            matches.append(ProposalMatch(step.volume, step.index, p.score, True, best, ov, p.lesion_class,
                                         lesions[best].lesion_class, others, step.repeated))
        else:
            matches.append(ProposalMatch(step.volume, step.index, p.score, False, predicted_class=p.lesion_class,
                                         repeated=step.repeated))
    found = {(m.volume, g) for m in matches for g in m.found_lesions}
    missed = tuple((v, g) for v, lesions in ground_truth.items() for g in range(len(lesions)) if (v, g) not in found)
    n_lesions = sum(len(v) for v in ground_truth.values())
    curve = per_proposal_curve(matches, n_lesions, len(ground_truth))
    pairs = [(m.predicted_class, ground_truth[m.volume][g].lesion_class) for m in matches for g in m.found_lesions]
    return DetectionReport(criterion, threshold, len(ground_truth), n_lesions, len(matches), len(found),
                           read_froc(curve, fp_rates, protocol), average_precision(curve), _class_accuracy(pairs),
                           tuple(matches), curve, missed, protocol)


def _span(interval: tuple[float, float]) -> str:
    lo, hi = interval
    return "-" if math.isnan(lo) else f"{100 * lo:.0f}-{100 * hi:.0f}"


def format_report(report: DetectionReport) -> str:
    """A readable table of one report."""
    name = CRITERION_NAMES[report.criterion]
    found = "true positives" if report.protocol == "strict" else "lesions found"
    lines = [f"protocol {report.protocol}   criterion: {name} >= {report.iou_threshold:g}   volumes "
             f"{report.n_volumes}   lesions {report.n_lesions}   proposals {report.n_proposals}   {found} "
             f"{report.n_true_positives}"]
    head = "  FP/volume " + "".join(f"{f:>7g}" for f in report.froc) + "    mean"
    vals = "  recall %  " + "".join(f"{100 * r:7.1f}" for r in report.froc.values()) + f"{100 * report.mean_froc:8.1f}"
    ci = "  95 % CI   " + "".join(f"{_span(report.froc_interval(f)):>7}" for f in report.froc)
    lines += [head, vals, ci + "    (Wilson; lesions counted as independent)",
              f"  AP {100 * report.ap:.1f} %   recall at precision >= 90 %: "
                          f"{100 * report.recall_at_precision(0.9):.1f} %"]
    if report.class_accuracy:
        lines.append("  class accuracy of matched lesions:")
        for cls, acc in report.class_accuracy.items():
            a = "n/a" if acc.accuracy is None else f"{100 * acc.accuracy:.1f} %"
            lines.append(f"    {cls:<12} {a:>8}  ({acc.correct}/{acc.matched})")
    else:
        lines.append("  class accuracy: n/a (the ground truth has no lesion classes)")
    return "\n".join(lines)
