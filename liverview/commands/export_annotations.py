"""`liverview export STUDY... --format F --out FILE`: write a study's annotations for other tools.

The study is opened from the same paths as in the app, so it finds the same per-study project
(or the one named by --project). The project is opened read-only: exporting never blocks the app.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from liverview.cli import EXIT_PARTIAL, CliError
from liverview.io.errors import LoadError
from liverview.io.export.project_export import EXPORT_FORMATS, ExportError, export_annotations, export_sr_with_seg
from liverview.io.study_loader import load_study
from liverview.store.project import Project
from liverview.store.records import StoreError
from liverview.store.study_link import default_project_path, ensure_study, find_study


def register(subparsers: argparse._SubParsersAction) -> None:
    formats = "; ".join(f"{k}: {v}" for k, v in EXPORT_FORMATS.items())
    parser = subparsers.add_parser(
        "export", help="export a study's lesions (JSON, DeepLesion CSV, NIfTI labels, DICOM SR / SEG)",
        description=f"Export the annotations of the study at PATH... Formats: {formats}.")
    parser.add_argument("paths", metavar="PATH", nargs="+", help="the study: DICOM folder(s) or volume files")
    parser.add_argument("--format", required=True, choices=sorted(EXPORT_FORMATS), help="file format")
    parser.add_argument("--out", required=True, type=Path, help="file to write")
    parser.add_argument("--project", type=Path, help="project file (default: the study's own project)")
    parser.add_argument("--observer", help="reader name for DICOM SR, as Family^Given (default: the readers who "
                                           "made the measurements, as the project recorded them)")
    parser.add_argument("--seg-out", type=Path, help="with --format sr: also write the lesion masks as a DICOM SEG "
                                                     "to this file, referenced from the SR (shared tracking UIDs)")
    parser.set_defaults(func=run)


def add_take_over_flag(parser: argparse.ArgumentParser) -> None:
    """``--take-over-lock``, for every command that opens a project for editing."""
    parser.add_argument("--take-over-lock", action="store_true",
                        help="take over the project's lock when it names a LiverView on another computer that is "
                             "no longer running (the error message says who holds it and since when)")


def open_study_project(paths: list[str], project_path: Path | None, read_only: bool, take_over_lock: bool = False,
                       user: str | None = None):
    """(study, project, study id) for the study at ``paths``; CliError when either cannot be opened (a
    damaged project opens read-only when only reading is asked, and says so on stderr). ``user``: who the
    project records as making the changes (default: the login name)."""
    try:
        study = load_study(paths).study
    except LoadError as exc:
        raise CliError(str(exc)) from exc
    path = project_path or default_project_path(study)
    user = user or getpass.getuser()
    try:
        if not path.exists():
            if read_only:
                raise CliError(f"no annotations for this study: project {path} does not exist "
                               "(open the study in the app, or pass --project)")
            path.parent.mkdir(parents=True, exist_ok=True)
            project = Project.create(path, user)
        else:
            project = Project.open(path, user, read_only=read_only, take_over_lock=take_over_lock)
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    if project.damage:
        print(f"liverview: warning: {path} is damaged ({project.damage}); reading what is left", file=sys.stderr)
    study_id = find_study(project, study)
    if study_id is None:
        if read_only:
            project.close()
            raise CliError(f"project {path} holds no annotations of this study")
        return study, project, ensure_study(project, study)
    return study, project, study_id


def run(args: argparse.Namespace) -> int:
    if args.seg_out is not None and args.format != "sr":
        raise CliError("--seg-out goes with --format sr (the SR that references the SEG)")
    study, project, study_id = open_study_project(args.paths, args.project, read_only=True)
    try:
        if args.seg_out is not None:
            results = export_sr_with_seg(project, study_id, study, args.out, args.seg_out, observer=args.observer)
            formats = ["sr", "seg"]
        else:
            results = (export_annotations(project, study_id, study, args.format, args.out, observer=args.observer),)
            formats = [args.format]
    except ExportError as exc:
        raise CliError(str(exc)) from exc
    finally:
        project.close()
    missing = []  # asked for, not written (a SEG with no lesion mask to hold)
    for fmt, result in zip(formats, results):
        if result.file_written:
            print(f"wrote {result.written} lesion(s) to {result.path} ({EXPORT_FORMATS[fmt]})")
        else:
            missing.append(result.path)
            print(f"did not write {result.path} ({EXPORT_FORMATS[fmt]}): no lesion to put in it")
        for line in result.skipped:
            print(f"  left out: {line}")
        for line in result.notes:
            print(f"  note: {line}")
    return EXIT_PARTIAL if missing else 0
