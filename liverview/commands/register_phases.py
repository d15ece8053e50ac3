"""`liverview register-phases FIXED MOVING --out OUT`: align one phase to a reference phase from files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from liverview.cli import CliError
from liverview.core.volume import Volume
from liverview.io.errors import LoadError
from liverview.io.study_loader import load_study
from liverview.registration.phase_registration import (
    MODES,
    PhaseRegistration,
    RegistrationError,
    register_phase,
    volume_to_sitk,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "register-phases", help="register a moving phase to a fixed (reference) phase and resample it",
        description="Register MOVING to FIXED (Mattes mutual information; rigid, then optionally affine or "
                    "B-spline) and write MOVING resampled onto FIXED's grid.")
    parser.add_argument("fixed", type=Path, metavar="FIXED",
                        help="reference phase (NIfTI, NRRD, MHA, ... or a DICOM folder holding one series)")
    parser.add_argument("moving", type=Path, metavar="MOVING", help="phase to align to FIXED")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT",
                        help="where to write MOVING resampled onto FIXED's grid (e.g. out.nii.gz)")
    parser.add_argument("--mode", choices=MODES, default="rigid", help="transform model (default: rigid)")
    parser.add_argument("--transform", type=Path, metavar="OUT.tfm",
                        help="also write the transform (fixed point -> moving point, ITK convention)")
    parser.set_defaults(func=run)


def _read(path: Path, role: str) -> Volume:
    """The one image in ``path`` (volume file or DICOM folder / file), read by the checked study loader, so a
    damaged file is refused rather than registered with blank slices or a lost position."""
    if not path.exists():
        raise CliError(f"{role} image '{path}' does not exist")
    try:
        loaded = load_study([path])
    except LoadError as exc:
        raise CliError(f"cannot use {role} image: {exc}") from exc  # the cause keeps exit 3 for damage
    phases = loaded.study.phases
    if len(phases) != 1:
        names = ", ".join(f"'{p.description}'" for p in phases)
        raise CliError(f"{role} image '{path}' holds {len(phases)} image series ({names}); "
                       "give the folder or file of one series")
    for line in loaded.problems:
        print(f"warning: {role} image: {line}", file=sys.stderr)
    return phases[0].volume


def _describe(result: PhaseRegistration) -> list[str]:
    lines = [f"mode: {result.mode}", f"final metric (Mattes MI, lower is better): {result.final_metric:.4f}",
             f"iterations: {result.iterations}  time: {result.elapsed_s:.1f} s"]
    rigid = result.parameters.get("rigid")
    if rigid is not None and len(rigid) == 6:
        angles = ", ".join(f"{np.degrees(a):.2f}" for a in rigid[:3])
        shift = ", ".join(f"{t:.2f}" for t in rigid[3:])
        lines.append(f"rigid: rotation (deg about x, y, z) = ({angles}); translation (mm) = ({shift})")
    if "affine" in result.parameters:
        matrix = np.array(result.parameters["affine"][:9]).reshape(3, 3)
        lines.append("affine matrix: " + "; ".join(" ".join(f"{v:.4f}" for v in row) for row in matrix))
        lines.append("affine translation (mm): " + " ".join(f"{v:.2f}" for v in result.parameters["affine"][9:]))
    if "bspline" in result.parameters:
        lines.append(f"B-spline: {len(result.parameters['bspline'])} coefficients")
    lines.extend(f"warning: {w}" for w in result.warnings)
    return lines


def run(args: argparse.Namespace) -> int:
    fixed = _read(args.fixed, "fixed")
    moving = _read(args.moving, "moving")
    try:
        result = register_phase(fixed, moving, mode=args.mode)
    except RegistrationError as exc:
        raise CliError(str(exc)) from exc
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(volume_to_sitk(result.resampled), str(args.out), True)
    if args.transform is not None:
        args.transform.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteTransform(result.transform, str(args.transform))
    for line in _describe(result):
        print(line)
    print(f"wrote {args.out}" + (f" and {args.transform}" if args.transform else ""), file=sys.stderr)
    return 0
