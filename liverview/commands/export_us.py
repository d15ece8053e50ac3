"""`liverview export-us IMAGE --format json|nifti|png --out FILE [--project P]`: write the lesions saved on an
ultrasound image for other tools. The project (default: the image's own, as the app uses) is opened read-only."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from liverview.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    from liverview.io.export.us_export import US_EXPORT_FORMATS

    formats = "; ".join(f"{k}: {v}" for k, v in US_EXPORT_FORMATS.items())
    parser = subparsers.add_parser(
        "export-us", help="export the lesions saved on an ultrasound image (JSON, NIfTI labels, label PNG)",
        description=f"Export the lesions saved on the ultrasound IMAGE. Formats: {formats}. DICOM SR/SEG and "
                    "DeepLesion CSV are CT-only.")
    parser.add_argument("image", type=Path, metavar="IMAGE", help="the ultrasound image (DICOM US, PNG, JPEG, BMP)")
    parser.add_argument("--format", required=True, help="json, nifti or png")
    parser.add_argument("--out", required=True, type=Path, help="file to write")
    parser.add_argument("--project", type=Path, help="project file (default: the image's own project)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liverview.io.export.us_export import (US_EXPORT_FORMATS, ExportError, check_us_export_format,
                                               export_us_annotations, find_us_study)
    from liverview.store.project import Project
    from liverview.store.records import StoreError
    from liverview.store.ultrasound import default_us_project_path
    from liverview.us.image import UsImageError, load_us_image

    try:  # a wrong format is said first, before the image and project are looked for
        check_us_export_format(args.format)
    except ExportError as exc:
        raise CliError(str(exc)) from exc
    try:
        image = load_us_image(args.image)
    except UsImageError as exc:
        raise CliError(str(exc)) from exc
    path = args.project or default_us_project_path(image.source)
    if not path.exists():
        raise CliError(f"no lesions saved for this image: project {path} does not exist "
                       "(save lesions in the ultrasound workspace, or pass --project)")
    try:
        project = Project.open(path, getpass.getuser(), read_only=True)
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    try:
        study_id = find_us_study(project, image.source)
        if study_id is None:
            raise CliError(f"project {path} holds no lesions of {image.source}")
        result = export_us_annotations(project, study_id, image, args.format, args.out)
    except (ExportError, StoreError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        project.close()
    print(f"wrote {result.written} lesion(s) to {result.path} ({US_EXPORT_FORMATS[args.format]}, "
          f"lengths in {image.units})")
    for line in result.skipped:
        print(f"  left out: {line}")
    return 0
