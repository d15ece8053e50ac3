"""`liverview info PATH [PATH ...]`: load a study and print each phase's kind, reason and geometry."""

from __future__ import annotations

import argparse

import numpy as np

from liverview.cli import CliError
from liverview.core.study import Phase
from liverview.io.errors import LoadError
from liverview.io.study_loader import LoadedStudy, load_study


def _vec(values: np.ndarray | tuple[float, ...], digits: int = 3) -> str:
    return "(" + ", ".join(f"{float(v):.{digits}f}" for v in values) + ")"


def describe_phase(loaded: LoadedStudy, index: int, phase: Phase) -> list[str]:
    """Lines describing one phase: kind and reason, size, spacing, origin, direction, value range."""
    v = phase.volume
    ref = "  (reference)" if index == loaded.study.reference_index else ""
    d = np.asarray(v.direction)
    lo, hi = float(np.min(v.array)), float(np.max(v.array))
    missing = ([f"    missing:   {len(v.missing_slices)} slice(s) not in the series: "
                f"{', '.join(str(k + 1) for k in v.missing_slices)} (of 1..{v.size_ijk[2]})"]
               if v.missing_slices else [])
    return [
        f"[{index + 1}] {phase.kind.value}{ref}: {phase.description}",
        f"    reason:    {loaded.reason_for(phase) or '-'}",
        f"    source:    {phase.source}",
        f"    size:      {' x '.join(str(n) for n in v.size_ijk)} voxels (i x j x k), {v.array.dtype}",
        f"    spacing:   {' x '.join(f'{s:.4g}' for s in v.spacing)} mm",
        f"    origin:    {_vec(v.origin)} mm LPS",
        f"    direction: i {_vec(d[:, 0])}  j {_vec(d[:, 1])}  k {_vec(d[:, 2])}",
        f"    HU range:  {lo:g} .. {hi:g}",
    ] + missing


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load_study(args.paths)
    except LoadError as exc:
        raise CliError(str(exc)) from exc
    study = loaded.study
    header = f"study: {len(study.phases)} phase(s)"
    if study.patient_id:
        header += f", patient {study.patient_id}"
    if study.description:
        header += f", '{study.description}'"
    print(header)
    for n, phase in enumerate(study.phases):
        print("\n".join(describe_phase(loaded, n, phase)))
    if loaded.problems:
        print(f"problems ({len(loaded.problems)}):")
        for line in loaded.problems:
            print(f"  - {line}")
    else:
        print("problems: none")
    for line in loaded.notes:
        print(f"note: {line}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info", help="load DICOM folders / volume files as a study and print its phases",
        description="Load DICOM folders, NIfTI / NRRD / MetaImage files (or folders of them) as one study "
        "and print each phase: kind and why, size, spacing, origin, direction, value range; then problems.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DICOM folder or file, or volume file")
    parser.set_defaults(func=run)
