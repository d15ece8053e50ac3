"""`liverview train-detector --data DIR [--data DIR ...] --out DIR [--model NAME]`: train a detector plugin
(through its trainer contribution) on folders of studies (phantoms written by `liverview synth-ct`, real hosts
with inserted lesions written by `liverview synth-inserted`: one NIfTI per phase, lesions.csv, study.json)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.model_choice import add_model_option, create_trainer, parse_options, resolve
from liverview.terminal_progress import ProgressLine, add_quiet_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-detector", help="train the multi-phase CT lesion detector on a folder of studies",
        description="Train a lesion detector (default: the MSCN-style mscn_detector) on every study under each DIR "
                    "(subfolders with study.json + lesions.csv, as `liverview synth-ct` and `liverview "
                    "synth-inserted` write them; an ignore mask, where given, takes those voxels out of the "
                    "heatmap loss). The "
                    "mscn_detector writes last.pt after every epoch (a rerun with the same OUT resumes from it), "
                    "and at the end mscn_detector.pt and train_log.json. The seed is fixed (--seed). The "
                    "schedule and ablation flags are mscn_detector options; --set KEY=VALUE passes any other.")
    parser.add_argument("--data", type=Path, required=True, action="append", metavar="DIR",
                        help="folder of training studies (synth-ct phantoms, synth-inserted real hosts); repeatable: "
                             "the studies of every folder are pooled")
    add_model_option(parser, "detector")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="run folder (checkpoints, weights)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu or cuda")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="epochs (default from the config: 10)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, metavar="N", help="batches per epoch (default 150)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N", help="slices per batch (default 8)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the model's, 0 for mscn_detector)")
    parser.add_argument("--slices", type=int, choices=(1, 3, 9), default=None,
                        help="adjacent slices per phase (mscn_detector default 9)")
    parser.add_argument("--phases", default="all", metavar="LIST",
                        help="comma-separated phases the model reads, e.g. 'portal venous' (default all four)")
    parser.add_argument("--no-pyramid", action="store_true", help="ablation: no shallow-to-deep pyramid fusion")
    parser.add_argument("--no-attention", action="store_true", help="ablation: no cross-phase attention block")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for torch")
    parser.add_argument("--init-weights", type=Path, default=None, help="start from these weights (fine-tuning)")
    parser.add_argument("--no-hard-negatives", action="store_true",
                        help="leave out the hard negatives that `mine-negatives` wrote beside the studies "
                             "(hard_negatives.json; read by default, with HNSL)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="options",
                        help="a training option of the model (JSON value, e.g. --set crop_px=128); repeatable")
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from liverview.detection.training_data import load_cases_from_folder

    for folder in args.data:
        if not folder.is_dir():
            raise CliError(f"--data {folder} is not a folder")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} exists and is not a folder")
    contribution = resolve("detector", args.model)
    trainer = create_trainer(contribution)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    # only what was asked for: a detector refuses options it does not know
    options: dict = {k: v for k, v in (("seed", args.seed), ("n_slices", args.slices)) if v is not None}
    if args.no_pyramid:
        options["pyramid_fusion"] = False
    if args.no_attention:
        options["cross_phase_attention"] = False
    if args.phases != "all":
        options["phases"] = args.phases.split(",")
    for key in ("epochs", "steps_per_epoch", "batch_size"):
        value = getattr(args, key)
        if value is not None:
            if value < 1:
                raise CliError(f"--{key.replace('_', '-')} must be at least 1")
            options[key] = value
    options.update(parse_options(args.options))
    cases = [case for folder in args.data for case in load_cases_from_folder(folder)]
    if args.no_hard_negatives:
        cases = [replace(case, hard_negatives=[]) for case in cases]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise CliError("two --data folders hold studies of the same name: give each study a unique folder name")
    sources = ", ".join(str(f) for f in args.data)
    print(f"training {contribution.name} on {len(cases)} studies from {sources} -> {args.out}", file=sys.stderr)
    with ProgressLine("train-detector", quiet=args.quiet) as progress:  # log lines go above the bar
        weights = trainer.train(cases, args.out, options, init_weights=args.init_weights, device=args.device,
                                progress=progress, log=progress.note)
    print(f"weights: {weights}")
    return 0
