"""`liverview synth-us OUT --seed N --count K`: synthetic liver B-mode images with lesion masks and classes."""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

from liverview.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth-us", help="write synthetic B-mode ultrasound images with lesion masks and classes",
        description="Generate K synthetic liver ultrasound images (speckle, depth attenuation, shadowing), one "
                    "lesion each (cyst, hemangioma, metastasis, HCC in turn) with its typical echo pattern. "
                    "Writes OUT/images/*.png, OUT/masks/*.png and OUT/labels.csv (class, pixel size, box).")
    parser.add_argument("out", metavar="OUT", type=Path, help="output folder (created)")
    parser.add_argument("--seed", type=int, required=True, help="random seed: the same seed gives the same images")
    parser.add_argument("--count", type=int, default=100, metavar="K", help="number of images (default 100)")
    parser.add_argument("--force", action="store_true", help="write into OUT even when it already holds files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liverview.synth.us_phantom import LABELS_FILE, write_us_dataset

    out: Path = args.out
    if args.count < 1:
        raise CliError(f"--count must be at least 1, got {args.count}")
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} exists and is not a folder: choose another OUT")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise CliError(f"{out} is not empty: choose another OUT or pass --force to overwrite")
    start = time.perf_counter()
    rows = write_us_dataset(out, args.seed, args.count)
    counts = collections.Counter(r["class"] for r in rows)
    print(f"wrote {len(rows)} synthetic ultrasound images (seed {args.seed}) to {out} in "
          f"{time.perf_counter() - start:.1f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"  ground truth: {out / LABELS_FILE} (masks in {out / 'masks'})")
    return 0
