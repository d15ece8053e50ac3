"""The driver of a harvest round over many studies on Ray (the way `liverview scan` runs): every study's own
work (reading its phases, placing its marks, cutting the classifier's crops, scoring its proposals) is a Ray
task; this process reads the project, trains the classifier on the crops the tasks return, and alone writes
anything. A study whose task fails (unreadable or moved files, out of memory, a dead worker) is recorded with
its message and left out; the round goes on with the others.

Two passes when the classifier is trained here: (1) read + marks + training crops, then training in this
process, (2) read again + score with the trained weights (every study's volumes are never held at once).
One pass with ``--lpc WEIGHTS``: read + marks + score. The numbers equal the single-process round's on the
same studies: the same functions run, in the same order where order matters.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from liverview.harvest.project_data import HarvestInputError, ProjectHarvest, StudyToHarvest
from liverview.harvest.rounds import HarvestVolume, split_proposals
from liverview.harvest.steps import HarvestStudy
from liverview.harvest.round_progress import RoundProgress
from liverview.harvest.study_task import ClassifierWeights, Scoring, StudyRoundResult, harvest_study
from liverview.plugin_api.prepared_training import PreparingProposalClassifierTrainer
from liverview.scan.cluster import TaskResources

READ_PASS = "reading studies"
SCORE_PASS = "scoring proposals"


class HarvestSetupError(ValueError):
    """The round cannot run on Ray as asked (e.g. a classifier that can only train on whole volumes)."""


@dataclass(frozen=True)
class StudyFailure:
    volume: str
    message: str
    stage: str  # READ_PASS or SCORE_PASS


@dataclass
class RayRoundOutcome:
    """The studies that went through (their images are not held: each reference phase is geometry only),
    every proposal's s_c, how the classifier was trained, and the studies that failed."""

    data: ProjectHarvest
    s_c: dict[str, list[float]]
    folds: int
    trained_on: Any  # (lesions, non-lesions), a list of them per fold, or None with given weights
    failures: list[StudyFailure] = field(default_factory=list)
    plans: dict[str, StudyToHarvest] = field(default_factory=dict)  # of the studies used
    pass_seconds: list[float] = field(default_factory=list)
    tasks: str = ""  # what each task asked of Ray
    peak_rss_mb_by_worker: dict[str, float] = field(default_factory=dict)


def _run_pass(label: str, plans: Sequence[StudyToHarvest], submit: Callable[[StudyToHarvest], Any],
              resources: TaskResources, quiet: bool, tell: Callable[[str], None]
              ) -> tuple[dict[str, StudyRoundResult], list[StudyFailure]]:
    """Submit one task per study (at most two per slot in flight, as the scan does), collect each as it
    finishes; a failed study becomes a StudyFailure, never an exception."""
    import ray

    from liverview.scan.batch import failure_message

    progress = RoundProgress(label, len(plans), quiet=quiet)
    queue = deque(plans)
    in_flight: dict[Any, StudyToHarvest] = {}
    results: dict[str, StudyRoundResult] = {}
    failures: list[StudyFailure] = []
    try:
        while queue or in_flight:
            while queue and len(in_flight) < 2 * resources.slots:
                plan = queue.popleft()
                in_flight[submit(plan)] = plan
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            progress.draw()
            for ref in ready:
                plan = in_flight.pop(ref)
                try:
                    results[plan.volume] = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - one study's failure is recorded, never fatal
                    failures.append(StudyFailure(plan.volume, failure_message(exc), label))
                    tell(f"{plan.volume}: failed while {label}: {failures[-1].message}")
                    progress.finished(False)
                    continue
                progress.finished(True)
    except KeyboardInterrupt:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        raise
    finally:
        progress.close()
    return results, failures


def _global_labelled(sets) -> list[tuple[tuple[str, int], bool]]:
    """Labelled proposals in steps.classifier_examples' order (lesions first, then non-lesions)."""
    return [(k, True) for k in (*sets.reviewed_positive, *sets.mark_hits)] + \
           [(k, False) for k in sets.reviewed_negative]


