"""Find the CT studies of an archive folder, and say what was left out and why.

Three layouts are recognised, in this order, folder by folder:
- a phantom folder (``study.json`` naming one volume file per phase, as `liverview synth-ct` writes it): one
  study; its sub-folders are not searched;
- a folder holding volume files (NIfTI, NRRD, MetaImage) at its top level: one study, one phase per file (label
  maps and masks, named so, left out), as `liverview detect FOLDER` reads it; its sub-folders are searched too;
- DICOM files anywhere else: their headers (no pixels) are read and grouped into studies by StudyInstanceUID
  and into series by SeriesInstanceUID. Only CT image series are kept; other modalities, non-image objects,
  localizers and non-DICOM files are listed as skipped.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from liverview.io.dicom_header import image_types, missing_tag_reason, read_header, tag_text
from liverview.io.study_loader import looks_like_label_map
from liverview.io.volumes import is_volume_file

PHANTOM_FILE = "study.json"
_HEADER_TAGS = ["Modality", "StudyInstanceUID", "SeriesInstanceUID", "ImageType", "PatientID", "StudyDescription",
                "SeriesDescription", "DirectoryRecordSequence"]
# DICOM objects that hold no image (reports, structure sets, segmentations, presentation states, ...)
_NON_IMAGE_MODALITIES = {"SR", "RTSTRUCT", "RTPLAN", "RTRECORD", "RTDOSE", "SEG", "PR", "KO", "REG", "DOC"}


class ArchiveError(ValueError):
    """The archive cannot be searched (missing, not a folder)."""


@dataclass(frozen=True)
class StudySource:
    """One study found in the archive: where it lies and which files make it up."""

    kind: str  # "phantom", "volumes" or "dicom"
    location: Path  # the study's folder (DICOM: the deepest folder holding all its files)
    files: tuple[Path, ...]  # phantom / volumes: one file per phase; DICOM: the study's CT image files
    study_uid: str = ""  # DICOM StudyInstanceUID
    series_uids: tuple[str, ...] = ()
    whole_folder: bool = True  # DICOM: no other study's (or non-CT) DICOM file lies under ``location``
    description: str = ""
    patient_id: str = ""

    @property
    def label(self) -> str:
        """How the study is named to people: its folder, and for DICOM its description."""
        return f"{self.location}" + (f" ({self.description})" if self.description else "")


@dataclass
class ArchiveListing:
    """The studies found, and every file or folder left out with the reason."""

    studies: list[StudySource] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def skipped_by_reason(self) -> dict[str, list[Path]]:
        grouped: dict[str, list[Path]] = defaultdict(list)
        for path, reason in self.skipped:
            grouped[reason].append(path)
        return dict(grouped)


@dataclass(frozen=True)
class _DicomHeader:
    path: Path
    study_uid: str
    series_uid: str
    modality: str
    localizer: bool
    patient_id: str
    study_description: str


def read_dicom_header(path: Path) -> _DicomHeader | str:
    """The tags that place a file in a study and series, or the reason it is no DICOM image file."""
    ds = read_header(path, _HEADER_TAGS)
    if isinstance(ds, str):
        return ds
    return _DicomHeader(path, tag_text(ds, "StudyInstanceUID"), tag_text(ds, "SeriesInstanceUID"),
                        tag_text(ds, "Modality").upper(), "LOCALIZER" in image_types(ds), tag_text(ds, "PatientID"),
                        tag_text(ds, "StudyDescription"))


def _phantom_source(folder: Path) -> StudySource | str:
    """The phantom study of a folder with study.json, or why it cannot be one."""
    try:
        meta = json.loads((folder / PHANTOM_FILE).read_text(encoding="utf-8"))
        files = [folder / info["file"] for info in meta["phases"].values()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"{PHANTOM_FILE} is not a phantom description ({type(exc).__name__}: {exc})"
    if not files:
        return f"{PHANTOM_FILE} names no phase"
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        return f"{PHANTOM_FILE} names phase files that are not there: {', '.join(missing)}"
    return StudySource("phantom", folder, tuple(files))


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def find_studies(archive: str | os.PathLike[str]) -> ArchiveListing:
    """Every CT study under ``archive`` (searched recursively, in sorted order) and what was skipped."""
    root = Path(archive)
    if not root.exists():
        raise ArchiveError(f"{root}: no such folder")
    if not root.is_dir():
        raise ArchiveError(f"{root} is a file: give the folder that holds the studies")
    listing = ArchiveListing()
    headers: list[_DicomHeader] = []
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        for name in sorted(d for d in dirnames if _is_hidden(d)):
            listing.skipped.append((folder / name, "hidden folder"))
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        files = sorted(filenames)
        if PHANTOM_FILE in files:
            found = _phantom_source(folder)
            if isinstance(found, str):
                listing.skipped.append((folder, found))
            else:
                listing.studies.append(found)
            dirnames[:] = []  # masks, labels and derived files of the phantom live below it
            continue
        volume_files = [folder / f for f in files if is_volume_file(f) and not _is_hidden(f)]
        images = [f for f in volume_files if not looks_like_label_map(f)]
        if images:
            listing.studies.append(StudySource("volumes", folder, tuple(images)))
            for f in files:
                path = folder / f
                if path in images:
                    continue
                reason = ("label map or mask (by its name), not a phase" if path in volume_files
                          else "not a volume file (this folder is read as one volume file per phase)")
                listing.skipped.append((path, reason))
            continue
        for f in files:
            path = folder / f
            if _is_hidden(f):
                listing.skipped.append((path, "hidden file"))
            elif is_volume_file(f):
                listing.skipped.append((path, "label map or mask (by its name), not a phase"))
            else:
                header = read_dicom_header(path)
                if isinstance(header, str):
                    listing.skipped.append((path, header))
                else:
                    headers.append(header)
    listing.studies.extend(_dicom_studies(headers, listing.skipped))
    return listing


def _dicom_studies(headers: list[_DicomHeader], skipped: list[tuple[Path, str]]) -> list[StudySource]:
    """Group DICOM headers into CT studies; everything not a CT image goes to ``skipped``."""
    kept: dict[str, list[_DicomHeader]] = {}
    for h in headers:
        if not h.series_uid:
            skipped.append((h.path, missing_tag_reason(h.path, "SeriesInstanceUID")))
        elif h.modality in _NON_IMAGE_MODALITIES:
            skipped.append((h.path, f"not an image (Modality {h.modality})"))
        elif not h.modality:
            skipped.append((h.path, missing_tag_reason(h.path, "Modality")))
        elif h.modality != "CT":
            skipped.append((h.path, f"{h.modality} Modality, not CT"))
        elif h.localizer:
            skipped.append((h.path, "CT localizer (scout) image, not a phase"))
        else:
            # a file without StudyInstanceUID makes a study of its series alone
            kept.setdefault(h.study_uid or f"series:{h.series_uid}", []).append(h)
    # which DICOM files lie in each folder: a study whose folder holds nothing else is read as that folder
    by_folder: dict[str, set[Path]] = defaultdict(set)
    for h in headers:
        by_folder[str(h.path.parent)].add(h.path)
    folders = sorted(by_folder)
    studies = []
    for group in kept.values():
        files = tuple(h.path for h in group)
        location = Path(os.path.commonpath([str(f.parent) for f in files]))
        prefix = str(location)
        under: set[Path] = set()
        for folder in folders[bisect.bisect_left(folders, prefix):]:
            if not folder.startswith(prefix):
                break  # the folders starting with the prefix text are contiguous in sorted order
            if folder == prefix or folder.startswith(prefix.rstrip(os.sep) + os.sep):
                under |= by_folder[folder]
        first = group[0]
        studies.append(StudySource(
            "dicom", location, files, first.study_uid, tuple(sorted({h.series_uid for h in group})),
            whole_folder=under == set(files), description=first.study_description, patient_id=first.patient_id))
    return studies
