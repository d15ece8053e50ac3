"""`liverview mine-negatives DATA --weights W`: run a detector over training studies whose lesions are all
labelled and write each study's confident false positives as hard_negatives.json, which `train-detector` then
trains against with HNSL (the Lesion Harvester's hard negative suppression)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.model_choice import add_model_option, create, resolve
from liverview.terminal_progress import ProgressLine, add_quiet_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mine-negatives", help="write a detector's confident false positives in training studies as hard negatives",
        description="For every study under DATA (folders from synth-ct or synth-inserted: study.json, lesions.csv), "
                    "detect as `detect` does (liver filter on), and keep as hard negatives the proposals scoring at "
                    "least --min-score (the --limit best) that touch no labelled lesion (grown by a few voxels) and "
                    "no voxel of the study's ignore mask (host regions that may hold unlabelled real lesions). "
                    "Writes STUDY/hard_negatives.json; train-detector reads it. Only for studies whose lesions are "
                    "all labelled: elsewhere a 'false positive' may be a lesion nobody marked.")
    parser.add_argument("data", type=Path, metavar="DATA", help="a folder of training studies, or one study")
    parser.add_argument("--min-score", type=float, default=0.3, help="lowest score kept (default 0.3)")
    parser.add_argument("--limit", type=int, default=10, help="at most this many per study (default 10)")
    add_model_option(parser, "detector")
    parser.add_argument("--weights", type=Path, default=None, help="detector weights (default: the contribution's)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for torch")
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liverview.commands.detect import read_inputs
    from liverview.detection.hard_negatives import HARD_NEGATIVES_FILE, MiningRule, mine_hard_negatives
    from liverview.detection.proposals import write_proposals
    from liverview.detection.study_detection import ProposalFilter, detect_in_study
    from liverview.detection.training_data import load_cases_from_folder, study_folders
    from liverview.io.volumes import read_volume

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        rule = MiningRule(args.min_score, args.limit)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        studies = study_folders(args.data)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    detector = create(resolve("detector", args.model), args.device, args.weights)
    liver = create(resolve("liver-segmenter", None), "cpu")
    total = 0
    with ProgressLine("mine-negatives", quiet=args.quiet) as progress:
        for n, study in enumerate(studies, start=1):
            [case] = load_cases_from_folder(study)  # its lesions and ignore mask, as training reads them
            result, _ = detect_in_study(read_inputs(study), detector, liver, ProposalFilter(max_proposals=0))
            ignore = None if case.ignore_mask is None else read_volume(case.ignore_mask).array > 0
            negatives = mine_hard_negatives(result.proposals, [les.box_ijk for les in case.lesions], rule, ignore)
            write_proposals(study / HARD_NEGATIVES_FILE, replace(result, proposals=tuple(negatives)))
            total += len(negatives)
            progress.steps(n, len(studies), f"{study.name}: {len(negatives)} hard negatives")
    print(f"{total} hard negatives in {len(studies)} studies (score >= {rule.min_score}, at most {rule.limit} each) "
          f"by {detector.name}; train-detector reads them from each study's {HARD_NEGATIVES_FILE}", file=sys.stdout)
    return 0
