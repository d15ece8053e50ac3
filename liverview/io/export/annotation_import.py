"""Import lesions from other tools' files into a study's project, the format read from the file's content:
DICOM SR (TID 1500 RECIST measurements), DICOM SEG (one lesion per segment), a NIfTI label map (one label
value per lesion) or a DeepLesion DL_info-layout CSV.

Each file goes in as one transaction: the lesions that fit, all of them, or (on any failure) none. What does
not fit (a measurement type LiverView does not import, a segment on a series the study lacks, a label map on
another grid) is listed by the result instead of failing the file.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from liverview.core.study import Phase, Study
from liverview.core.volume import Volume
from liverview.io.export.project_export import dicom_source_images, identity_of
from liverview.store.lesion_methods import ImportedLesion, ImportOutcome
from liverview.store.project import Project
from liverview.store.records import LESION_CLASSES, RecistRecord

IMPORT_FORMATS: dict[str, str] = {
    "sr": "DICOM SR TID 1500 measurement report (RECIST long / short axes)",
    "seg": "DICOM SEG (one lesion per segment)",
    "nifti": "NIfTI label map (one label value per lesion)",
    "csv": "DeepLesion DL_info.csv layout",
}
_SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_SR_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR", "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
               "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR", "1.2.840.10008.5.1.4.1.1.88.35": "Extensible SR"}
_GRID_TOL_MM = 1e-3  # a label map lies on a phase's grid when origin and spacing agree this closely


class ImportFormatError(ValueError):
    """The file is none of the formats LiverView imports, or cannot be read as the one it looks like."""


@dataclass
class FileImport:
    """What one file gave: the new lesion ids, the ids of lesions already in the study that it completed (same
    DICOM tracking UID: the SEG of an SR imported before, or a re-imported LiverView export), one line per item
    not imported, and notes."""

    path: Path
    format: str
    added: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _nifti_header(head: bytes) -> bool:
    """A NIfTI-1 or -2 header: sizeof_hdr 348 / 540 (either byte order) and its magic."""
    if len(head) < 348:
        return False
    sizes = {struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]}
    if 348 in sizes:
        return head[344:347] in (b"n+1", b"ni1")
    if 540 in sizes:
        return head[4:7] in (b"n+2", b"ni2")
    return False


def detect_format(path: str | Path) -> str:
    """The format of a file, by its content (its name is not trusted): one of IMPORT_FORMATS."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(540)
    except OSError as e:
        raise ImportFormatError(f"cannot read {path}: {e.strerror}") from e
    if head[128:132] == b"DICM":
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
        except Exception as e:  # a damaged header
            raise ImportFormatError(f"{path.name} is a damaged DICOM file: {e}") from e
        sop = str(ds.get("SOPClassUID", ""))
        if sop == _SEG_CLASS:
            return "seg"
        if sop in _SR_CLASSES:
            return "sr"
        name = getattr(pydicom.uid.UID(sop), "name", sop) if sop else "unknown"
        raise ImportFormatError(f"{path.name} is a DICOM {name} object: LiverView imports lesions from DICOM SR "
                                "(TID 1500) and DICOM SEG files")
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                inner = f.read(540)
        except (OSError, EOFError) as e:
            raise ImportFormatError(f"{path.name} is a damaged gzip file: {e}") from e
        if _nifti_header(inner):
            return "nifti"
        raise ImportFormatError(f"{path.name} is a gzip file but not a NIfTI image")
    if _nifti_header(head):
        return "nifti"
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    if "File_name" in first and "Measurement_coordinates" in first:
        return "csv"
    raise ImportFormatError(f"{path.name} is not a file LiverView imports: use {'; '.join(IMPORT_FORMATS.values())}")


def _class(name: str) -> str:
    return name if name in LESION_CLASSES else "unknown"


def _reader_name(dicom_name: str) -> str:
    """A DICOM person name as LiverView writes users: "Anna^Reader" -> "Anna Reader"."""
    return " ".join(part for part in dicom_name.split("^") if part)


