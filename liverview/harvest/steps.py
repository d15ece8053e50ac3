"""The model steps of a harvest round, as plain functions over studies: run the detector, train and
apply the proposal classifier, build the detector's fine-tuning cases (harvested positives + hard
negatives for HNSL). Models arrive as registry contributions or loaded objects that follow
liverview.plugin_api, so the round logic and its tests need no torch and no particular plugin."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D
from liverview.detection.training_data import TrainingCase, TrainingLesion
from liverview.harvest.lesion_score import ScoredProposal
from liverview.harvest.rounds import HarvestVolume, ProposalSets
from liverview.metrics.detection import match_volume
from liverview.metrics.ground_truth import GroundTruthLesion
from liverview.plugin_api.protocols import LabelledProposals, ProposalClassifier
from liverview.plugin_registry import Contribution


@dataclass
class HarvestStudy:
    """A study in a harvest: its phases, original marks, whether it is fully annotated (V_M), and for
    experiments only, its full labels (``truth``), never shown to the round."""

    volume: str
    phases: Mapping[PhaseKind, Volume]
    reference: PhaseKind
    marks: list[GroundTruthLesion]
    fully_annotated: bool = False
    truth: list[GroundTruthLesion] | None = None
    decisions: dict[int, bool] = field(default_factory=dict)

    @property
    def reference_volume(self) -> Volume:
        return self.phases[self.reference]


def simulated_decisions(proposals: Sequence[Proposal3D], truth: Sequence[GroundTruthLesion],
                        iou_threshold: float = 0.5) -> dict[int, bool]:
    """A reviewer who knows every lesion: accepts a proposal that is the best hit of a lesion (P3D),
    rejects the rest (misses and duplicates). For phantom experiments and tests."""
    return {m.index: m.matched for m in match_volume(proposals, truth, "p3d", iou_threshold)}


def harvest_volumes(studies: Sequence[HarvestStudy], proposals: Mapping[str, Sequence[Proposal3D]]
                    ) -> list[HarvestVolume]:
    return [HarvestVolume(s.volume, list(proposals[s.volume]), s.marks, s.fully_annotated, s.decisions)
            for s in studies]


# --- detector ------------------------------------------------------------------------------------


def run_detector(detector, studies: Sequence[HarvestStudy], log: Callable[[str], None] | None = None
                 ) -> dict[str, list[Proposal3D]]:
    """Proposals of every study from a loaded detector (``Detector.detect(volumes, reference)``)."""
    out = {}
    for s in studies:
        out[s.volume] = list(detector.detect(dict(s.phases), s.reference).proposals)
        if log:
            log(f"detected {len(out[s.volume])} proposals in {s.volume}")
    return out


def mark_box_ijk(mark: GroundTruthLesion, reference: Volume) -> tuple[int, int, int, int, int, int]:
    """An inclusive voxel box for a mark: its 2D box on the key slice; the slice range is the lesion's
    likely extent (the mark's larger side in mm, as a sphere) when no 3D box is known."""
    if mark.box_3d is not None:
        x0, y0, x1, y1, z0, z1 = mark.box_3d
    else:
        x0, y0, x1, y1 = mark.box  # type: ignore[misc]
        sx, sy, sz = reference.spacing
        half_slices = int(math.ceil(max((x1 - x0) * sx, (y1 - y0) * sy) / 2 / sz))
        z0, z1 = mark.key_slice - half_slices, mark.key_slice + half_slices  # type: ignore[operator]
    nk = reference.array.shape[0]
    return (int(math.floor(x0)), int(math.floor(y0)), max(0, int(z0)),
            max(int(math.floor(x0)), int(math.ceil(x1)) - 1), max(int(math.floor(y0)), int(math.ceil(y1)) - 1),
            min(nk - 1, int(z1)))


def detector_training_cases(studies: Sequence[HarvestStudy], harvested: Mapping[str, Sequence[ScoredProposal]],
                            hard_negatives: Mapping[str, Sequence[ScoredProposal]],
                            lesions_of_reviewed: Mapping[str, Sequence[GroundTruthLesion]] | None = None
                            ) -> list[TrainingCase]:
    """Training cases for the detector: every study's marks (for V_M: its full labels when given) plus
    its harvested positives as lesions, and its hard negatives for the hard negative suppression loss."""
    cases = []
    for s in studies:
        ref = s.reference_volume
        lesions = []
        marks = (lesions_of_reviewed or {}).get(s.volume, s.marks) if s.fully_annotated else s.marks
        for m in marks:
            if m.lesion_class is None or m.lesion_class == "unknown":
                continue  # the detector learns classes; a mark without one cannot teach it
            lesions.append(TrainingLesion(mark_box_ijk(m, ref), m.lesion_class, int(m.key_slice)))  # type: ignore[arg-type]
        for sp in harvested.get(s.volume, ()):
            p = sp.proposal
            if p.lesion_class == "unknown":
                continue
            (i0, j0, k0), (i1, j1, k1) = p.box_ijk()
            lesions.append(TrainingLesion((i0, j0, k0, i1, j1, k1), p.lesion_class, p.key_slice))
        hard = [sp.proposal for sp in hard_negatives.get(s.volume, ())]
        cases.append(TrainingCase(dict(s.phases), lesions, hard, s.reference, name=s.volume))
    return cases


# --- lesion proposal classifier --------------------------------------------------------------------


def classifier_examples(studies: Sequence[HarvestStudy], proposals: Mapping[str, Sequence[Proposal3D]],
                        sets: ProposalSets, only: set[str] | None = None) -> list[LabelledProposals]:
    """The classifier's training material, one entry per study (``only``: these studies): P_M^R and P_H^R
    are lesions, P_M^- are not."""
    labelled = [(k, True) for k in (*sets.reviewed_positive, *sets.mark_hits)] + \
               [(k, False) for k in sets.reviewed_negative]
    by_study = {s.volume: s for s in studies}
    out = []
    for volume in dict.fromkeys(v for (v, _), _ in labelled):
        if only is not None and volume not in only:
            continue
        items = [(i, y) for (v, i), y in labelled if v == volume]
        s = by_study[volume]
        out.append(LabelledProposals(s.phases, s.reference, [proposals[volume][i] for i, _ in items],
                                     [y for _, y in items], volume))
    return out


def _counts(examples: Sequence[LabelledProposals]) -> tuple[int, int]:
    labels = [bool(y) for e in examples for y in e.labels]
    return sum(labels), len(labels) - sum(labels)


def classify_all(classifier: ProposalClassifier, studies: Sequence[HarvestStudy],
                 proposals: Mapping[str, Sequence[Proposal3D]],
                 progress: Callable[[float], None] | None = None) -> dict[str, list[float]]:
    """s_c of every proposal, from a loaded classifier (``progress``: share of studies scored)."""
    scores = {}
    for n, s in enumerate(studies, start=1):
        scores[s.volume] = [float(v) for v in classifier.score(s.phases, s.reference, proposals[s.volume])]
        if progress is not None:
            progress(n / len(studies))
    return scores


def train_classifier(studies: Sequence[HarvestStudy], proposals: Mapping[str, Sequence[Proposal3D]],
                     sets: ProposalSets, out_dir: str | Path, classifier: Contribution,
                     options: Mapping[str, Any] | None = None, device: str = "auto",
                     log: Callable[[str], None] | None = None,
                     progress: Callable[[float], None] | None = None) -> tuple[ProposalClassifier, tuple[int, int]]:
    """Train the ``classifier`` contribution on this round's labelled proposals; returns the loaded
    classifier and the number of lesion / non-lesion samples."""
    examples = classifier_examples(studies, proposals, sets)
    trainer = classifier.create_trainer()
    weights = trainer.train(examples, Path(out_dir), dict(options or {}), device=device, log=log,
                            **_progress_hook(trainer.train, progress))
    return classifier.create(device=device, weights=weights), _counts(examples)


def crossfit_classifier_scores(studies: Sequence[HarvestStudy], proposals: Mapping[str, Sequence[Proposal3D]],
                               sets: ProposalSets, out_dir: str | Path, classifier: Contribution,
                               options: Mapping[str, Any] | None = None, folds: int = 2, device: str = "auto",
                               log: Callable[[str], None] | None = None,
                               progress: Callable[[float], None] | None = None
                               ) -> tuple[dict[str, list[float]], list[tuple[int, int]]]:
    """s_c for every proposal with the fully annotated studies split into ``folds`` groups: each fold's
    classifier is trained without that group's reviewed proposals and scores them, so the precision
    threshold is chosen on scores the classifier did not fit; every other study gets the mean of the
    fold classifiers (the same calibration). Returns the scores and (lesions, non-lesions) per fold."""
    reviewed = sorted(s.volume for s in studies if s.fully_annotated)  # folds by key, whatever the study order
    if len(reviewed) < folds:
        raise ValueError(f"{folds} folds need at least {folds} fully annotated studies, got {len(reviewed)}")
    groups = [set(reviewed[f::folds]) for f in range(folds)]
    trainer = classifier.create_trainer()
    scores: dict[str, list[float]] = {s.volume: [0.0] * len(proposals[s.volume]) for s in studies}
    counts = []
    for f, held in enumerate(groups):
        examples = classifier_examples(studies, proposals, sets, only={s.volume for s in studies} - held)
        part = None if progress is None else _share(progress, f / folds, (f + 1) / folds)  # one fold, one share
        weights = trainer.train(examples, Path(out_dir) / f"fold{f}", dict(options or {}), device=device, log=log,
                                **_progress_hook(trainer.train, part))
        counts.append(_counts(examples))
        lpc = classifier.create(device=device, weights=weights)
        for s in studies:
            if s.volume in held:
                scores[s.volume] = [float(v) for v in lpc.score(s.phases, s.reference, proposals[s.volume])]
            elif not s.fully_annotated:
                sc = lpc.score(s.phases, s.reference, proposals[s.volume])
                scores[s.volume] = [a + float(b) / folds for a, b in zip(scores[s.volume], sc)]
    return scores, counts


def _share(progress: Callable[[float], None], start: float, stop: float) -> Callable[[float], None]:
    return lambda f: progress(start + (stop - start) * f)


def _progress_hook(train: Callable[..., Any], progress: Callable[[float], None] | None) -> dict[str, Any]:
    """The progress keyword for a trainer that takes it (older classifier trainers do not)."""
    if progress is None:
        return {}
    from liverview.terminal_progress import progress_keyword

    return progress_keyword(train, progress)
