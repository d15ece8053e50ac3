"""`liverview harvest-round --project P --fully-annotated LIST --out DIR`: one Lesion Harvester round on
a project: lesion score s = s_g * s_c, threshold for precision >= 95 % on the fully annotated studies,
harvested positives, hard negatives, optional detector fine-tuning with HNSL, and a report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from liverview.cli import CliError
from liverview.commands.arg_types import non_negative_int
from liverview.commands.export_annotations import add_take_over_flag
from liverview.commands.model_choice import add_model_option, create, create_trainer, resolve
from liverview.commands.ray_options import add_ray_options
from liverview.commands.train_lpc import add_lpc_options, lpc_options
from liverview.terminal_progress import ProgressLine, add_quiet_option, progress_keyword


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "harvest-round", help="one lesion-harvesting round on a project (score, threshold, harvest, hard negatives)",
        description="Score every proposal with s = s_g * s_c (detector score x lesion proposal classifier), "
                    "choose the lowest threshold that keeps precision >= 95 % on the fully annotated studies' "
                    "reviewed proposals, harvest the proposals above it that hit no RECIST mark, pick hard "
                    "negatives (s_g >= 0.5, top 5 per study), optionally fine-tune the detector with hard "
                    "negative suppression, and write report.json, report.md, pr_curve.png and harvest.json. Each study's "
                    "work (reading it, the classifier's crops, scoring) runs as a Ray task, embedded on this machine "
                    "or on a cluster (--address); a study that fails is reported and left out (exit status 1), "
                    "the round goes on with the others.")
    parser.add_argument("--project", type=Path, required=True, help="the project (.lvproj) to harvest")
    parser.add_argument("--fully-annotated", required=True, metavar="LIST",
                        help="comma-separated ids or UIDs of the fully annotated studies (V_M)")
    parser.add_argument("--out", type=Path, required=True, help="folder for this round's outputs")
    parser.add_argument("--model", default=None, help="use this detector's proposals (default: the newest)")
    parser.add_argument("--lpc", type=Path, default=None,
                        help="classifier weights; default: train one on this round's proposals into OUT/lpc")
    parser.add_argument("--detector", type=Path, default=None,
                        help="detector weights to fine-tune with the harvest (needs --finetune-steps > 0)")
    add_model_option(parser, "detector", flag="--detector-model")
    parser.add_argument("--finetune-steps", type=non_negative_int, default=0, help="detector fine-tuning steps (default 0: none)")
    parser.add_argument("--min-precision", type=float, default=0.95,
                        help="lowest precision the threshold on s must keep (default 0.95)")
    parser.add_argument("--hard-min-score", type=float, default=0.5, help="hard negatives need s_g >= this")
    parser.add_argument("--hard-per-volume", type=non_negative_int, default=5,
                        help="hard negatives kept per study (default 5)")
    parser.add_argument("--lpc-folds", type=int, default=2,
                        help="when training the classifier here: split the fully annotated studies into this many "
                             "folds so each is scored by a classifier that did not train on it (the threshold is "
                             "then set on honest scores); 1 = one classifier (default 2)")
    parser.add_argument("--round", type=int, default=1, dest="round_number",
                        help="this round's number, written into the notes of written-back lesions (default 1)")
    parser.add_argument("--write-back", action="store_true",
                        help="store each harvested positive in the project as a draft lesion (detector's class, "
                             "3D box, notes with s, s_g, s_c) and mark its proposal accepted by the round")
    parser.add_argument("--phantom-truth", action="store_true",
                        help="SYNTHETIC phantom studies only: score the harvest of the studies that are not fully "
                             "annotated against their full labels (lesions.csv beside the reference phase) and "
                             "put marks' recall and recall at 90 %% precision into the report")
    parser.add_argument("--reader", dest="user", metavar="NAME", default="liverview", help="name recorded in the project's audit log")
    parser.add_argument("--user", dest="user", help=argparse.SUPPRESS)  # the old spelling, kept working
    add_take_over_flag(parser)
    add_lpc_options(parser)
    add_quiet_option(parser)
    parser.add_argument("--studies", default=None, metavar="LIST",
                        help="comma-separated ids or UIDs of the studies to harvest (default: every CT study)")
    add_ray_options(parser)
    parser.add_argument("--in-process", action="store_true",
                        help="read and score every study in this process, no Ray (a study that fails stops the "
                             "round); default: each study's work is a Ray task and a failed study is reported")
    parser.set_defaults(func=run)


def _pr(scores: np.ndarray, positive: np.ndarray) -> tuple[list[float], list[float]]:
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(positive[order])
    n = max(int(positive.sum()), 1)
    return [0.0, *(tp / n).tolist()], [1.0, *(tp / np.arange(1, len(tp) + 1)).tolist()]


def _phantom_quality(data, result) -> dict:
    """The harvest of the partly marked studies against their full SYNTHETIC phantom labels."""
    from liverview.harvest.evaluation import round_quality
    from liverview.metrics.ground_truth import GroundTruthError, read_phantom_ground_truth

    studies = [s for s in data.studies if not s.fully_annotated]
    truth = {}
    for s in studies:
        folder = Path(data.reference_paths[s.volume]).parent
        try:
            truth[s.volume] = read_phantom_ground_truth(folder, s.volume)
        except GroundTruthError as exc:
            raise CliError(f"--phantom-truth: study {s.volume}: {exc}") from None
    marks = {s.volume: s.marks for s in studies}
    q, q_sg = round_quality(result, marks, truth, "s"), round_quality(result, marks, truth, "s_g")
    return {"data": "SYNTHETIC phantoms", "studies": [s.volume for s in studies], "lesions": q.n_lesions,
            "marks": q.n_marks, "marks_recall": q.marks_recall,
            "recall_at_90_precision": q.recall_at_precision(0.9),
            "recall_at_90_precision_s_g_only": q_sg.recall_at_precision(0.9),
            "harvested": q.n_harvested, "harvest_recall": q.harvested_recall,
            "harvest_precision": q.harvested_precision}


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.1f} %"  # NaN: nothing was kept


def _quality_markdown(q: dict) -> str:
    pct = _pct
    return (f"\n## Against the full labels (SYNTHETIC phantoms, {len(q['studies'])} partly marked studies, "
            f"{q['lesions']} lesions, {q['marks']} marked)\n\n| | recall |\n|---|---|\n"
            f"| marks before this round (the original RECIST marks in round 1) | {pct(q['marks_recall'])} |\n"
            f"| recall at 90 % precision, marks + candidates by s = s_g * s_c | {pct(q['recall_at_90_precision'])} |\n"
            f"| recall at 90 % precision, marks + candidates by s_g only | "
            f"{pct(q['recall_at_90_precision_s_g_only'])} |\n"
            f"| marks + the {q['harvested']} harvested (precision {pct(q['harvest_precision'])}) | "
            f"{pct(q['harvest_recall'])} |\n")


def _scores_in_process(args: argparse.Namespace, data, classifier, options: dict) -> tuple[dict, int, object]:
    """s_c of every proposal with every study's volumes in this process (the round as it was before Ray)."""
    from liverview.harvest.rounds import split_proposals
    from liverview.harvest.steps import classify_all, crossfit_classifier_scores, harvest_volumes, train_classifier

    sets = split_proposals(harvest_volumes(data.studies, data.proposals))
    folds = min(args.lpc_folds, sum(st.fully_annotated for st in data.studies))
    # one line for the classifier's phase (trained and scoring every study); the fine-tune draws its own
    with ProgressLine("harvest-round: classifier", quiet=args.quiet) as progress:
        if args.lpc is not None:
            trained_on, folds = None, 0
            s_c = classify_all(create(classifier, args.device, args.lpc), data.studies, data.proposals,
                               progress=progress.span(0.0, 1.0, "scoring"))
        elif folds > 1:
            s_c, trained_on = crossfit_classifier_scores(data.studies, data.proposals, sets, args.out / "lpc",
                                                         classifier, options, folds, args.device,
                                                         progress=progress.span(0.0, 1.0, f"{folds} folds"))
        else:
            lpc, trained_on = train_classifier(data.studies, data.proposals, sets, args.out / "lpc", classifier,
                                               options, args.device, progress=progress.span(0.0, 0.9, "training"))
            s_c = classify_all(lpc, data.studies, data.proposals, progress=progress.span(0.9, 1.0, "scoring"))
    return s_c, folds, trained_on


