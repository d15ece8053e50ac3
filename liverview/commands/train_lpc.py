"""`liverview train-lpc --project P --out DIR`: train the lesion proposal classifier on a project's
reviewed proposals (accepted = lesion, rejected = not) and on proposals that hit its RECIST marks."""

from __future__ import annotations

import argparse
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.model_choice import add_model_option, resolve
from liverview.terminal_progress import ProgressLine, add_quiet_option


def add_lpc_options(parser: argparse.ArgumentParser) -> None:
    add_model_option(parser, "proposal-classifier", flag="--classifier")
    parser.add_argument("--epochs", type=int, default=None,
                        help="classifier training epochs (lesion_proposal_classifier default 30)")
    parser.add_argument("--crop-px", type=int, default=None,
                        help="size of each view's crop in pixels (lesion_proposal_classifier default 64)")
    parser.add_argument("--pad-px", type=float, default=None,
                        help="margin around the proposal, in reference pixels (default 64, as in the paper)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the model's)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")


def lpc_options(args: argparse.Namespace) -> dict:
    """The classifier's training options that were given (its trainer validates them)."""
    given = {"epochs": args.epochs, "crop_px": args.crop_px, "pad_px": args.pad_px, "seed": args.seed}
    return {k: v for k, v in given.items() if v is not None}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-lpc", help="train the lesion proposal classifier on a project's reviewed proposals",
        description="Train the multi-view lesion proposal classifier (axial, coronal, sagittal crops through "
                    "each proposal's centre). Lesions: accepted or edited proposals of the fully annotated "
                    "studies and proposals hitting a RECIST mark elsewhere (pseudo-3D IoU >= 0.5); "
                    "non-lesions: rejected proposals of the fully annotated studies.")
    parser.add_argument("--project", type=Path, required=True, help="the project (.lvproj / SQLite file)")
    parser.add_argument("--out", type=Path, required=True, help="folder for lpc.pt and its training log")
    parser.add_argument("--fully-annotated", default=None, metavar="LIST",
                        help="comma-separated study ids or UIDs whose decisions count (default: every study "
                             "with at least one decision)")
    parser.add_argument("--model", default=None, help="use this detector's proposals (default: the newest)")
    parser.add_argument("--reader", dest="user", metavar="NAME", default="liverview", help="name recorded if the project must be opened")
    parser.add_argument("--user", dest="user", help=argparse.SUPPRESS)  # the old spelling, kept working
    add_lpc_options(parser)
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liverview.harvest.project_data import HarvestInputError, load_project_harvest, study_key
    from liverview.harvest.rounds import split_proposals
    from liverview.harvest.steps import harvest_volumes, train_classifier
    from liverview.store.project import Project
    from liverview.store.records import StoreError

    options = lpc_options(args)
    classifier = resolve("proposal-classifier", args.classifier)
    try:
        with Project.open(args.project, args.user, read_only=True) as project:
            if args.fully_annotated is not None:
                names = args.fully_annotated.split(",")
            else:
                names = [study_key(s) for s in project.list_studies()
                         if any(project.decisions(p.id) for p in project.list_proposals(s.id))]
            data = load_project_harvest(project, names, args.model)
    except (StoreError, HarvestInputError) as exc:
        raise CliError(str(exc)) from None
    sets = split_proposals(harvest_volumes(data.studies, data.proposals))
    print(f"proposals of {data.model}: {len(sets.reviewed_positive)} accepted and {len(sets.reviewed_negative)} "
          f"rejected on fully annotated studies, {len(sets.mark_hits)} hitting RECIST marks elsewhere")
    with ProgressLine("train-lpc", quiet=args.quiet) as progress:  # step lines stay on stdout, above the bar
        _, (n_pos, n_neg) = train_classifier(data.studies, data.proposals, sets, args.out, classifier, options,
                                             args.device, log=progress.printer(), progress=progress)
    print(f"trained on {n_pos} lesion / {n_neg} non-lesion proposals ({classifier.name}); weights in {args.out}")
    return 0