def _dicom_series(study: Study) -> dict[str, Phase]:
    return {p.series_uid: p for p in study.phases if p.series_uid and p.source}


def _series_images(study: Study, result: FileImport):
    from liverview.io.export.dicom_import import SeriesImages

    out = {}
    for uid, phase in _dicom_series(study).items():
        out[uid] = SeriesImages(phase.kind.value, dicom_source_images(phase), phase.volume.acquired_slices,
                                phase.volume.array.shape[0])
    if not out:
        raise ImportFormatError(f"{result.path.name} refers to DICOM images, and this study was not loaded from "
                                "DICOM: open the study from its DICOM folder to import DICOM SR or SEG")
    return out


def _from_sr(project: Project, study_id: int, study: Study, result: FileImport, reader: str | None) -> None:
    from liverview.io.export.dicom_import import DicomImportError, read_sr_lesions

    try:
        found = read_sr_lesions(result.path, list(_series_images(study, result).values()))
    except DicomImportError as e:
        raise ImportFormatError(str(e)) from e
    result.skipped += found.skipped
    result.notes += found.notes
    observers = [_reader_name(n) for n in found.observers]
    by = reader or ", ".join(observers)
    if not reader and len(observers) > 1:
        result.notes.append(f"the report names {len(observers)} observers and not who measured what: each lesion "
                            f"records them all ({by})")
    known = _lesions_by_tracking_uid(project, study_id)
    lesions = []
    for m in found.measurements:
        try:
            recist = RecistRecord((tuple(m.long_axis[0]), tuple(m.long_axis[1])),
                                  None if m.short_axis is None else (tuple(m.short_axis[0]), tuple(m.short_axis[1])),
                                  m.key_slice, m.phase)
        except ValueError as e:
            result.skipped.append(f"measurement group '{m.label}': {e}")
            continue
        lesions.append(ImportedLesion(_class(m.lesion_class), _note(result, m.label, m.tracking_uid), recist,
                                      created_by=by, tracking_uid=m.tracking_uid,
                                      into_lesion=known.get(m.tracking_uid)))
    _record(result, project.add_imported_lesions(study_id, lesions, str(result.path)))


def _lesions_by_tracking_uid(project: Project, study_id: int) -> dict[str, int]:
    """Tracking UID -> lesion id for the study's lesions: the UID an imported lesion came with, else the one
    LiverView's exports give it (so a re-imported export completes its own lesions instead of doubling them)."""
    return {(lesion.tracking_uid or identity_of(project, study_id, lesion).tracking_uid): lesion.id
            for lesion in project.list_lesions(study_id)}


def _record(result: FileImport, outcome: ImportOutcome) -> None:
    result.added, result.completed = list(outcome.added), list(outcome.completed)
    result.notes += outcome.kept


def _note(result: FileImport, label: str, tracking_uid: str) -> str:
    return f"imported from {result.path.name}: {label}" + (f" (tracking UID {tracking_uid})" if tracking_uid else "")


def _from_seg(project: Project, study_id: int, study: Study, result: FileImport, reader: str | None) -> None:
    from liverview.io.export.dicom_import import DicomImportError, read_seg_lesions

    try:
        found = read_seg_lesions(result.path, _series_images(study, result))
    except DicomImportError as e:
        raise ImportFormatError(str(e)) from e
    result.skipped += found.skipped
    phases = {p.kind.value: p for p in study.phases}
    known = _lesions_by_tracking_uid(project, study_id)
    lesions = []
    for m in found.masks:
        grid = phases[m.phase].volume
        if m.mask.shape != grid.array.shape:
            result.skipped.append(f"segment '{m.label}': {m.mask.shape} voxels, the {m.phase} volume "
                                  f"{grid.array.shape}")
            continue
        mask = Volume(m.mask.astype(np.uint8), grid.spacing, grid.origin, grid.direction)
        lesions.append(ImportedLesion(_class(m.lesion_class), _note(result, m.label, m.tracking_uid),
                                      masks=((m.phase, mask),), created_by=reader or "", tracking_uid=m.tracking_uid,
                                      into_lesion=known.get(m.tracking_uid)))
    _record(result, project.add_imported_lesions(study_id, lesions, str(result.path)))


