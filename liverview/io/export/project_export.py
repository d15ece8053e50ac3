"""Export a study's annotations from the project in the formats other tools read, and import DeepLesion CSV.

The format modules beside this one write files from plain measurements and masks; this module picks a
study's lesions out of the project, finds the phase volume each was measured on, and reports every lesion
it could not write (no short axis, not on an axial slice, no mask, ...) instead of failing the whole export.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom

from liverview.core.study import Phase, PhaseKind, Study
from liverview.io.export.deeplesion_csv import (
    DeepLesionGeometryError, DeepLesionScan, recist_to_deeplesion_row, write_deeplesion_csv,
)
from liverview.io.export.deeplesion_import import Progress, import_deeplesion_table
from liverview.io.export.json_export import LesionRecord as JsonLesion
from liverview.io.export.json_export import write_lesions_json
from liverview.io.export.lesion_identity import LesionIdentity, lesion_identity
from liverview.io.export.nifti_labels import LesionMask, write_label_map
from liverview.measure.recist import RecistMeasurement
from liverview.store.project import Project
from liverview.store.records import LesionRecord

EXPORT_FORMATS: dict[str, str] = {
    "json": "LiverView lesion JSON (RECIST in mm)",
    "csv": "DeepLesion DL_info.csv layout",
    "nifti": "NIfTI label map of lesion masks (+ NAME.labels.json sidecar)",
    "sr": "DICOM SR TID 1500 measurement report (RECIST)",
    "seg": "DICOM SEG of lesion masks",
}
DEFAULT_SUFFIX = {"json": ".json", "csv": ".csv", "nifti": ".nii.gz", "sr": ".dcm", "seg": ".dcm"}
_LIVER_COARSE_TYPE = 4  # DeepLesion's coarse type "liver"
PHASE_COLUMN = "Phase"  # extra CSV column: the contrast phase a row was measured on


class ExportError(ValueError):
    """Nothing could be exported, or the format cannot be written for this study; the message says why."""


@dataclass
class ExportResult:
    path: Path
    written: int  # lesions in the file
    skipped: list[str] = field(default_factory=list)  # "lesion 3: why", one per lesion left out
    notes: list[str] = field(default_factory=list)  # what the export supplied or changed, e.g. a created UID
    file_written: bool = True  # False: nothing to put in the file, so none was written at ``path``


@dataclass
class ImportResult:
    added: list[int]  # ids of the lesions created in the project
    problems: list[str]  # "line N: why", one per row not imported


def _phase_of(study: Study, name: str) -> Phase | None:
    return next((p for p in study.phases if p.kind.value == name), None)


def _measurement(lesion: LesionRecord) -> RecistMeasurement:
    r = lesion.recist
    assert r is not None
    return RecistMeasurement(r.long_axis, r.short_axis, r.key_slice, lesion_id=str(lesion.id), phase=r.phase)


def _measured(project: Project, study_id: int, study: Study, skipped: list[str]
              ) -> list[tuple[LesionRecord, Phase]]:
    """Lesions with a RECIST mark on a phase the study has, in id order."""
    out = []
    for lesion in project.list_lesions(study_id):
        if lesion.recist is None:
            skipped.append(f"lesion {lesion.id}: has no RECIST measurement")
            continue
        phase = _phase_of(study, lesion.recist.phase)
        if phase is None:
            skipped.append(f"lesion {lesion.id}: measured on the {lesion.recist.phase} phase, which this study lacks")
            continue
        out.append((lesion, phase))
    return out


def _masks_on(project: Project, study_id: int, reference: Phase, skipped: list[str]) -> list[tuple[LesionRecord, np.ndarray]]:
    """Each lesion's mask on the reference phase's grid (masks stored on another grid are reported)."""
    ref = reference.volume
    out = []
    for lesion in project.list_lesions(study_id):
        mask = None
        phases = [reference.kind.value] + ([lesion.recist.phase] if lesion.recist else [])
        for name in dict.fromkeys(phases):
            mask = project.get_mask(lesion.id, name)
            if mask is not None:
                break
        if mask is None:
            skipped.append(f"lesion {lesion.id}: has no mask")
            continue
        same = (mask.array.shape == ref.array.shape and np.allclose(mask.spacing, ref.spacing, atol=1e-4)
                and np.allclose(mask.origin, ref.origin, atol=1e-3)
                and np.allclose(mask.direction, ref.direction, atol=1e-6))
        if not same:
            skipped.append(f"lesion {lesion.id}: its mask is not on the {reference.kind.value} grid")
            continue
        if not mask.array.any():
            skipped.append(f"lesion {lesion.id}: its mask is empty")
            continue
        out.append((lesion, mask.array.astype(bool)))
    return out


def dicom_source_images(phase: Phase) -> list[pydicom.Dataset]:
    """The DICOM images of a phase's series (headers and pixels), read from the folder it was loaded from, sorted
    along the slice normal: image n stands behind slice ``phase.volume.acquired_slices[n]``."""
    source = Path(phase.source) if phase.source else None
    if source is None or not phase.series_uid:
        raise ExportError(f"the {phase.kind.value} phase was not loaded from DICOM: DICOM SR and SEG reference the "
                          "source images, so open the study from its DICOM folder to export them")
    listed = [Path(f) for f in phase.slice_files if f]  # "" stands for a slice missing from the series
    if listed and len(set(listed)) == len(listed):  # one file per slice: the very files the phase was built from
        # (a damaged slice left out at loading stays out)
        gone = [f for f in listed if not f.is_file()]
        if gone:
            raise ExportError(f"{len(gone)} of the {len(listed)} files the {phase.kind.value} phase was read from "
                              f"are no longer there (e.g. {gone[0]}): have the files moved?")
        try:
            images = [pydicom.dcmread(f) for f in listed]
        except Exception as exc:  # changed on disk since it was loaded
            raise ExportError(f"a file of the {phase.kind.value} phase can no longer be read ({exc}): has it "
                              "changed since the study was opened?") from None
        if all(str(getattr(ds, "SeriesInstanceUID", "")) == phase.series_uid and "PixelData" in ds for ds in images):
            return _on_the_grid(images, phase)
    files = sorted(source.rglob("*")) if source.is_dir() else [source]
    images = []
    for f in files:
        if not f.is_file():
            continue
        try:
            ds = pydicom.dcmread(f)
        except Exception:  # other files in the folder are not ours to judge
            continue
        if str(getattr(ds, "SeriesInstanceUID", "")) == phase.series_uid and "PixelData" in ds:
            images.append(ds)
    expected = len(phase.volume.acquired_slices)
    if len(images) != expected:
        raise ExportError(f"found {len(images)} images of series {phase.series_uid} in {source}, the phase has "
                          f"{expected} slices from images: have the files moved?")
    return _on_the_grid(images, phase)


POSITION_TOL_MM = 0.01


def _on_the_grid(images: list[pydicom.Dataset], phase: Phase) -> list[pydicom.Dataset]:
    """``images``, when each lies at the height of its slice of the volume (the acquired slices, in order along
    the normal); else ExportError: the volume then uses the mean spacing of irregular steps, so positions along
    that axis are approximate, and SR / SEG name exact images."""
    try:
        orientation = np.asarray(images[0].ImageOrientationPatient, float)
        normal = np.cross(orientation[:3], orientation[3:])
        z = np.sort([float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float))) for ds in images])
    except (AttributeError, TypeError, ValueError):
        return images  # single-frame geometry not given: nothing to check here
    volume = phase.volume
    expected = np.sort([float(np.dot(normal, volume.index_to_world((0.0, 0.0, k)))) for k in volume.acquired_slices])
    if z.size != expected.size or np.abs((z - z[0]) - (expected - expected[0])).max() > POSITION_TOL_MM:
        steps = np.diff(z)
        raise ExportError(f"the {phase.kind.value} phase's slices do not lie on a regular grid ({steps.min():.3f} to "
                          f"{steps.max():.3f} mm apart), so its positions along the slice axis are approximate; "
                          "DICOM SR and SEG name exact images and cannot be written or read for it (JSON, CSV and "
                          "NIfTI exports can)")
    return images


def export_annotations(project: Project, study_id: int, study: Study, fmt: str, out: str | Path,
                       observer: str | None = None) -> ExportResult:
    """Write the study's lesions to ``out`` in ``fmt`` (one of EXPORT_FORMATS)."""
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    check_suffix(fmt, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    reference = study.reference
    notes: list[str] = []
    with _write_errors_told(out):
        written = _WRITERS[fmt](project, study_id, study, reference, out, skipped, observer, notes)
    if written == 0:
        raise ExportError(f"nothing to export as {fmt}: " + ("; ".join(skipped) if skipped else "the study has no lesions"))
    return ExportResult(out, written, skipped, notes)


@contextmanager
def _write_errors_told(out: Path) -> Iterator[None]:
    """A writer's failure (disk full, a folder without write permission, a value a format cannot hold) as an
    ExportError the app and the CLI show; every writer replaces the file only once it is whole."""
    try:
        yield
    except ExportError:
        raise
    except (OSError, ValueError) as exc:
        raise ExportError(f"could not write {out}: {exc} (a file already there is left as it was)") from exc


_SUFFIXES = {"json": (".json",), "csv": (".csv",), "nifti": (".nii.gz", ".nii"), "sr": (".dcm",), "seg": (".dcm",)}


def check_suffix(fmt: str, out: Path) -> None:
    """A file named for one format is never written in another (a .dcm must not hold NIfTI, ...)."""
    name = out.name.lower()
    if not any(name.endswith(sfx) for sfx in _SUFFIXES[fmt]):
        raise ExportError(f"--format {fmt} writes {' or '.join(_SUFFIXES[fmt])} files, but {out.name} ends "
                          f"otherwise: name the file {out.stem.split('.')[0]}{DEFAULT_SUFFIX[fmt]} or choose the "
                          "format that matches its name")


def _write_json(project, study_id, study, reference, out, skipped, observer, notes) -> int:
    """Every lesion; each measurement with its phase, and the grid of every phase measured on."""
    lesions, grids = [], {}
    for lesion in project.list_lesions(study_id):
        measurements = []
        if lesion.recist is not None:
            phase = _phase_of(study, lesion.recist.phase)
            if phase is None:
                skipped.append(f"lesion {lesion.id}: measured on the {lesion.recist.phase} phase, which this study "
                               "lacks, so its measurement is left out")
            else:
                measurements = [_measurement(lesion)]
                grids[phase.kind.value] = phase.volume
        lesions.append(JsonLesion(str(lesion.id), lesion.lesion_class, measurements, lesion.notes))
    if lesions:
        write_lesions_json(lesions, out, reference.volume, grids)
    return len(lesions)


def _write_csv(project, study_id, study, reference, out, skipped, observer, notes) -> int:
    """One DL_info row per measured lesion; Series_ID numbers the phase, extra columns name it."""
    rows = []
    for lesion, phase in _measured(project, study_id, study, skipped):
        scan = DeepLesionScan(patient_index=1, study_index=1, series_id=study.phases.index(phase) + 1)
        try:
            row = recist_to_deeplesion_row(_measurement(lesion), phase.volume, scan,
                                           coarse_lesion_type=_LIVER_COARSE_TYPE)
        except DeepLesionGeometryError as exc:
            skipped.append(f"lesion {lesion.id}: {exc}")
            continue
        rows.append(dataclasses.replace(row, extra={**row.extra, PHASE_COLUMN: phase.kind.value,
                                                    "Lesion_id": str(lesion.id)}))
    if rows:
        write_deeplesion_csv(rows, out)
    return len(rows)


def _write_nifti(project, study_id, study, reference, out, skipped, observer, notes) -> int:
    masks = [LesionMask(str(lesion.id), mask, lesion.lesion_class)
             for lesion, mask in _masks_on(project, study_id, reference, skipped)]
    if masks:
        write_label_map(masks, reference.volume, out)
    return len(masks)


def identity_of(project: Project, study_id: int, lesion: LesionRecord) -> LesionIdentity:
    """The lesion's DICOM label and tracking UID: the same on every export of this stored lesion; a lesion
    imported from an SR or SEG keeps the UID its source gave it (it names the same lesion across reports)."""
    key = next((s.uid for s in project.list_studies() if s.id == study_id), str(study_id))
    identity = lesion_identity(key, lesion.id, lesion.lesion_class, lesion.created_at)
    return dataclasses.replace(identity, tracking_uid=lesion.tracking_uid) if lesion.tracking_uid else identity


def dicom_person_name(user: str) -> str:
    """A user name as a DICOM person name: "Anna Reader" -> "Anna^Reader", "reader" -> "reader^" (the trailing
    caret says one component is meant, PS3.5 6.2.1.2); no other change is guessed."""
    parts = user.split()
    return "^".join(parts) if len(parts) > 1 else f"{user.strip()}^"


def _write_sr(project, study_id, study, reference, out, skipped, observer, notes, segmentation=None) -> int:
    """One report; each measurement references an image of the series (phase) it was measured on, carries
    the lesion's label and tracking UID, and names as observers the readers who measured (``observer``
    overrides them); with ``segmentation`` (the SEG of the same export) it references that SEG's segments."""
    from liverview.io.export.dicom_sr import write_recist_sr  # highdicom: only when asked for

    measured = [(lesion, phase) for lesion, phase in _measured(project, study_id, study, skipped)
                if not _on_a_missing_slice(lesion, phase, skipped)]
    if not measured:
        return 0
    images: dict[str, list[pydicom.Dataset]] = {}
    for _, phase in measured:
        if phase.series_uid not in images:
            images[phase.series_uid] = dicom_source_images(phase)
    ids = {lesion.id: identity_of(project, study_id, lesion) for lesion, _ in measured}
    readers = [observer] if observer else [dicom_person_name(project.measured_by(lesion.id)) for lesion, _ in measured]
    write_recist_sr([dataclasses.replace(_measurement(lesion), lesion_id=ids[lesion.id].label) for lesion, _ in measured],
                    [ds for series in images.values() for ds in series], out, observer=readers,
                    lesion_classes={ids[lesion.id].label: lesion.lesion_class for lesion, _ in measured},
                    series_of=[phase.series_uid for _, phase in measured],
                    tracking_uids={i.label: i.tracking_uid for i in ids.values()}, segmentation=segmentation)
    return len(measured)


def _on_a_missing_slice(lesion: LesionRecord, phase: Phase, skipped: list[str]) -> bool:
    """True (and why, in ``skipped``) when the lesion's RECIST mark lies on a slice missing from the phase's
    series: an SR references the image measured on, and there is none."""
    assert lesion.recist is not None
    k = int(np.rint(phase.volume.world_to_index(lesion.recist.long_axis[0])[2]))
    if not phase.volume.is_missing_slice(k):
        return False
    skipped.append(f"lesion {lesion.id}: measured on slice {k + 1} of the {phase.kind.value} phase, which is missing "
                   "from its series: there is no image for the SR to reference")
    return True


def _seg_of(project, study_id, reference, out, skipped, notes) -> tuple[int, "pydicom.Dataset | None"]:
    from liverview.io.export.dicom_seg import write_seg, sort_along_normal

    masks = _masks_on(project, study_id, reference, skipped)
    acquired = list(reference.volume.acquired_slices)
    lesions = []
    for lesion, mask in masks:
        on_images = mask[acquired]  # a SEG frame belongs to a source image: none on a missing slice
        dropped = int(mask.sum()) - int(on_images.sum())
        if not on_images.any():
            skipped.append(f"lesion {lesion.id}: its mask lies only on slices missing from the series")
            continue
        if dropped:
            notes.append(f"lesion {lesion.id}: {dropped} voxel(s) of its mask lie on slices missing from the series "
                         "and are not in the SEG (no source image)")
        identity = identity_of(project, study_id, lesion)
        lesions.append(LesionMask(identity.label, on_images, lesion.lesion_class, identity.tracking_uid))
    if not lesions:
        return 0, None
    images = sort_along_normal(dicom_source_images(reference))
    return len(lesions), write_seg(lesions, images, out, notes=notes)


def _write_seg(project, study_id, study, reference, out, skipped, observer, notes) -> int:
    return _seg_of(project, study_id, reference, out, skipped, notes)[0]


def export_sr_with_seg(project: Project, study_id: int, study: Study, sr_out: str | Path, seg_out: str | Path,
                       observer: str | None = None) -> tuple[ExportResult, ExportResult]:
    """Write the lesion masks as a SEG and the measurements as an SR that references it (its evidence, and a
    TID 1411 group per lesion naming its segment, with the shared tracking UID); returns (SR, SEG) results."""
    sr_out, seg_out = Path(sr_out), Path(seg_out)
    check_suffix("sr", sr_out)
    check_suffix("seg", seg_out)
    if sr_out.resolve() == seg_out.resolve():
        raise ExportError(f"the SR and the SEG need two files; both were named {sr_out}")
    seg_out.parent.mkdir(parents=True, exist_ok=True)
    sr_out.parent.mkdir(parents=True, exist_ok=True)
    seg_skipped: list[str] = []
    seg_notes: list[str] = []
    with _write_errors_told(seg_out):
        written, seg = _seg_of(project, study_id, study.reference, seg_out, seg_skipped, seg_notes)
    sr_skipped: list[str] = []
    with _write_errors_told(sr_out):
        measured = _write_sr(project, study_id, study, study.reference, sr_out, sr_skipped, observer, [],
                             segmentation=seg)
    if measured == 0:
        raise ExportError("nothing to export as sr: " + ("; ".join(sr_skipped) or "the study has no lesions"))
    sr_notes = [f"references the SEG {seg_out.name} ({written} segment(s))"] if seg is not None else \
        ["no SEG was written: " + "; ".join(seg_skipped)]
    return (ExportResult(sr_out, measured, sr_skipped, sr_notes),
            ExportResult(seg_out, written, seg_skipped, seg_notes, file_written=seg is not None))


_WRITERS: dict[str, Callable[..., int]] = {"json": _write_json, "csv": _write_csv, "nifti": _write_nifti,
                                           "sr": _write_sr, "seg": _write_seg}


def import_deeplesion_csv(project: Project, study_id: int, study: Study, path: str | Path,
                          phase: PhaseKind | None = None, progress: Progress | None = None) -> ImportResult:
    """Add a lesion with its RECIST mark for every row of a DL_info-style CSV that fits the study's grid, all
    rows in one transaction (liverview.io.export.deeplesion_import: checked, atomic, a million rows in well
    under a minute).

    Rows are measured on ``phase``; by default on the phase their Phase column names (as LiverView writes
    it), else on the reference phase. A row whose Slice_range spans exactly the
    volume's slices numbers them from Slice_range[0]; otherwise slice 1 is the volume's first slice. Malformed
    rows and rows that do not fit the volume (image size, spacing, slice, RECIST end points outside the image,
    a short axis longer than the long one or not roughly perpendicular) are reported with their line numbers;
    the rest are imported.
    """
    chosen = study.reference if phase is None else _phase_of(study, phase.value)
    if chosen is None:
        raise ExportError(f"the study has no {phase.value if phase else 'reference'} phase to import onto")
    result = import_deeplesion_table(project, study_id, study, path, phase, progress)
    return ImportResult(result.added, result.problems)
