"""`liverview detect STUDY --out proposals.json [--model NAME]`: 3D lesion proposals (class, scores, key
slice) from a detector plugin found through the registry, on the reference phase's voxel grid."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.model_choice import add_model_option, create, resolve
from liverview.detection.liver_filter import DEFAULT_MARGIN_MM, DEFAULT_MAX_PROPOSALS


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
    parser.add_argument("--weights", type=Path, default=None, help="model weights (default: the contribution's)")
    parser.add_argument("--reference", default=None, metavar="PHASE",
                        help="reference phase (default: the study's: non-contrast for phantoms, else portal venous)")
    parser.add_argument("--assume-phase", default="portal venous", metavar="PHASE",
                        help="phase kind given to a single phase of unknown kind (default portal venous)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for torch")
    parser.add_argument("--liver-margin", type=float, default=DEFAULT_MARGIN_MM, metavar="MM",
                        help="drop proposals with no voxel within MM of the liver (default 15; the liver mask "
                             "comes from the registry's liver-segmenter)")
    parser.add_argument("--no-liver-filter", action="store_true", help="keep proposals outside the liver too")
    parser.add_argument("--max-proposals", type=int, default=DEFAULT_MAX_PROPOSALS, metavar="N",
                        help="keep at most the N best-scored proposals (default 50; 0 = all)")
    parser.set_defaults(func=run)


def load_study_phases(study_path: Path, assume_phase: str = "portal venous"):
    """(volumes by PhaseKind, default reference kind, study name) for a phantom folder or anything
    liverview.io.study_loader reads."""
    from liverview.core.study import PhaseKind
    from liverview.io.errors import LoadError
    from liverview.io.volumes import read_volume

    if not study_path.exists():
        raise CliError(f"{study_path}: no such file or folder")
    meta_file = study_path / "study.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        volumes = {PhaseKind(name): read_volume(study_path / info["file"]) for name, info in meta["phases"].items()}
        return volumes, PhaseKind(meta.get("reference_phase", "non-contrast")), study_path.name
    from liverview.io.study_loader import load_study

    try:
        loaded = load_study([study_path])
    except LoadError as exc:
        raise CliError(str(exc)) from None
    study = loaded.study
    phases = list(study.phases)
    if len(phases) == 1 and phases[0].kind is PhaseKind.UNKNOWN:
        kind = PhaseKind.parse(assume_phase)
        print(f"note: the single phase's kind is unknown; read as {kind.value} (--assume-phase)", file=sys.stderr)
        return {kind: phases[0].volume}, kind, study.description or study_path.name
    volumes = {}
    for p in phases:
        if p.kind is PhaseKind.UNKNOWN or p.kind in volumes:
            print(f"note: phase '{p.label}' left out (unknown or repeated kind)", file=sys.stderr)
            continue
        volumes[p.kind] = p.volume
    if not volumes:
        raise CliError(f"{study_path}: no phase of a known kind; name the files by phase (e.g. arterial.nii.gz)")
    ref = study.reference.kind if study.reference.kind in volumes else next(iter(volumes))
    return volumes, ref, study.description or study_path.name


def run(args: argparse.Namespace) -> int:
    from liverview.core.study import PhaseKind
    from liverview.detection.proposals import ProposalSet, write_proposals

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    volumes, reference, name = load_study_phases(args.study, args.assume_phase)
    if args.reference:
        reference = PhaseKind.parse(args.reference)
        if reference not in volumes:
            raise CliError(f"--reference {reference.value}: the study has no such phase "
                           f"({', '.join(k.value for k in volumes)})")
    detector = create(resolve("detector", args.model), args.device, args.weights)
    start = time.perf_counter()
    result = detector.detect(volumes, reference)
    result = ProposalSet(result.proposals, name, result.model or detector.name, result.reference_phase, result.shape,
                         result.spacing_mm, result.origin_mm, result.direction)
    from liverview.detection.liver_filter import readable_proposals

    liver = None if args.no_liver_filter else create(resolve("liver-segmenter", None), "cpu")
    result, notes = readable_proposals(result, volumes, reference, liver, args.liver_margin, args.max_proposals)
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
