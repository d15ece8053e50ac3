"""How good is a harvest? Precision-recall of (original marks + proposals ranked by a score) against the
full labels of held-out volumes, the Lesion Harvester's "recall at 90 % precision" (their 61.3 % vs
36.4 % for the original marks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from liverview.detection.proposals import Proposal3D
from liverview.metrics.detection import DetectionReport, evaluate_detections, recall_at_precision
from liverview.metrics.ground_truth import GroundTruthLesion

MARK_SCORE = 2.0  # above every lesion score (s <= 1): the original marks come first in every ranking


def mark_as_proposal(mark: GroundTruthLesion) -> Proposal3D:
    """An original mark as a one-slice proposal, so it ranks first and hits its own lesion under P3D."""
    if mark.box is None or mark.key_slice is None:
        raise ValueError(f"mark {mark.lesion_id!r} of {mark.volume!r} has no key-slice box")
    return Proposal3D(mark.box, (mark.key_slice, mark.key_slice), MARK_SCORE, mark.key_slice)


def rescored(p: Proposal3D, score: float) -> Proposal3D:
    return Proposal3D(p.box, p.z_range, score, p.key_slice, p.class_probs)


@dataclass(frozen=True)
class HarvestQuality:
    """Against the full labels: marks alone, marks + every candidate ranked by ``score``, and the set
    actually harvested (marks + proposals at or above the threshold)."""

    marks_recall: float
    curve: DetectionReport  # marks first, then candidates by score
    harvested_recall: float
    harvested_precision: float
    n_lesions: int
    n_marks: int
    n_harvested: int

    def recall_at_precision(self, min_precision: float = 0.9) -> float:
        return recall_at_precision(self.curve.curve, min_precision)[0]


def harvest_quality(marks: Mapping[str, Sequence[GroundTruthLesion]],
                    candidates: Mapping[str, Sequence[tuple[Proposal3D, float]]],
                    truth: Mapping[str, Sequence[GroundTruthLesion]], threshold: float | None,
                    iou_threshold: float = 0.5) -> HarvestQuality:
    """``candidates[volume]``: (proposal, score) pairs away from the marks (harvest candidates) with the
    score they are ranked by; ``truth`` holds every lesion of the evaluated volumes."""
    volumes = list(truth)
    ranked = {v: [mark_as_proposal(m) for m in marks.get(v, ())] +
              [rescored(p, s) for p, s in candidates.get(v, ())] for v in volumes}
    curve = evaluate_detections(ranked, truth, "p3d", iou_threshold)
    kept = {v: [mark_as_proposal(m) for m in marks.get(v, ())] +
            [rescored(p, s) for p, s in candidates.get(v, ()) if threshold is not None and s >= threshold]
            for v in volumes}
    final = evaluate_detections(kept, truth, "p3d", iou_threshold)
    n_marks = sum(len(marks.get(v, ())) for v in volumes)
    only_marks = evaluate_detections({v: [mark_as_proposal(m) for m in marks.get(v, ())] for v in volumes}, truth,
                                     "p3d", iou_threshold)
    return HarvestQuality(only_marks.recall, curve, final.recall,
                          final.n_true_positives / final.n_proposals if final.n_proposals else float("nan"),
                          curve.n_lesions, n_marks, final.n_proposals - n_marks)


def round_quality(result, marks: Mapping[str, Sequence[GroundTruthLesion]],
                  truth: Mapping[str, Sequence[GroundTruthLesion]], by: str = "s",
                  iou_threshold: float = 0.5) -> HarvestQuality:
    """A round's harvest (``rounds.HarvestResult``) against the full labels of the volumes in ``truth``:
    the candidates (proposals away from every mark) ranked by ``by`` ("s" = s_g * s_c, the round's
    ranking and threshold; "s_g" = the detector score alone, no threshold)."""
    if by not in ("s", "s_g"):
        raise ValueError(f"rank by 's' or 's_g', got {by!r}")
    candidates: dict[str, list[tuple[Proposal3D, float]]] = {v: [] for v in truth}
    for v, i in result.sets.unknown:
        if v in candidates:
            sp = result.scored[v][i]
            candidates[v].append((sp.proposal, sp.score if by == "s" else sp.s_g))
    threshold = result.threshold.threshold if by == "s" else None
    return harvest_quality(marks, candidates, truth, threshold, iou_threshold)