def _train_on_material(plans: Sequence[StudyToHarvest], results: Mapping[str, StudyRoundResult], trainer: Any,
                       options: Mapping[str, Any], folds: int, out_dir: Path, device: str,
                       log: Callable[[str], None] | None) -> tuple[list[Path], dict[str, Scoring], Any]:
    """Train as steps.train_classifier (one classifier) or steps.crossfit_classifier_scores (``folds`` > 1)
    would, on the prepared material; returns the weights, how each study is to be scored, and the counts."""
    volumes = [HarvestVolume(p.volume, p.proposals, list(results[p.volume].marks), p.fully_annotated,
                             dict(p.decisions)) for p in plans]
    labelled = _global_labelled(split_proposals(volumes))
    order = list(dict.fromkeys(v for (v, _), _ in labelled))
    for v in order:  # the tasks cut crops for their own study's labelled proposals: the same ones, same order
        expected = tuple((i, y) for (w, i), y in labelled if w == v)
        if results[v].labelled != expected:
            raise RuntimeError(f"study {v}: its task labelled {results[v].labelled}, the round {expected}")

    def counts(used: Sequence[str]) -> tuple[int, int]:
        ys = [y for v in used for _, y in results[v].labelled]
        return sum(ys), len(ys) - sum(ys)

    if folds > 1:
        reviewed = sorted(p.volume for p in plans if p.fully_annotated)  # folds by key: the same in every path
        groups = [set(reviewed[f::folds]) for f in range(folds)]
        weights, trained_on, scoring = [], [], {}
        for f, held in enumerate(groups):
            used = [v for v in order if v not in held]
            weights.append(trainer.train_prepared([results[v].material for v in used], out_dir / f"fold{f}",
                                                  dict(options), device=device, log=log))
            trained_on.append(counts(used))
            scoring.update({v: Scoring((f,)) for v in held})
        scoring.update({p.volume: Scoring(tuple(range(folds)), folds) for p in plans if not p.fully_annotated})
        return weights, scoring, trained_on
    weights = [trainer.train_prepared([results[v].material for v in order], out_dir, dict(options), device=device,
                                      log=log)]
    return weights, {p.volume: Scoring((0,)) for p in plans}, counts(order)


def run_round_on_ray(plans: Sequence[StudyToHarvest], model: str, classifier: Any, options: Mapping[str, Any],
                     lpc: Path | None, lpc_folds: int, out_dir: Path, resources: TaskResources, train_device: str,
                     quiet: bool = False, tell: Callable[[str], None] = print,
                     log: Callable[[str], None] | None = None) -> RayRoundOutcome:
    """Run the per-study work of a round on the Ray session of this process (``classifier``: the registry's
    proposal-classifier contribution; ``lpc``: its weights, else train one into ``out_dir``)."""
    import ray

    if lpc is None and not isinstance(classifier.create_trainer(), PreparingProposalClassifierTrainer):
        raise HarvestSetupError(f"{classifier.where}'s trainer cannot train from per-study material (no prepare/"
                                f"train_prepared): give trained weights with --lpc, or run with --in-process")
    trainer = classifier.create_trainer() if lpc is None else None
    remote = ray.remote(harvest_study).options(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus,
                                               max_retries=0, retry_exceptions=False)
    no_weights = ray.put(())
    given = ray.put((ClassifierWeights.read(lpc),)) if lpc is not None else no_weights
    options_or_none = None if lpc is not None else dict(options)
    started = time.monotonic()
    first, failures = _run_pass(
        READ_PASS, plans,
        lambda p: remote.remote(p, classifier.name, options_or_none, given,
                                Scoring((0,)) if lpc is not None else None, resources.device),
        resources, quiet, tell)
    seconds = [time.monotonic() - started]
    kept = [p for p in plans if p.volume in first]
    if not any(p.fully_annotated for p in kept):
        raise HarvestInputError("no fully annotated study could be read: " +
                                "; ".join(f"{f.volume}: {f.message}" for f in failures))
    if lpc is not None:
        final, folds, trained_on = first, 0, None
    else:
        folds = min(lpc_folds, sum(p.fully_annotated for p in kept))
        weights, scoring, trained_on = _train_on_material(kept, first, trainer, options, folds, out_dir,
                                                          train_device, log)
        shipped = ray.put(tuple(ClassifierWeights.read(w) for w in weights))
        started = time.monotonic()
        final, lost = _run_pass(
            SCORE_PASS, kept,
            lambda p: remote.remote(p, classifier.name, None, shipped, scoring[p.volume], resources.device),
            resources, quiet, tell)
        seconds.append(time.monotonic() - started)
        failures += lost
        kept = [p for p in kept if p.volume in final]
        if not any(p.fully_annotated for p in kept):
            raise HarvestInputError("no fully annotated study could be scored: " +
                                    "; ".join(f"{f.volume}: {f.message}" for f in failures))
    studies = [HarvestStudy(p.volume, {p.reference: first[p.volume].geometry.volume()}, p.reference,
                            list(first[p.volume].marks), p.fully_annotated, decisions=dict(p.decisions))
               for p in kept]
    data = ProjectHarvest(studies, {p.volume: p.proposals for p in kept}, {p.volume: list(p.records) for p in kept},
                          model, {p.volume: p.study_id for p in kept}, {p.volume: p.reference_path for p in kept})
    s_c = {p.volume: list(final[p.volume].s_c or ()) for p in kept}
    peaks: dict[str, float] = {}
    for r in (*first.values(), *final.values()):
        peaks[r.worker] = max(peaks.get(r.worker, 0.0), r.peak_rss_mb)
    return RayRoundOutcome(data, s_c, folds, trained_on, failures, plans={p.volume: p for p in kept},
                           pass_seconds=seconds, tasks=resources.describe(), peak_rss_mb_by_worker=peaks)
