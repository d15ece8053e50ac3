"""One harvest round on proposals that are already scored (Cai et al. 2020, Lesion Harvester).

Inputs per volume: the detector's proposals (score = s_g), the original RECIST marks, whether the volume
is fully annotated (V_M), and for V_M the reviewer's decisions. Sets built here:
- P_M^R / P_M^-: proposals of V_M the reviewer accepted / rejected;
- P_H^R: proposals of the other volumes that hit an original mark (pseudo-3D IoU, the same matching as
  ``liverview eval-detect``); proposals that overlap a mark but lost it to a better one are duplicates and
  are used for nothing;
- the lesion proposal classifier (LPC) is trained on P_M^R + P_H^R (lesions) and P_M^- (not lesions);
- with s = s_g * s_c, the threshold is the lowest that keeps precision >= 95 % on V_M's reviewed proposals;
- P_H^+ (harvested): proposals of the other volumes away from every mark with s >= threshold;
- hard negatives: P_M^- and the other volumes' proposals below the threshold and away from every mark,
  with s_g >= 0.5, top 5 by s_g per volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from liverview.detection.proposals import Proposal3D
from liverview.harvest.hard_negatives import MIN_DETECTOR_SCORE, PER_VOLUME, select_hard_negatives
from liverview.harvest.lesion_score import PrecisionThreshold, ScoredProposal, threshold_for_precision
from liverview.metrics.detection import match_volume, p3d_overlap
from liverview.metrics.ground_truth import GroundTruthLesion

MIN_PRECISION = 0.95


@dataclass
class HarvestVolume:
    """What a round knows of one volume. ``decisions`` maps a proposal's index to True (accepted) or
    False (rejected); only fully annotated volumes' decisions are used, unreviewed proposals are skipped."""

    volume: str
    proposals: Sequence[Proposal3D]
    marks: Sequence[GroundTruthLesion]
    fully_annotated: bool = False
    decisions: Mapping[int, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class ProposalSets:
    """Proposals split by what is known of them, before the classifier has scored anything."""

    reviewed_positive: tuple[tuple[str, int], ...]  # P_M^R
    reviewed_negative: tuple[tuple[str, int], ...]  # P_M^-
    mark_hits: tuple[tuple[str, int], ...]  # P_H^R
    mark_duplicates: tuple[tuple[str, int], ...]  # overlap a mark already hit by a better proposal
    unknown: tuple[tuple[str, int], ...]  # other volumes, away from every mark: harvest candidates


def split_proposals(volumes: Sequence[HarvestVolume], iou_threshold: float = 0.5) -> ProposalSets:
    pos, neg, hits, dups, unknown = [], [], [], [], []
    for v in volumes:
        if v.fully_annotated:
            for i in range(len(v.proposals)):
                if i in v.decisions:
                    (pos if v.decisions[i] else neg).append((v.volume, i))
            continue
        matches = match_volume(v.proposals, v.marks, "p3d", iou_threshold, v.volume)
        for m in matches:
            p = v.proposals[m.index]
            if m.matched:
                hits.append((v.volume, m.index))
            elif any(p3d_overlap(p, mk) >= iou_threshold for mk in v.marks):
                dups.append((v.volume, m.index))
            else:
                unknown.append((v.volume, m.index))
    return ProposalSets(tuple(pos), tuple(neg), tuple(hits), tuple(dups), tuple(unknown))


@dataclass(frozen=True)
class HarvestResult:
    """The outcome of a round: every scored proposal, the threshold, harvested positives (P_H^+) and hard
    negatives per volume, and the sets the classifier was trained on."""

    sets: ProposalSets
    scored: dict[str, list[ScoredProposal]]
    threshold: PrecisionThreshold
    harvested: dict[str, list[ScoredProposal]]
    hard_negatives: dict[str, list[ScoredProposal]]

    @property
    def n_harvested(self) -> int:
        return sum(len(v) for v in self.harvested.values())

    @property
    def n_hard_negatives(self) -> int:
        return sum(len(v) for v in self.hard_negatives.values())


ClassifierScores = Callable[[str, Sequence[Proposal3D]], Sequence[float]]


def harvest(volumes: Sequence[HarvestVolume], s_c: Mapping[str, Sequence[float]], sets: ProposalSets | None = None,
            min_precision: float = MIN_PRECISION, hard_min_detector_score: float = MIN_DETECTOR_SCORE,
            hard_per_volume: int = PER_VOLUME, iou_threshold: float = 0.5) -> HarvestResult:
    """Score every proposal (s = s_g * s_c), choose the threshold on V_M, harvest and pick hard negatives.
    ``s_c[volume]`` holds the classifier's probability for each proposal of that volume, in order."""
    names = [v.volume for v in volumes]
    if len(set(names)) != len(names):
        raise ValueError("two harvest volumes share an id")
    if not any(v.fully_annotated for v in volumes):
        raise ValueError("no fully annotated volume: the precision threshold needs reviewed volumes (V_M)")
    sets = sets or split_proposals(volumes, iou_threshold)
    scored: dict[str, list[ScoredProposal]] = {}
    for v in volumes:
        probs = list(s_c.get(v.volume, ()))
        if len(probs) != len(v.proposals):
            raise ValueError(f"volume {v.volume}: {len(v.proposals)} proposals but {len(probs)} classifier scores")
        scored[v.volume] = [ScoredProposal(v.volume, i, p, float(c)) for i, (p, c) in enumerate(zip(v.proposals, probs))]
    reviewed = [(k, True) for k in sets.reviewed_positive] + [(k, False) for k in sets.reviewed_negative]
    threshold = threshold_for_precision([scored[v][i].score for (v, i), _ in reviewed],
                                        [y for _, y in reviewed], min_precision)
    harvested: dict[str, list[ScoredProposal]] = {}
    below: list[ScoredProposal] = [scored[v][i] for v, i in sets.reviewed_negative]
    for v, i in sets.unknown:
        sp = scored[v][i]
        if threshold.keeps(sp.score):
            harvested.setdefault(v, []).append(sp)
        else:
            below.append(sp)
    hard = select_hard_negatives(below, hard_min_detector_score, hard_per_volume)
    return HarvestResult(sets, scored, threshold, harvested, hard)
