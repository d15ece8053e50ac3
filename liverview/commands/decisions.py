"""`liverview decisions PROJECT --out FILE [--format csv|json] [--reviewer NAME]`: every review decision of a
project (who, when, what, on which proposal of which study), oldest first. The project is opened read-only, so
it can be read while a reader has it open for editing."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from liverview.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "decisions",
        help="list the review decisions of a project: who decided what on which proposal, when (CSV or JSON)",
        description="Write every review decision of PROJECT (accepted, edited, rejected, flagged), oldest first, with "
                    "the reviewer, the time (UTC), the proposal (score, class, box in patient mm, the model that "
                    "made it) and its study. Decisions taken back with undo are not listed.")
    parser.add_argument("project", type=Path, metavar="PROJECT", help="project file (.lvproj)")
    parser.add_argument("--out", required=True, type=Path, help="file to write")
    parser.add_argument("--format", choices=("csv", "json"), default=None,
                        help="csv or json (default: from --out's suffix, else csv)")
    parser.add_argument("--reviewer", help="only this reviewer's decisions")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liverview.io.export.decisions_export import write_decisions
    from liverview.store.project import Project
    from liverview.store.records import StoreError

    fmt = args.format or ("json" if args.out.suffix.lower() == ".json" else "csv")
    if not args.project.exists():
        raise CliError(f"project {args.project} does not exist")
    if not args.project.is_file():
        raise CliError(f"{args.project} is a folder, not a project file")
    if args.out.is_dir():
        raise CliError(f"--out {args.out} is a folder: give the file to write")
    if not args.out.parent.is_dir():
        raise CliError(f"--out {args.out}: folder {args.out.parent} does not exist")
    try:
        with Project.open(args.project, getpass.getuser(), read_only=True) as project:
            rows = project.decision_log()
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    if args.reviewer is not None:
        rows = [r for r in rows if r.reviewer == args.reviewer]
    write_decisions(rows, args.out, fmt)
    studies = len({r.study_id for r in rows})
    by = f" by {args.reviewer}" if args.reviewer is not None else ""
    print(f"wrote {len(rows)} decision(s){by} on proposals of {studies} stud{'y' if studies == 1 else 'ies'} "
          f"to {args.out} ({fmt})")
    return 0