def _round_on_ray(args: argparse.Namespace, classifier, options: dict, names: list[str] | None):
    """Every study's work as a Ray task (embedded Ray, or the cluster at --address); failed studies are
    reported and left out. Only this process reads and writes the project."""
    import os
    import sys

    from liverview.harvest.project_data import HarvestInputError, read_project_round
    from liverview.harvest.ray_round import HarvestSetupError, run_round_on_ray
    from liverview.scan.cluster import ScanSetupError, ray_session, task_resources
    from liverview.store.project import Project
    from liverview.store.records import StoreError

    try:
        with Project.open(args.project, args.user, read_only=True) as project:
            plans, model = read_project_round(project, args.fully_annotated.split(","), args.model, names)
    except (StoreError, HarvestInputError) as exc:
        raise CliError(str(exc)) from None
    workers = args.workers if args.workers is not None or args.address else (os.cpu_count() or 1)
    try:
        with ray_session(args.address, workers or 1) as cluster:
            resources = task_resources(args.device, args.gpus_per_task, args.workers, cluster)
            print(f"{len(plans)} studies on Ray: {resources.describe()}")
            sys.stdout.flush()
            outcome = run_round_on_ray(plans, model, classifier, options, args.lpc, args.lpc_folds, args.out / "lpc",
                                       resources, args.device, quiet=args.quiet, tell=print)
    except (ScanSetupError, HarvestSetupError, HarvestInputError) as exc:
        raise CliError(str(exc)) from None
    return outcome