def _on_grid(grid: Volume, volume: Volume) -> bool:
    return (grid.array.shape == volume.array.shape
            and np.allclose(grid.spacing, volume.spacing, atol=_GRID_TOL_MM)
            and np.allclose(grid.origin, volume.origin, atol=_GRID_TOL_MM)
            and np.allclose(np.asarray(grid.direction, float), np.asarray(volume.direction, float), atol=1e-6))


def _from_nifti(project: Project, study_id: int, study: Study, result: FileImport, reader: str | None) -> None:
    from liverview.io.export.nifti_labels import LabelMapError, find_sidecar, read_label_map
    from liverview.io.label_map_checks import split_labels, surrounding_labels

    try:
        label_map = read_label_map(result.path)
    except LabelMapError as e:
        raise ImportFormatError(str(e)) from e
    phase = next((p for p in [study.reference, *study.phases] if _on_grid(label_map.grid, p.volume)), None)
    organs, split = {}, {}
    if find_sidecar(result.path) is None:  # not a LiverView export: it may be a class map (organ, tumour)
        organs, split = surrounding_labels(label_map.grid.array), split_labels(label_map.grid.array)
    lesions = []
    for lesion in label_map.lesions:
        what = f"label '{lesion.lesion_id}'"
        value = int(label_map.grid.array[lesion.mask][0]) if lesion.mask.any() else 0
        if value in organs.values():
            inner = ", ".join(str(v) for v, outer in sorted(organs.items()) if outer == value)
            result.skipped.append(f"{what}: it surrounds label(s) {inner}, like an organ around lesions: not a lesion")
            continue
        if value in split:
            result.notes.append(f"{what} holds {split[value]} separate regions, imported as one lesion (a class "
                                "map gives every tumour the same value: split it into one value per lesion to get "
                                "one each)")
        if phase is None:
            result.skipped.append(f"{what}: the label map's grid ({label_map.grid.array.shape} voxels) is the grid "
                                  "of no phase of this study")
            continue
        if not lesion.mask.any():
            result.skipped.append(f"{what}: it holds no voxels")
            continue
        grid = phase.volume
        mask = Volume(lesion.mask.astype(np.uint8), grid.spacing, grid.origin, grid.direction)
        lesions.append(ImportedLesion(_class(lesion.lesion_class), _note(result, f"label {lesion.lesion_id}", ""),
                                      masks=((phase.kind.value, mask),), created_by=reader or ""))
    _record(result, project.add_imported_lesions(study_id, lesions, str(result.path)))


def _from_csv(project: Project, study_id: int, study: Study, result: FileImport, reader: str | None) -> None:
    from liverview.io.export.deeplesion_csv import DeepLesionCsvError
    from liverview.io.export.deeplesion_import import import_deeplesion_table

    try:
        table = import_deeplesion_table(project, study_id, study, result.path)
    except DeepLesionCsvError as e:
        raise ImportFormatError(str(e)) from e
    result.added, result.skipped = list(table.added), list(table.problems)


_IMPORTERS = {"sr": _from_sr, "seg": _from_seg, "nifti": _from_nifti, "csv": _from_csv}


def import_annotations(project: Project, study_id: int, study: Study, path: str | Path,
                       reader: str | None = None) -> FileImport:
    """Add the lesions of one file to the study, in one transaction. ``reader`` is recorded as who made them;
    without it an SR's observers are, else the project's user."""
    path = Path(path)
    result = FileImport(path, detect_format(path))
    _IMPORTERS[result.format](project, study_id, study, result, reader)
    return result
