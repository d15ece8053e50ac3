"""`liverview import-csv STUDY... --csv DL_info.csv`: add RECIST marks from DeepLesion-layout rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.export_annotations import open_study_project
from liverview.io.export.deeplesion_csv import DeepLesionCsvError
from liverview.io.export.project_export import ExportError, import_deeplesion_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-csv", help="import RECIST marks from a DeepLesion DL_info.csv-layout file into a study's project",
        description="Add one lesion with its RECIST mark per row that fits the study's grid. Malformed rows and "
                    "rows that do not fit (image size, spacing, slice) are listed with their line numbers.")
    parser.add_argument("paths", metavar="PATH", nargs="+", help="the study: DICOM folder(s) or volume files")
    parser.add_argument("--csv", required=True, type=Path, help="DL_info.csv-layout file")
    parser.add_argument("--project", type=Path, help="project file (default: the study's own project)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.csv.is_file():
        raise CliError(f"{args.csv} is not a file")
    study, project, study_id = open_study_project(args.paths, args.project, read_only=False)
    try:
        result = import_deeplesion_csv(project, study_id, study, args.csv)
    except (DeepLesionCsvError, ExportError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        project.close()
    print(f"imported {len(result.added)} lesion(s) into {project.path}")
    for line in result.problems:
        print(f"  not imported: {line}")
    return 0 if result.added or not result.problems else 1
