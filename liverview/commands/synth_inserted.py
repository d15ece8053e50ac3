"""`liverview synth-inserted HOST --out DIR --seeds A-B`: synthetic lesions inserted into a real CT liver,
one training study per seed (see liverview.synth.lesion_insertion)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from liverview.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth-inserted", help="insert synthetic lesions into a real CT liver (detector training data)",
        description="Read a real single-phase CT (a DICOM folder or a volume file; taken as portal venous), "
                    "find its liver with the liver-segmenter plugin, and write one training study per seed "
                    "into OUT/<name>_s<seed>: the scan with 5-100 mm lesions of the four classes painted into "
                    "its liver and one draw of scanner variation (noise, kernel, slice thickness, contrast "
                    "timing, patient size), lesion labels, lesions.csv and an ignore mask over host regions "
                    "that may be real, unlabelled lesions. `train-detector --data OUT` reads it.")
    parser.add_argument("host", metavar="HOST", type=Path, help="DICOM folder or volume file of a real CT")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--name", default=None, help="host name used in study names (default: HOST's name)")
    parser.add_argument("--seeds", required=True, metavar="A-B", help="seed range, e.g. 1-12 (one study each)")
    parser.add_argument("--lesions", type=int, default=6, metavar="K", help="lesions per study (default 6)")
    parser.add_argument("--size-range", nargs=2, type=float, default=None, metavar=("MIN", "MAX"),
                        help="lesion diameters in mm, drawn log-uniform (default 5 100)")
    parser.add_argument("--surface-depth", type=float, default=None, metavar="MM",
                        help="let a lesion's centre lie only MM inside the liver (default: 0.6 of the lesion's "
                             "extent), so that lesions too large for the host's liver are cut off at its surface "
                             "instead of being shrunk to fit (without it few lesions exceed about 55 mm)")
    parser.add_argument("--max-extent", type=float, default=None, metavar="MM",
                        help="every lesion, lobes included, fits a sphere MM across (default: 1.15 x the largest "
                             "diameter); 57.5 makes the data of the shipped detector's recipe, drawn while a bug "
                             "halved this bound")
    parser.add_argument("--appearance", default="PV", metavar="PHASES",
                        help="comma-separated phases (NC, ART, PV, DEL) whose look the lesions take, one drawn per "
                             "lesion: its class's contrast to the liver in that phase, added to the host's liver "
                             "(default PV, the host's own phase; ART,PV,DEL gives the bright hypervascular lesions "
                             "of arterial-phase scans too)")
    parser.add_argument("--no-augment", action="store_true", help="no scanner variation (lesions only)")
    parser.add_argument("--liver-segmenter", default="liver_mask", metavar="NAME",
                        help="liver-segmenter contribution that finds the host's liver (default liver_mask, the "
                             "classical method every shipped model's data was made with, whatever the app's default)")
    parser.set_defaults(func=run)


def _seed_range(text: str) -> range:
    try:
        a, _, b = text.partition("-")
        lo, hi = int(a), int(b or a)
    except ValueError:
        raise CliError(f"--seeds must be A-B with whole numbers, got {text!r}") from None
    if hi < lo:
        raise CliError(f"--seeds {text}: the range is empty")
    return range(lo, hi + 1)


def _appearance_phases(text: str) -> tuple:
    from liverview.core.study import PHASE_ORDER

    by_short = {p.short: p for p in PHASE_ORDER}
    names = [t.strip().upper() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in by_short]
    if not names or unknown:
        raise CliError(f"--appearance takes phases among {', '.join(by_short)} separated by commas, got {text!r}")
    return tuple(dict.fromkeys(by_short[n] for n in names))


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from liverview.core.study import PhaseKind
    from liverview.io.study_loader import load_study
    from liverview.commands.model_choice import create, resolve
    from liverview.synth.lesion_insertion import (SIZE_RANGE_MM, generate_inserted_study, prepare_host,
                                                  write_inserted_study)

    seeds = _seed_range(args.seeds)
    if args.lesions < 1:
        raise CliError(f"--lesions must be at least 1, got {args.lesions}")
    appearance = _appearance_phases(args.appearance)
    sizes_mm = SIZE_RANGE_MM if args.size_range is None else tuple(args.size_range)
    if not 0 < sizes_mm[0] <= sizes_mm[1] <= SIZE_RANGE_MM[1]:
        raise CliError(f"--size-range needs 0 < MIN <= MAX <= {SIZE_RANGE_MM[1]:g} mm, got {sizes_mm[0]:g} {sizes_mm[1]:g}")
    if args.surface_depth is not None and args.surface_depth < 0:
        raise CliError(f"--surface-depth must be at least 0 mm, got {args.surface_depth:g}")
    if args.max_extent is not None and args.max_extent <= 0:
        raise CliError(f"--max-extent must be above 0 mm, got {args.max_extent:g}")
    if not args.host.exists():
        raise CliError(f"{args.host} does not exist")
    name = args.name or args.host.name
    loaded = load_study([args.host])
    if len(loaded.study.phases) != 1:
        raise CliError(f"{args.host} holds {len(loaded.study.phases)} series; give one single-phase CT")
    volume = loaded.study.phases[0].volume
    segmenter = create(resolve("liver-segmenter", args.liver_segmenter), "cpu")
    start = time.perf_counter()
    liver = segmenter.segment({PhaseKind.PORTAL_VENOUS: volume}, PhaseKind.PORTAL_VENOUS)
    try:
        host = prepare_host(volume, liver, name)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    voxel_ml = float(np.prod(host.image.spacing)) / 1000
    liver_ml, ignored_ml = host.liver.sum() * voxel_ml, host.suspicious.sum() * voxel_ml
    print(f"host {name}: liver {liver_ml:.0f} mL at {host.liver_hu:.0f} HU, {ignored_ml:.0f} mL marked as possible "
          f"real lesions (ignored in training)", file=sys.stderr)
    for seed in seeds:
        study = generate_inserted_study(host, seed, args.lesions, augment=not args.no_augment, size_range_mm=sizes_mm,
                                        max_centre_depth_mm=args.surface_depth, max_extent_mm=args.max_extent,
                                        appearance=appearance)
        out = write_inserted_study(study, args.out / f"{name}_s{seed}")
        sizes = ", ".join(f"{les.lesion_class}{'' if len(appearance) == 1 else ' ' + phase.short} "
                          f"{les.long_axis_length_mm:.0f}" for les, phase in zip(study.lesions, study.appearance))
        print(f"{out}: {len(study.lesions)} lesions (mm: {sizes})")
    print(f"{len(seeds)} studies in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0
