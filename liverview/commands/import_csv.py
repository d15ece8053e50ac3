"""`liverview import-csv STUDY... --csv DL_info.csv`: add RECIST marks from DeepLesion-layout rows.

Every row is checked (image size, spacing, key slice, end points inside the image, short axis not longer than
the long one and roughly perpendicular) and the whole file goes into the project in one transaction: an
interrupted import leaves the project as it was. A million rows take well under a minute
(benchmarks/bench_csv_import.py)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from liverview.cli import EXIT_INTERRUPTED, EXIT_PARTIAL, CliError
from liverview.commands.export_annotations import add_take_over_flag, open_study_project
from liverview.io.export.deeplesion_csv import DeepLesionCsvError
from liverview.io.export.deeplesion_import import import_deeplesion_table

MAX_LISTED = 50  # rows not imported listed one by one; the rest are counted


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-csv", help="import RECIST marks from a DeepLesion DL_info.csv-layout file into a study's project",
        description="Add one lesion with its RECIST mark per row that fits the study's grid, all rows in one "
                    "transaction (an interrupted import changes nothing). Malformed rows and rows that do not fit "
                    "(image size, spacing, slice, end points outside the image, a short axis longer than the long "
                    "one or not roughly perpendicular) are listed with their line numbers.")
    parser.add_argument("paths", metavar="PATH", nargs="+", help="the study: DICOM folder(s) or volume files")
    parser.add_argument("--csv", required=True, type=Path, help="DL_info.csv-layout file")
    parser.add_argument("--project", type=Path, help="project file (default: the study's own project)")
    add_take_over_flag(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    parser.set_defaults(func=run)


class _ProgressLine:
    """One updating line on stderr (only on a terminal): stage, rows, rate."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-6)
        share = f" {100 * done / total:3.0f} %" if total else ""
        print(f"\r  {stage}: {done:,} rows{share} ({elapsed:.0f} s)   ", end="", file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if not args.csv.is_file():
        raise CliError(f"{args.csv} is not a file")
    study, project, study_id = open_study_project(args.paths, args.project, read_only=False,
                                                  take_over_lock=args.take_over_lock)
    progress = _ProgressLine(not args.quiet)
    try:
        result = import_deeplesion_table(project, study_id, study, args.csv, progress=progress)
    except KeyboardInterrupt:
        progress.end()
        print(f"liverview import-csv: interrupted: nothing was imported into {project.path} "
              "(the import is one transaction)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DeepLesionCsvError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        progress.end()
        project.close()
    print(f"imported {len(result.added)} lesion(s) into {project.path}")
    for line in result.problems[:MAX_LISTED]:
        print(f"  not imported: {line}")
    if len(result.problems) > MAX_LISTED:
        print(f"  ... and {len(result.problems) - MAX_LISTED} more row(s) not imported")
    return EXIT_PARTIAL if result.problems else 0  # as `import`: 1 = done, some rows left out (listed above)
