"""`liverview detect STUDY --out proposals.json [--model NAME]`: 3D lesion proposals (class, scores, key
slice) from a detector plugin found through the registry, on the reference phase's voxel grid."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.arg_types import non_negative_float, non_negative_int
from liverview.commands.model_choice import add_model_option, add_plugin_dir_option, create, resolve
from liverview.detection.liver_filter import DEFAULT_MARGIN_MM, DEFAULT_MAX_PROPOSALS
from liverview.terminal_progress import ProgressLine, add_quiet_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect", help="detect liver lesions in a CT study and write proposals.json",
        description="Run a lesion detector (default: the registry's default detector, the multi-phase "
                    "mscn_detector) on STUDY: a phantom folder (study.json), a folder of one volume per phase, a "
                    "volume file or a DICOM folder. The study's phases are handed to the detector as volumes in "
                    "patient mm; what it does with missing phases is up to the model (see its model card). CUDA "
                    "when available.")
    parser.add_argument("study", metavar="STUDY", type=Path, help="study folder or file")
    parser.add_argument("--out", type=Path, required=True, help="proposals.json to write")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu or cuda")
    add_model_option(parser, "detector")
    add_plugin_dir_option(parser)
    parser.add_argument("--weights", type=Path, default=None, help="model weights (default: the contribution's)")
    parser.add_argument("--reference", default=None, metavar="PHASE",
                        help="reference phase (default: the study's: non-contrast for phantoms, else portal venous)")
    parser.add_argument("--assume-phase", default="portal venous", metavar="PHASE",
                        help="phase kind given to a single phase of unknown kind (default portal venous)")
    parser.add_argument("--threads", type=non_negative_int, default=None, metavar="N", help="CPU threads for torch")
    parser.add_argument("--liver-margin", type=non_negative_float, default=DEFAULT_MARGIN_MM, metavar="MM",
                        help="drop proposals with no voxel within MM of the liver (default 15; the liver mask "
                             "comes from the registry's liver-segmenter)")
    parser.add_argument("--no-liver-filter", action="store_true", help="keep proposals outside the liver too")
    parser.add_argument("--liver-segmenter", default=None, metavar="NAME",
                        help="liver-segmenter contribution for the liver filter (default: the registry's default, "
                             "liver_unet; liver_mask is the classical method)")
    parser.add_argument("--max-proposals", type=non_negative_int, default=DEFAULT_MAX_PROPOSALS, metavar="N",
                        help="keep at most the N best-scored proposals (default 50; 0 = all)")
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def load_study_phases(study_path: Path, assume_phase: str = "portal venous"):
    """(volumes by PhaseKind, default reference kind, study name) for a phantom folder or anything
    liverview.io.study_loader reads; what was assumed or left out is printed on stderr."""
    inputs = read_inputs(study_path, assume_phase)
    return inputs.volumes, inputs.reference, inputs.name


def read_inputs(study_path: Path, assume_phase: str = "portal venous"):
    """The study as the detector takes it (liverview.detection.study_inputs), notes printed on stderr."""
    from liverview.detection.study_inputs import StudyInputError, read_study_inputs

    try:
        inputs = read_study_inputs(study_path, assume_phase)
    except StudyInputError as exc:
        raise CliError(str(exc)) from None
    for note in inputs.notes:
        print(note, file=sys.stderr)
    return inputs


def run(args: argparse.Namespace) -> int:
    from liverview.core.study import PhaseKind
    from liverview.detection.proposals import write_proposals
    from liverview.detection.study_detection import ProposalFilter, detect_in_study

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    inputs = read_inputs(args.study, args.assume_phase)
    volumes = inputs.volumes
    if args.reference:
        inputs.reference = PhaseKind.parse(args.reference)
        if inputs.reference not in volumes:
            raise CliError(f"--reference {inputs.reference.value}: the study has no such phase "
                           f"({', '.join(k.value for k in volumes)})")
    reference = inputs.reference
    detector = create(resolve("detector", args.model, plugin_dirs=args.plugin_dirs), args.device, args.weights)
    start = time.perf_counter()
    liver = None if args.no_liver_filter else create(
        resolve("liver-segmenter", args.liver_segmenter, plugin_dirs=args.plugin_dirs), "cpu")
    keep = ProposalFilter(not args.no_liver_filter, args.liver_margin, args.max_proposals)
    with ProgressLine("detect", quiet=args.quiet) as progress:
        result, notes = detect_in_study(inputs, detector, liver, keep, progress=progress)
    for note in notes:
        print(note, file=sys.stderr)
    write_proposals(args.out, result)
    z = volumes[reference].array.shape[0]
    print(f"{len(result.proposals)} proposals on {z} slices of {reference.value} "
          f"({', '.join(k.short for k in volumes)} read) in {time.perf_counter() - start:.1f} s on "
          f"{getattr(detector, 'device', args.device)} by {detector.name} -> {args.out}")
    for p in result.sorted_by_score()[:10]:
        print(f"  {p.lesion_class:<10} score {p.score:.2f}  slices {p.z_range[0]}-{p.z_range[1]} key {p.key_slice}  "
              f"box x {p.box[0]:.0f}-{p.box[2]:.0f} y {p.box[1]:.0f}-{p.box[3]:.0f}")
    return 0
