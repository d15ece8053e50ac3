"""`liverview synth-ct OUT --seed N`: write a synthetic four-phase liver CT phantom with its ground truth."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from liverview.cli import CliError
from liverview.synth.ct_phantom import LESION_TABLE_FILE, STUDY_FILE, generate_ct_study, write_phantom_study


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth-ct", help="write a synthetic multi-phase liver CT phantom (NIfTI + lesions.csv)",
        description="Generate a four-phase liver CT phantom (non-contrast, arterial, portal venous, delayed) "
                    "with lesions of four classes, and write one NIfTI per phase, the liver mask, the lesion "
                    "labels, lesions.csv and study.json into OUT.")
    parser.add_argument("out", metavar="OUT", type=Path, help="output folder (created; must not be a file)")
    parser.add_argument("--seed", type=int, required=True, help="random seed: the same seed gives the same study")
    parser.add_argument("--lesions", type=int, default=6, metavar="K", help="number of lesions (default 6)")
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 256, 256), metavar=("Z", "Y", "X"),
                        help="array size in voxels, slices first (default 64 256 256)")
    parser.add_argument("--spacing", type=float, nargs=3, default=(0.8, 0.8, 2.5), metavar=("X", "Y", "Z"),
                        help="voxel size in mm (default 0.8 0.8 2.5)")
    parser.add_argument("--lesion-model", choices=("v1", "v2"), default="v1",
                        help="v1 (default; the shipped detector's training data and the demo): class-specific "
                             "sizes of 5-45 mm; v2: 5-100 mm for every class (shrunk to fit), more lobulated, and "
                             "one draw of scanner variation (noise, kernel, slice thickness, contrast timing)")
    parser.add_argument("--force", action="store_true", help="write into OUT even when it already holds files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if args.lesions < 0:
        raise CliError(f"--lesions must be 0 or more, got {args.lesions}")
    if min(args.shape) < 8:
        raise CliError(f"--shape needs at least 8 voxels along each axis, got {' '.join(map(str, args.shape))}")
    if min(args.spacing) <= 0:
        raise CliError(f"--spacing must be positive mm, got {' '.join(map(str, args.spacing))}")
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} exists and is not a folder: choose another OUT")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise CliError(f"{out} is not empty: choose another OUT or pass --force to overwrite")
    start = time.perf_counter()
    study = generate_ct_study(args.seed, n_lesions=args.lesions, shape=tuple(args.shape),
                              spacing_mm=tuple(args.spacing), lesion_model=args.lesion_model)
    write_phantom_study(study, out)
    z, y, x = study.shape
    sx, sy, sz = study.spacing_mm
    print(f"wrote a 4-phase phantom (seed {args.seed}, {z}x{y}x{x} voxels of {sx:g}x{sy:g}x{sz:g} mm) "
          f"with {len(study.lesions)} lesions to {out} in {time.perf_counter() - start:.1f} s")
    for les in study.lesions:
        print(f"  lesion {les.lesion_id}: {les.lesion_class:<10} RECIST {les.long_axis_length_mm:5.1f} x "
              f"{les.short_axis_length_mm:5.1f} mm on slice {les.key_slice}")
    shifts = ", ".join(f"{k.short} ({s[0]:+.1f}, {s[1]:+.1f}, {s[2]:+.1f})" for k, s in study.shifts_mm.items())
    print(f"  true breathing shifts (x, y, z mm): {shifts}")
    print(f"  ground truth: {out / LESION_TABLE_FILE}, {out / STUDY_FILE}")
    return 0
