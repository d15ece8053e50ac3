"""`liverview import FILE... --project P [--study PATH...] [--reader NAME]`: add lesions from other tools' files.

The format is read from each file's content: DICOM SR (TID 1500 RECIST measurements), DICOM SEG (one lesion per
segment), NIfTI label map (one label value per lesion) or DeepLesion DL_info.csv layout (as `import-csv`). Each
file is one transaction; what did not fit is listed. The study is the one named by --study, else the project's
(found by the DICOM files' Study Instance UID when the project holds several)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from liverview.cli import EXIT_INTERRUPTED, EXIT_PARTIAL, EXIT_USAGE, CliError, one_line
from liverview.commands.export_annotations import add_take_over_flag, open_study_project
from liverview.io.export.annotation_import import IMPORT_FORMATS, ImportFormatError, import_annotations
from liverview.io.errors import LoadError
from liverview.io.study_loader import load_study
from liverview.store.project import Project
from liverview.store.records import StoreError
from liverview.store.study_link import legacy_study_key, study_key

MAX_LISTED = 50  # items not imported listed one by one per file; the rest are counted


def register(subparsers: argparse._SubParsersAction) -> None:
    formats = "; ".join(IMPORT_FORMATS.values())
    parser = subparsers.add_parser(
        "import", help="import lesions from DICOM SR / SEG, NIfTI label maps or DeepLesion CSV into a project",
        description=f"Add the lesions of each FILE to a study's project; the format is read from the file's content "
                    f"({formats}). Each file is one transaction (an interrupted or failed file changes nothing); "
                    "items that do not fit (a measurement type LiverView does not import, a segment on a series the "
                    "study lacks, a label map on another grid) are listed. `import-csv` does the CSV case too.")
    parser.add_argument("files", metavar="FILE", nargs="+", type=Path, help="files to import")
    parser.add_argument("--project", type=Path, help="project file (default with --study: the study's own project)")
    parser.add_argument("--study", metavar="PATH", nargs="+",
                        help="the study: DICOM folder(s) or volume files (default: the project's study)")
    parser.add_argument("--reader", help="who made the annotations, recorded with each lesion (default: an SR's "
                                         "observers, else the login name)")
    add_take_over_flag(parser)
    parser.set_defaults(func=run)


def _study_uid_of(files: list[Path]) -> str:
    """The Study Instance UID of the first DICOM file among ``files``, or ""."""
    import pydicom

    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
        except Exception:  # not DICOM: the importer says what it is
            continue
        if ds.get("StudyInstanceUID"):
            return str(ds.StudyInstanceUID)
    return ""


def _open_projects_study(args: argparse.Namespace, user: str):
    """(study, project, study id) from the project alone: its one study, or the one the DICOM files name."""
    if args.project is None or not args.project.exists():
        raise CliError("name the study with --study PATH..., or an existing project with --project")
    try:
        project = Project.open(args.project, user, take_over_lock=args.take_over_lock)
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    try:
        studies = project.list_studies()
        uid = _study_uid_of(args.files)
        chosen = [s for s in studies if s.uid == uid] if uid and len(studies) > 1 else studies
        if len(chosen) != 1:
            raise CliError(f"{args.project} holds {len(studies)} studies"
                           + (f", none of them {uid}" if uid and not chosen else "")
                           + ": name the study with --study PATH...")
        record = chosen[0]
        sources = list(dict.fromkeys(p.source_path for p in project.list_phases(record.id)))
        try:
            study = load_study(sources).study
        except LoadError as exc:
            raise CliError(f"the project's study cannot be loaded from {', '.join(sources)}: {exc}; "
                           "name it with --study PATH...") from exc
        if record.uid not in (study_key(study), legacy_study_key(study)):
            raise CliError(f"the files at {', '.join(sources)} are no longer the project's study: name it with --study")
        return study, project, record.id
    except BaseException:
        project.close()
        raise


def run(args: argparse.Namespace) -> int:
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise CliError(f"not a file: {', '.join(missing)}")
    user = args.reader or getpass.getuser()
    if args.study:
        study, project, study_id = open_study_project(args.study, args.project, read_only=False,
                                                      take_over_lock=args.take_over_lock, user=user)
    else:
        study, project, study_id = _open_projects_study(args, user)
    added, failed, skipped = 0, 0, 0
    try:
        for path in args.files:
            try:
                result = import_annotations(project, study_id, study, path, reader=args.reader)
            except KeyboardInterrupt:
                print(f"liverview import: interrupted: nothing of {path.name} was imported (one transaction per file)",
                      file=sys.stderr)
                return EXIT_INTERRUPTED
            except (ImportFormatError, ValueError, OSError, StoreError) as exc:
                failed += 1
                print(f"liverview import: {path}: error: {one_line(exc)}; nothing of it was imported", file=sys.stderr)
                continue
            added += len(result.added) + len(result.completed)
            skipped += len(result.skipped)
            completed = (f"; completed {len(result.completed)} lesion(s) already in the project (same tracking UID): "
                         f"{', '.join(map(str, result.completed))}" if result.completed else "")
            print(f"imported {len(result.added)} lesion(s) from {path} ({IMPORT_FORMATS[result.format]}) "
                  f"into {project.path}{completed}")
            for line in result.skipped[:MAX_LISTED]:
                print(f"  not imported: {line}")
            if len(result.skipped) > MAX_LISTED:
                print(f"  ... and {len(result.skipped) - MAX_LISTED} more item(s) not imported")
            for line in result.notes:
                print(f"  note: {line}")
    finally:
        project.close()
    if failed and not added:
        return EXIT_USAGE
    return EXIT_PARTIAL if failed or skipped else 0
