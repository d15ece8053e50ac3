"""Index a folder (or dropped files) for the study browser: patient > study > series, with modality and phase.

Only headers are read (pydicom ``stop_before_pixels``), so indexing a large archive costs a file open per file,
never a pixel decode. What is indexed:
- DICOM CT and US image files, grouped by PatientID, StudyInstanceUID and SeriesInstanceUID; a DICOM US file is
  one entry of its own (the ultrasound workspace opens one image or cine at a time);
- volume files (NIfTI, NRRD, MetaImage): one CT series each, a folder of them one study (as the loader reads it);
- raster images (PNG, JPEG, BMP): one ultrasound image each.
Everything else is listed as skipped with the reason. No Qt: the browser dock shows what this returns.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from liverview.core.indexed_series import IndexedSeries
from liverview.io.dicom_header import image_types, missing_tag_reason, read_header, tag_text
from liverview.io.phase_inference import phase_from_text
from liverview.io.study_loader import looks_like_label_map
from liverview.io.volumes import is_volume_file, volume_stem

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
US_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1"}  # US Image, US Multi-frame
_HEADER_TAGS = ["Modality", "SOPClassUID", "PatientID", "PatientName", "StudyInstanceUID", "StudyDate",
                "StudyDescription", "SeriesInstanceUID", "SeriesDescription", "SeriesNumber", "ImageType",
                "NumberOfFrames", "DirectoryRecordSequence"]
NO_PATIENT = "(no patient ID)"


class StudyIndexError(ValueError):
    """The given path cannot be indexed (missing)."""


@dataclass
class IndexListing:
    series: list[IndexedSeries] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def phase_of(text: str) -> str:
    """The phase a series description or file name names ("" when it names none)."""
    found = phase_from_text(text) if text else None
    return found[0].value if found else ""


@dataclass(frozen=True)
class _Header:
    path: Path
    modality: str
    sop_uid: str
    patient_id: str
    patient_name: str
    study_uid: str
    study_date: str
    study_description: str
    series_uid: str
    series_description: str
    series_number: int | None
    frames: int


def _read_header(path: Path) -> _Header | str:
    """The tags that place a DICOM file, or why it is not indexed."""
    ds = read_header(path, _HEADER_TAGS + ["SOPInstanceUID"])
    if isinstance(ds, str):
        return ds
    modality = tag_text(ds, "Modality").upper()
    if tag_text(ds, "SOPClassUID") in US_SOP_CLASSES:
        modality = "US"  # the storage class is the stronger word: some exports leave Modality wrong or empty
    if not modality:
        return missing_tag_reason(path, "Modality")
    if modality not in ("CT", "US"):
        return f"{modality} Modality: the browser indexes CT and ultrasound images"
    if modality == "CT" and "LOCALIZER" in image_types(ds):
        return "CT localizer (scout) image, not a phase"
    try:
        number = int(tag_text(ds, "SeriesNumber")) if tag_text(ds, "SeriesNumber") else None
    except ValueError:
        number = None
    try:
        frames = max(1, int(tag_text(ds, "NumberOfFrames") or 1))
    except ValueError:
        frames = 1
    return _Header(path, modality, tag_text(ds, "SOPInstanceUID"), tag_text(ds, "PatientID"),
                   tag_text(ds, "PatientName").replace("^", " ").strip(), tag_text(ds, "StudyInstanceUID"),
                   tag_text(ds, "StudyDate"), tag_text(ds, "StudyDescription"), tag_text(ds, "SeriesInstanceUID"),
                   tag_text(ds, "SeriesDescription"), number, frames)


def _file_key(path: Path) -> str:
    return "file:" + str(path.resolve())


def _folder_key(path: Path) -> str:
    return "folder:" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]


def _dicom_entries(headers: list[_Header], skipped: list[tuple[Path, str]]) -> list[IndexedSeries]:
    """CT files grouped into series; each US file an entry of its own."""
    by_series: dict[tuple[str, str], list[_Header]] = defaultdict(list)
    entries: list[IndexedSeries] = []
    for h in headers:
        if h.modality == "US":
            entries.append(IndexedSeries(
                key=h.sop_uid or _file_key(h.path), modality="US", source_kind="dicom", files=(h.path,),
                patient_id=h.patient_id, patient_name=h.patient_name, study_uid=h.study_uid or _file_key(h.path),
                study_date=h.study_date, study_description=h.study_description, series_uid=h.series_uid,
                series_description=h.series_description or h.path.name, series_number=h.series_number,
                phase="ultrasound", frames=h.frames))
        elif not h.series_uid:
            skipped.append((h.path, missing_tag_reason(h.path, "SeriesInstanceUID")))
        else:
            by_series[(h.study_uid, h.series_uid)].append(h)
    for (study_uid, series_uid), group in by_series.items():
        first = group[0]
        entries.append(IndexedSeries(
            key=series_uid, modality="CT", source_kind="dicom", files=tuple(sorted(h.path for h in group)),
            patient_id=first.patient_id, patient_name=first.patient_name,
            study_uid=study_uid or f"series:{series_uid}", study_date=first.study_date,
            study_description=first.study_description, series_uid=series_uid,
            series_description=first.series_description, series_number=first.series_number,
            phase=phase_of(first.series_description), frames=sum(h.frames for h in group)))
    return entries


def _volume_entry(path: Path, study_key: str, study_description: str) -> IndexedSeries:
    return IndexedSeries(key=_file_key(path), modality="CT", source_kind="volume", files=(path,),
                         study_uid=study_key, study_description=study_description,
                         series_description=volume_stem(path), phase=phase_of(volume_stem(path)))


def _raster_entry(path: Path) -> IndexedSeries:
    return IndexedSeries(key=_file_key(path), modality="US", source_kind="raster", files=(path,),
                         study_uid=_file_key(path), study_description=path.parent.name,
                         series_description=path.name, phase="ultrasound")


def _walk(root: Path, listing: IndexListing, headers: list[_Header], cancelled: Callable[[], bool]) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        if cancelled():
            return
        folder = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files = sorted(f for f in filenames if not f.startswith("."))
        volumes = [folder / f for f in files if is_volume_file(f) and not looks_like_label_map(folder / f)]
        for name in files:
            _classify(folder / name, listing, headers, volumes, folder)


def _classify(path: Path, listing: IndexListing, headers: list[_Header], folder_volumes: Sequence[Path],
              folder: Path) -> None:
    if is_volume_file(path):
        if looks_like_label_map(path):
            listing.skipped.append((path, "label map or mask (by its name), not a phase"))
        else:  # a folder of volume files is one study, one phase per file (as the loader reads it)
            listing.series.append(_volume_entry(path, _folder_key(folder) if len(folder_volumes) > 1
                                                else _file_key(path), folder.name))
    elif path.suffix.lower() in RASTER_SUFFIXES:
        listing.series.append(_raster_entry(path))
    else:
        header = _read_header(path)
        if isinstance(header, str):
            listing.skipped.append((path, header))
        else:
            headers.append(header)


def index_paths(paths: Iterable[str | os.PathLike[str]], cancelled: Callable[[], bool] = lambda: False,
                ) -> IndexListing:
    """Index folders (searched recursively, hidden ones left out) and single files. A path that does not exist is
    listed as skipped and the others are indexed; StudyIndexError only when none of the paths exists (nothing to
    index). ``cancelled`` is asked between folders (a background job's cancel)."""
    listing = IndexListing()
    headers: list[_Header] = []
    given = [Path(raw) for raw in paths]
    missing = [p for p in given if not p.exists()]
    if given and len(missing) == len(given):
        raise StudyIndexError("; ".join(f"{p}: no such file or folder" for p in missing))
    for path in given:
        if not path.exists():
            listing.skipped.append((path, "no such file or folder"))
        elif path.is_dir():
            _walk(path, listing, headers, cancelled)
        else:
            _classify(path, listing, headers, [path], path.parent)
    listing.series.extend(_dicom_entries(headers, listing.skipped))
    listing.series.sort(key=lambda s: (s.patient_id, s.study_uid, s.modality, s.series_number or 0, s.label))
    return listing


@dataclass(frozen=True)
class StudyGroup:
    """The entries of one study, for the tree: patient > study > series."""

    study_uid: str
    description: str
    date: str
    series: tuple[IndexedSeries, ...]

    @property
    def modalities(self) -> str:
        return "/".join(sorted({s.modality for s in self.series}))


@dataclass(frozen=True)
class PatientGroup:
    patient_id: str
    patient_name: str
    studies: tuple[StudyGroup, ...]


def group_by_patient(series: Iterable[IndexedSeries]) -> list[PatientGroup]:
    """Entries as patient > study > series, patients and studies in a stable order.

    Entries with a patient ID are grouped by it (named by the first name given for it). Entries without one have
    nothing that ties them together but their own header's name, so they are grouped by that name: a nameless
    file (a PNG, a NIfTI) never shows under the name of some DICOM file that merely lacked a patient ID too."""
    patients: dict[tuple[str, str], dict[str, list[IndexedSeries]]] = defaultdict(lambda: defaultdict(list))
    series = list(series)  # read twice: names first, then groups
    names: dict[str, str] = {}
    for s in series:
        if s.patient_id and s.patient_name:
            names.setdefault(s.patient_id, s.patient_name)
    for s in series:
        key = (s.patient_id, names.get(s.patient_id, "")) if s.patient_id else (NO_PATIENT, s.patient_name)
        patients[key][s.study_uid].append(s)
    out = []
    for pid, name in sorted(patients):
        studies = []
        for uid, items in sorted(patients[(pid, name)].items(), key=lambda kv: (kv[1][0].study_date, kv[0])):
            items.sort(key=lambda s: (s.series_number if s.series_number is not None else 10**9, s.label))
            first = items[0]
            studies.append(StudyGroup(uid, first.study_description or first.location.name, first.study_date,
                                      tuple(items)))
        out.append(PatientGroup(pid, name, tuple(studies)))
    return out


def open_paths_for_ct(chosen: Sequence[IndexedSeries], known: Iterable[IndexedSeries]) -> list[str]:
    """What to hand the study loader for CT entries: volume files as they are; DICOM series by their folder,
    or by their common folder, when nothing else the index knows lies under it; else by their own files (the
    loader reads a folder recursively, so a folder shared with other series would bring them along too)."""
    volumes = [str(f) for s in chosen if s.source_kind == "volume" for f in s.files]
    dicom = [s for s in chosen if s.source_kind == "dicom" and s.modality == "CT"]
    if not dicom:
        return volumes
    wanted = {f.resolve() for s in dicom for f in s.files}
    others = {f.resolve() for s in known if s.key not in {d.key for d in dicom} for f in s.files} - wanted

    def holds_only_wanted(folder: Path) -> bool:
        folder = folder.resolve()
        return not any(folder == o.parent or folder in o.parents for o in others)

    common = Path(os.path.commonpath([str(s.location) for s in dicom]))
    if holds_only_wanted(common):
        return volumes + [str(common)]
    folders = sorted({str(s.location) for s in dicom if holds_only_wanted(s.location)})
    files = [str(f) for s in dicom if str(s.location) not in folders for f in s.files]
    return volumes + folders + files


def is_ultrasound_file(path: str | os.PathLike[str]) -> bool:
    """True for a raster image (PNG, JPEG, BMP) or a DICOM file whose header says ultrasound (header only)."""
    p = Path(path)
    if not p.is_file() or is_volume_file(p):
        return False
    if p.suffix.lower() in RASTER_SUFFIXES:
        return True
    header = _read_header(p)
    return not isinstance(header, str) and header.modality == "US"