def _failures_markdown(used: int, failures: list) -> str:
    if not failures:
        return f"- studies used: {used}, none failed\n"
    lines = "".join(f"  - {f.volume} (while {f.stage}): {f.message}\n" for f in failures)
    return f"- studies used: {used}; failed and left out of this round: {len(failures)}\n{lines}"


def run(args: argparse.Namespace) -> int:
    from liverview.harvest.project_data import HarvestInputError, load_harvest_study, load_project_harvest
    from liverview.harvest.report import PrCurve, draw_pr_curves, write_report
    from liverview.harvest.rounds import harvest, split_proposals
    from liverview.harvest.steps import detector_training_cases, harvest_volumes
    from liverview.store.project import Project
    from liverview.store.records import StoreError

    if not 0 < args.min_precision <= 1:
        raise CliError(f"--min-precision must be in (0, 1], got {args.min_precision}")
    if args.round_number < 1:
        raise CliError(f"--round must be >= 1, got {args.round_number}")
    if args.lpc_folds < 1:
        raise CliError(f"--lpc-folds must be >= 1, got {args.lpc_folds}")
    if args.finetune_steps > 0 and args.detector is None:
        raise CliError("--finetune-steps needs --detector WEIGHTS (the detector to fine-tune)")
    options = lpc_options(args)
    classifier = resolve("proposal-classifier", args.classifier)
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers {args.workers}: give at least 1")
    names = args.studies.split(",") if args.studies else None
    failures, on_ray = [], None
    if args.in_process:
        try:
            with Project.open(args.project, args.user, read_only=True) as project:
                data = load_project_harvest(project, args.fully_annotated.split(","), args.model, names)
        except (StoreError, HarvestInputError) as exc:
            raise CliError(str(exc)) from None
        s_c, folds, trained_on = _scores_in_process(args, data, classifier, options)
    else:
        on_ray = _round_on_ray(args, classifier, options, names)
        data, s_c, folds, trained_on, failures = (on_ray.data, on_ray.s_c, on_ray.folds, on_ray.trained_on,
                                                  on_ray.failures)
    volumes = harvest_volumes(data.studies, data.proposals)
    sets = split_proposals(volumes)
    result = harvest(volumes, s_c, sets, args.min_precision, args.hard_min_score, args.hard_per_volume)
    thr = result.threshold

    reviewed = [(k, True) for k in sets.reviewed_positive] + [(k, False) for k in sets.reviewed_negative]
    s = np.array([result.scored[v][i].score for (v, i), _ in reviewed])
    sg = np.array([result.scored[v][i].s_g for (v, i), _ in reviewed])
    y = np.array([lab for _, lab in reviewed], bool)
    point = (thr.recall, thr.precision) if thr.threshold is not None else None
    draw_pr_curves([PrCurve("s = s_g * s_c", *_pr(s, y), point), PrCurve("s_g (detector only)", *_pr(sg, y))],
                   f"{data.model}: reviewed proposals of the fully annotated studies", args.out / "pr_curve.png")
    harvest_doc = {v: {"harvested": [{"index": sp.index, "proposal_id": data.records[v][sp.index].id,
                                      "box": list(sp.proposal.box), "z_range": list(sp.proposal.z_range),
                                      "key_slice": sp.proposal.key_slice, "lesion_class": sp.proposal.lesion_class,
                                      "s_g": sp.s_g, "s_c": sp.s_c, "s": sp.score}
                                     for sp in result.harvested.get(v, [])],
                       "hard_negatives": [{"index": sp.index, "proposal_id": data.records[v][sp.index].id,
                                           "box": list(sp.proposal.box), "z_range": list(sp.proposal.z_range),
                                           "s_g": sp.s_g, "s_c": sp.s_c, "s": sp.score}
                                          for sp in result.hard_negatives.get(v, [])]}
                   for v in data.proposals}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "harvest.json").write_text(json.dumps(harvest_doc, indent=1) + "\n")

    detector_out = None
    if args.finetune_steps > 0:
        trainer = create_trainer(resolve("detector", args.detector_model))
        # the volumes of the studies used (a round on Ray kept only their geometry)
        studies = data.studies if on_ray is None else [load_harvest_study(on_ray.plans[st.volume])
                                                       for st in data.studies]
        cases = detector_training_cases(studies, result.harvested, result.hard_negatives)
        # one short epoch from the given weights (the trainer keeps their architecture)
        with ProgressLine("harvest-round: detector fine-tune", quiet=args.quiet) as progress:
            detector_out = trainer.train(cases, args.out / "detector",
                                         {"epochs": 1, "steps_per_epoch": args.finetune_steps},
                                         init_weights=args.detector, device=args.device, log=progress.printer(),
                                         **progress_keyword(trainer.train, progress))
    quality = _phantom_quality(data, result) if args.phantom_truth else None
    written = None
    if args.write_back:
        from liverview.harvest.write_back import write_back_harvest

        lpc_name = f"{classifier.name}:{args.lpc or args.out / 'lpc'}"
        try:
            with Project.open(args.project, args.user, take_over_lock=args.take_over_lock) as project:
                written = write_back_harvest(project, data, result.harvested, args.round_number, lpc_name)
        except StoreError as exc:
            raise CliError(f"could not write the harvest back: {exc}") from None
    numbers = {
        "project": str(args.project), "round": args.round_number, "model": data.model, "studies": len(data.studies),
        "fully_annotated": sorted(st.volume for st in data.studies if st.fully_annotated),  # Ray returns them as they finish
        "sets": {"P_M_R": len(sets.reviewed_positive), "P_M_neg": len(sets.reviewed_negative),
                 "P_H_R": len(sets.mark_hits), "mark_duplicates": len(sets.mark_duplicates),
                 "candidates": len(sets.unknown)},
        "classifier": {"weights": str(args.lpc or args.out / "lpc"), "cross_fit_folds": folds,
                       "trained_on_lesion_nonlesion": trained_on},
        "threshold": {"value": thr.threshold, "min_precision": thr.min_precision, "precision_on_V_M": thr.precision,
                      "recall_on_V_M": thr.recall, "kept_on_V_M": thr.kept, "reviewed_on_V_M": thr.candidates},
        "harvested": result.n_harvested, "hard_negatives": result.n_hard_negatives,
        "detector_finetuned": str(detector_out) if detector_out else None,
        "written_back": None if written is None else [{"study": w.volume, "lesion_id": w.lesion_id,
                                                       "proposal_id": w.proposal_id} for w in written],
        "phantom_truth": quality,
        "studies_failed": [{"study": f.volume, "while": f.stage, "message": f.message} for f in failures],
        "ray": None if on_ray is None else {"tasks": on_ray.tasks, "pass_seconds": on_ray.pass_seconds,
                                            "peak_rss_mb_by_worker": on_ray.peak_rss_mb_by_worker},
    }
    thr_text = ("none reaches it: nothing harvested" if thr.threshold is None else
                f"{thr.threshold:.4f} (precision {100 * thr.precision:.1f} %, recall {100 * thr.recall:.1f} % of "
                f"the {thr.positives} accepted proposals)")
    md = (f"# Harvest round on {args.project.name}\n\nDetector proposals: {data.model}; {len(data.studies)} studies, "
          f"fully annotated: {', '.join(numbers['fully_annotated'])}.\n\n" + _failures_markdown(len(data.studies), failures) +
          f"- classifier training: {len(sets.reviewed_positive)} accepted + {len(sets.mark_hits)} mark hits vs "
          f"{len(sets.reviewed_negative)} rejected" +
          (f" ({folds} folds: each fully annotated study scored by a classifier that did not train on it)\n"
           if folds > 1 else " (the threshold is set on scores of a classifier that may have trained on the "
                             "fully annotated studies: expect it to be optimistic)\n") +
          f"- threshold on s for precision >= {100 * args.min_precision:.0f} % on the fully annotated studies: "
          f"{thr_text}\n- harvested positives: {result.n_harvested}; hard negatives: {result.n_hard_negatives}\n"
          f"- detector fine-tuned: {detector_out or 'no'}\n" +
          (f"- written back to the project: {len(written)} draft lesions\n" if written is not None else "") +
          (_quality_markdown(quality) if quality else "") + "\n![PR curve](pr_curve.png)\n")
    write_report(args.out, numbers, md)
    print(md)
    return 1 if failures else 0  # as `liverview scan`: a study left out is worth a non-zero status
