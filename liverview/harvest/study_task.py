"""What a Ray worker does with one study of a harvest round: read its phases, place its marks on the reference
grid, and then (as asked) cut the classifier's training material for its labelled proposals and/or score all
its proposals with given classifier weights. The result is small (marks, geometry, crops of a few proposals,
one number per proposal); nothing is written to the project here: only the driver writes it.

The same code as the single-process round (project_data.load_harvest_study, rounds.split_proposals,
steps.classify_all / crossfit_classifier_scores) so both give the same numbers.
"""

from __future__ import annotations

import functools
import hashlib
import os
import resource
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from liverview.core.volume import Volume
from liverview.harvest.project_data import StudyToHarvest, load_harvest_study
from liverview.harvest.rounds import split_proposals
from liverview.harvest.steps import harvest_volumes
from liverview.metrics.ground_truth import GroundTruthLesion
from liverview.plugin_api.protocols import LabelledProposals


@dataclass(frozen=True)
class ClassifierWeights:
    """A trained classifier's weights file as bytes, so tasks on other machines need no shared folder."""

    data: bytes
    digest: str

    @classmethod
    def read(cls, path: str | Path) -> "ClassifierWeights":
        data = Path(path).read_bytes()
        return cls(data, hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class Scoring:
    """Which classifiers score a study: ``folds`` indexes the weights given to the task; ``mean_of`` 0 takes
    the one classifier's s_c as is, n > 0 sums s_c / n over the folds (the cross-fit's mean, summed in the
    same order as steps.crossfit_classifier_scores)."""

    folds: tuple[int, ...]
    mean_of: int = 0


@dataclass(frozen=True)
class ReferenceGeometry:
    """The reference phase's grid without its voxels (for boxes in mm when the harvest is written back)."""

    shape_kji: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[tuple[float, ...], ...]

    def volume(self) -> Volume:
        """A Volume of this geometry whose voxels are one shared zero (no memory)."""
        return Volume(np.broadcast_to(np.zeros((), np.int16), self.shape_kji), self.spacing, self.origin,
                      np.array(self.direction, float))


@dataclass(frozen=True)
class StudyRoundResult:
    volume: str
    marks: tuple[GroundTruthLesion, ...]
    geometry: ReferenceGeometry
    labelled: tuple[tuple[int, bool], ...]  # (proposal index, lesion?) the material was cut for, in order
    material: Any  # the trainer's prepare() output for ``labelled``; None when not asked or nothing labelled
    s_c: tuple[float, ...] | None  # None when not asked to score
    seconds: float
    worker: str  # host:pid
    peak_rss_mb: float


def labelled_items(study: StudyToHarvest, marks: list[GroundTruthLesion]) -> list[tuple[int, bool]]:
    """The study's proposals that train the classifier, in the order steps.classifier_examples takes them:
    accepted (P_M^R), then mark hits (P_H^R) as lesions, then rejected (P_M^-)."""
    volume = harvest_volumes([_study_with_marks(study, marks)], {study.volume: study.proposals})
    sets = split_proposals(volume)
    return ([(i, True) for _, i in (*sets.reviewed_positive, *sets.mark_hits)] +
            [(i, False) for _, i in sets.reviewed_negative])


def _study_with_marks(study: StudyToHarvest, marks: list[GroundTruthLesion]):
    from liverview.harvest.steps import HarvestStudy

    return HarvestStudy(study.volume, {}, study.reference, marks, study.fully_annotated,
                        decisions=dict(study.decisions))


@functools.lru_cache(maxsize=4)
def _contribution(name: str):
    from liverview.plugin_registry import discover_plugins

    return discover_plugins(None).resolve("proposal-classifier", name)


@functools.lru_cache(maxsize=4)
def _scorer(name: str, digest: str, data: bytes, device: str) -> Any:
    """A loaded classifier, made once per worker process for each weights file (a cache, not state)."""
    path = Path(tempfile.gettempdir()) / f"liverview-harvest-{digest[:20]}.pt"
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return _contribution(name).create(device=device, weights=path)


def harvest_study(study: StudyToHarvest, classifier: str, material_options: Mapping[str, Any] | None,
                  weights: tuple[ClassifierWeights, ...], scoring: Scoring | None, device: str) -> StudyRoundResult:
    """One study's share of a round (the body of the Ray task). Raises whatever goes wrong (unreadable or
    moved files, out of memory): the driver records it as this study's failure and goes on."""
    start = time.perf_counter()
    loaded = load_harvest_study(study)
    ref = loaded.reference_volume
    geometry = ReferenceGeometry(tuple(ref.array.shape), tuple(ref.spacing), tuple(ref.origin),  # type: ignore[arg-type]
                                 tuple(tuple(float(v) for v in row) for row in ref.direction))
    proposals = study.proposals
    labelled: list[tuple[int, bool]] = []
    material = None
    if material_options is not None:
        labelled = labelled_items(study, loaded.marks)
        if labelled:
            example = LabelledProposals(loaded.phases, loaded.reference, [proposals[i] for i, _ in labelled],
                                        [y for _, y in labelled], study.volume)
            material = _contribution(classifier).create_trainer().prepare(example, dict(material_options))
    s_c = None
    if scoring is not None:
        if scoring.mean_of:
            total = [0.0] * len(proposals)
            for f in scoring.folds:
                w = weights[f]
                sc = _scorer(classifier, w.digest, w.data, device).score(loaded.phases, loaded.reference, proposals)
                total = [a + float(b) / scoring.mean_of for a, b in zip(total, sc)]
            s_c = tuple(total)
        else:
            w = weights[scoring.folds[0]]
            s_c = tuple(float(v) for v in
                        _scorer(classifier, w.digest, w.data, device).score(loaded.phases, loaded.reference, proposals))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    peak_mb = peak_kb / (1 << 20) if sys.platform == "darwin" else peak_kb / 1024
    return StudyRoundResult(study.volume, tuple(loaded.marks), geometry, tuple(labelled), material, s_c,
                            time.perf_counter() - start, f"{socket.gethostname()}:{os.getpid()}", peak_mb)
