"""`liverview train-us --data DIR --out DIR`: train the ultrasound click segmenter + classifier."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.model_choice import add_model_option, create_trainer, resolve
from liverview.commands.us_calibration import read_calibration
from liverview.terminal_progress import ProgressLine, add_quiet_option, progress_keyword


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-us", help="train the ultrasound click segmentation + classification model",
        description="Train a click-segmenter plugin (default: us_clickseg) on a `liverview synth-us` folder (labels.csv, 4 classes) or a "
                    "BUSI subset (manifest.csv, benign/malignant only: the class head then learns p(malignant)). "
                    "Writes us_clickseg.pt (inference weights), checkpoint.pt (resumable), train_log.csv.")
    parser.add_argument("--data", type=Path, required=True, action="append", metavar="DIR[:SPLIT]",
                        help="data folder (labels.csv or manifest.csv), optionally :train or :test; repeatable "
                             "to train on several sets together (e.g. AUL liver, BUSI:train, phantoms)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for weights, checkpoint and log")
    add_model_option(parser, "click-segmenter")
    parser.add_argument("--split", choices=("all", "train", "test"), default="all",
                        help="part of the data to train on (BUSI: use train; synthetic sets have no split)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu or cuda")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps (default 3000)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per training step (default 16)")
    parser.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 0.002)")
    parser.add_argument("--encoder", choices=("vgg", "resnet"), default=None,
                        help="us_clickseg encoder: vgg (small, 96 px, the old default) or resnet (ResNet-18-style, "
                             "192 px); default vgg")
    parser.add_argument("--source-weights", default=None, metavar="SRC=W,...",
                        help="draw training lesions by source with these weights, e.g. aul=0.5,busi=0.35,synthetic=0.15")
    parser.add_argument("--input-size", type=int, default=None, help="crop side fed to the net (default: the encoder's)")
    parser.add_argument("--widths", type=int, nargs="+", default=None,
                        help="encoder channels per stage (default 8 16 32 64 128)")
    parser.add_argument("--prior-channel", action="store_true",
                        help="give the net the mask an interaction starts from as a 4th input (the previous mask "
                             "when refining, a box's inscribed ellipse); --init from a 3-channel net starts it at 0")
    parser.add_argument("--model-clicks", type=float, default=None, metavar="SHARE",
                        help="share of samples (0-1) whose later clicks go where the net being trained is wrong "
                             "(RITM-style iterative training; needs --prior-channel)")
    parser.add_argument("--prior-residual", action="store_true",
                        help="the mask logits add a learnt gain x the prior, so that the net starts from the prior "
                             "mask and learns corrections (needs --prior-channel)")
    parser.add_argument("--box-margin", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="training boxes: each side out by U(LO, HI) x the lesion's size (negative cuts in; "
                             "default 0 0.12)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop when this wall-clock budget is spent")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of sampling and initialisation (default 0)")
    parser.add_argument("--checkpoint-every", type=int, default=200,
                        help="write a resumable checkpoint every this many steps (default 200)")
    parser.add_argument("--stop-at-step", type=int, default=None,
                        help="end this run at that step (the schedule still spans --steps; --resume continues)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--init", type=Path, default=None, help="start from these us_clickseg weights (fine-tune)")
    parser.add_argument("--name", default=None, help="model name stored in the weights (default: OUT's name)")
    parser.add_argument("--calibration", type=Path, default=None, metavar="CV_REPORT",
                        help="a `liverview cv-us` cv_report.json: of its malignancy scores fitted on held-out "
                             "images (Platt scaling of the head, the head with lesion features, lesion size alone) "
                             "the one with the lowest held-out log loss is stored in the weights and applied at "
                             "inference (Platt where a lesion has no mask); `liverview calibrate-us` does the same "
                             "for trained weights")
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liverview.us.lesion_dataset import UsDatasetError, load_sets

    if args.steps < 1 or args.batch_size < 1:
        raise CliError("--steps and --batch-size must be at least 1")
    if args.input_size is not None and args.widths is not None and (
            args.input_size < 32 or args.input_size % 2 ** (len(args.widths) - 1)):
        raise CliError(f"--input-size must be >= 32 and divisible by {2 ** (len(args.widths) - 1)}")
    try:
        source_weights = None if args.source_weights is None else {
            k.strip(): float(v) for k, v in (item.split("=") for item in args.source_weights.split(","))}
    except ValueError:
        raise CliError(f"--source-weights: write SOURCE=WEIGHT,..., got {args.source_weights!r}") from None
    if args.init is not None and not args.init.is_file():
        raise CliError(f"--init {args.init} does not exist")
    trainer = create_trainer(resolve("click-segmenter", args.model, "US"))
    calibration, feature_model = None, None
    if args.calibration is not None:
        choice = read_calibration(args.calibration)
        calibration, feature_model = choice.platt, choice.model
        print(choice.message, flush=True)
    try:
        start = time.perf_counter()
        lesions, lines = load_sets(args.data, args.split)
    except UsDatasetError as exc:
        raise CliError(str(exc)) from exc
    print(f"loaded {'; '.join(lines)} in {time.perf_counter() - start:.1f} s", flush=True)
    options = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
               "max_minutes": args.max_minutes, "checkpoint_every": args.checkpoint_every,
               "stop_at_step": args.stop_at_step, "num_threads": args.threads, "input_size": args.input_size,
               "widths": None if args.widths is None else list(args.widths), "encoder": args.encoder,
               "prior_channel": True if args.prior_channel else None,
               **({"model_click_share": args.model_clicks} if args.model_clicks is not None else {}),
               **({"prior_residual": True} if args.prior_residual else {}),
               **({"box_margin": list(args.box_margin)} if args.box_margin is not None else {}),
               "source_weights": source_weights, "name": args.name or args.out.name,
               "meta": {"data": [str(d) for d in args.data], "split": args.split,
                        **({"malignancy_platt": calibration} if calibration else {}),
                        **({"malignancy_model": feature_model} if feature_model else {}),
                        "command": "liverview train-us " + " ".join(_argv_of(args))}}
    with ProgressLine("train-us", quiet=args.quiet) as progress:  # step lines still go to stdout, above the bar
        trainer.train(lesions, args.out, options, init_weights=args.init, device=args.device, resume=args.resume,
                      log=progress.printer(), **progress_keyword(trainer.train, progress))
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    out = [a for d in args.data for a in ("--data", str(d))]
    out += ["--out", str(args.out), "--split", args.split, "--device", args.device, "--steps", str(args.steps),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--threads", str(args.threads),
            "--seed", str(args.seed)]
    if args.max_minutes is not None:
        out += ["--max-minutes", str(args.max_minutes)]
    for flag, value in (("--encoder", args.encoder), ("--input-size", args.input_size),
                        ("--source-weights", args.source_weights)):
        if value is not None:
            out += [flag, str(value)]
    if args.widths is not None:
        out += ["--widths", *map(str, args.widths)]
    if args.prior_channel:
        out.append("--prior-channel")
    if args.model_clicks is not None:
        out += ["--model-clicks", str(args.model_clicks)]
    if args.prior_residual:
        out.append("--prior-residual")
    if args.box_margin is not None:
        out += ["--box-margin", *map(str, args.box_margin)]
    if args.init is not None:
        out += ["--init", str(args.init)]
    return out
