"""Lesion masks as a DICOM Segmentation (BINARY, highdicom) referencing the source CT images.

One segment per lesion: label = tracking id = the lesion's label ("HCC lesion 3"), property category
"Morphologically abnormal structure", property type from the lesion class (:func:`lesion_type_code`), and
the lesion's tracking UID (the one its SR measurement group carries; a new one when none is given). Masks are indexed [k, j, i] with k running over the source images sorted by position
along their slice normal (the order :mod:`liverview.io.dicom_series` stacks them), so a mask made
on the loaded volume lines up with the images it came from.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pydicom.sr.coding import Code
from pydicom.sr.codedict import codes

from liverview import __version__
from liverview.io.export.dicom_charset import set_character_set
from liverview.io.export.nifti_labels import LesionMask
from liverview.io.replace_on_success import replaced_on_success

# LiverView's lesion classes -> SNOMED CT morphologies (any other class: "Lesion").
LESION_TYPE_CODES: dict[str, Code] = {
    "cyst": codes.SCT.Cyst,
    "hemangioma": codes.SCT.Hemangioma,
    "hcc": Code("25370001", "SCT", "Hepatocellular carcinoma"),
    "metastasis": codes.SCT.NeoplasmMetastatic,
}
_LO_MAX = 64  # characters of a DICOM LO value (segment label, tracking id)


class DicomExportError(ValueError):
    """Masks or measurements cannot be written as DICOM against the given source images."""


def lesion_type_code(lesion_class: str) -> Code:
    """SNOMED CT code for a LiverView lesion class; "Lesion" (52988006) when the class is unknown."""
    return LESION_TYPE_CODES.get(lesion_class.strip().lower(), codes.SCT.Lesion)


def lesion_class_of_code(code: Code | hd.sr.CodedConcept) -> str:
    """The LiverView class of a SNOMED CT code, or "" for "Lesion" and codes it does not know."""
    for name, known in LESION_TYPE_CODES.items():
        if code.value == known.value and code.scheme_designator == known.scheme_designator:
            return name
    return ""


def sort_along_normal(images: Sequence[Dataset]) -> list[Dataset]:
    """Single-frame images of one plane orientation, sorted by position along their normal."""
    if not images:
        raise DicomExportError("no source images were given")
    try:
        iop = np.array(images[0].ImageOrientationPatient, float)
        normal = np.cross(iop[:3], iop[3:])
        shapes = {(int(ds.Rows), int(ds.Columns)) for ds in images}
        orientations = [np.array(ds.ImageOrientationPatient, float) for ds in images]
        positions = [float(np.array(ds.ImagePositionPatient, float) @ normal) for ds in images]
    except AttributeError as e:
        raise DicomExportError(
            f"a source image lacks plane geometry ({e}); use the CT images of the series"
        ) from e
    if len(shapes) != 1 or any(np.abs(o - iop).max() > 1e-3 for o in orientations):
        raise DicomExportError("the source images differ in size or orientation: give one series' images")
    return [images[n] for n in np.argsort(positions, kind="stable")]


@dataclass(frozen=True)
class SegInfo:
    """Who wrote the SEG: the series it becomes and the software/algorithm."""

    series_number: int = 901
    series_description: str = "LiverView lesions"
    manufacturer: str = "LiverView"
    algorithm_name: str | None = None  # None: masks drawn by hand (MANUAL)
    algorithm_version: str = ""


FRAME_OF_REFERENCE_ROOT = "LiverView frame of reference"


def with_frame_of_reference(images: Sequence[Dataset], notes: list[str] | None = None) -> list[Dataset]:
    """The images, each with a Frame of Reference UID (DICOM SEG needs one). A series that has none (real
    archives hold such series) gets one derived from its Study and Series Instance UIDs: the same on every
    export, so SEGs of one series share it; a note says so. The source files are never changed."""
    present = {str(ds.FrameOfReferenceUID) for ds in images if ds.get("FrameOfReferenceUID")}
    if len(present) > 1:
        raise DicomExportError(f"the source images belong to {len(present)} Frames of Reference; a SEG covers one")
    if len(present) == 1 and all(ds.get("FrameOfReferenceUID") for ds in images):
        return list(images)
    if present:
        uid, why = present.pop(), "taken from the other images of the series"
    else:
        first = images[0]
        uid = generate_uid(entropy_srcs=[FRAME_OF_REFERENCE_ROOT, str(first.get("StudyInstanceUID", "")),
                                         str(first.get("SeriesInstanceUID", ""))])
        why = "derived from the study and series UIDs (the same on every export)"
    if notes is not None:
        notes.append(f"the source series has no Frame of Reference UID; the SEG uses {uid}, {why}")
    out = []
    for ds in images:
        if not ds.get("FrameOfReferenceUID"):
            ds = copy.deepcopy(ds)
            ds.FrameOfReferenceUID = uid
        out.append(ds)
    return out


def write_seg(
    lesions: Sequence[LesionMask],
    source_images: Sequence[Dataset],
    path: str | Path,
    info: SegInfo = SegInfo(),
    notes: list[str] | None = None,
) -> Dataset:
    """Write one BINARY DICOM SEG with a segment per lesion; returns the written dataset. ``notes`` gets a
    line for anything supplied that the source images lacked (a Frame of Reference UID)."""
    path = Path(path)
    if not lesions:
        raise DicomExportError(f"cannot write {path}: there are no lesion masks")
    images = with_frame_of_reference(sort_along_normal(source_images), notes)
    shape = (len(images), int(images[0].Rows), int(images[0].Columns))
    stack = np.zeros(shape + (len(lesions),), bool)
    for n, lesion in enumerate(lesions):
        if len(lesion.lesion_id) > _LO_MAX or not lesion.lesion_id.strip():
            raise DicomExportError(f"lesion id {lesion.lesion_id!r} must be 1 to {_LO_MAX} characters for DICOM")
        mask = np.asarray(lesion.mask).astype(bool)
        if mask.shape != shape:
            raise DicomExportError(
                f"mask of lesion '{lesion.lesion_id}' has shape {mask.shape}; the source series is "
                f"{shape} (slices, rows, columns)"
            )
        stack[..., n] = mask
    if info.algorithm_name:
        algorithm_type = hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        algorithm = hd.AlgorithmIdentificationSequence(
            name=info.algorithm_name,
            family=codes.cid7162.ArtificialIntelligence,
            version=info.algorithm_version or __version__,
        )
    else:
        algorithm_type, algorithm = hd.seg.SegmentAlgorithmTypeValues.MANUAL, None
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=lesion.lesion_id,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=lesion_type_code(lesion.lesion_class),
            algorithm_type=algorithm_type,
            algorithm_identification=algorithm,
            tracking_uid=lesion.tracking_uid or hd.UID(),
            tracking_id=lesion.lesion_id,
        )
        for n, lesion in enumerate(lesions, start=1)
    ]
    try:
        seg = hd.seg.Segmentation(
            source_images=images,
            pixel_array=stack,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=info.series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=info.manufacturer,
            manufacturer_model_name="LiverView",
            software_versions=__version__,
            device_serial_number="0",
            series_description=info.series_description,
            content_label="LESIONS",
            content_description="Lesion masks",
        )
    except (ValueError, TypeError, AttributeError) as e:
        raise DicomExportError(f"cannot build the DICOM SEG for {path}: {e}") from e
    try:
        set_character_set(seg)  # names outside ASCII are written as they are, not as '?'
        with replaced_on_success(path) as (partial,):
            seg.save_as(partial)
    except OSError as e:
        raise DicomExportError(f"cannot write {path}: {e.strerror or e}") from e
    return seg


def read_seg(path: str | Path, source_images: Sequence[Dataset]) -> list[LesionMask]:
    """Masks of every segment of a SEG, on the grid of ``source_images`` (sorted as in :func:`write_seg`)."""
    path = Path(path)
    try:
        seg = hd.seg.segread(path)
    except Exception as e:  # pydicom/highdicom raise many kinds for a file that is not a SEG
        raise DicomExportError(f"cannot read {path} as a DICOM SEG: {e}") from e
    images = sort_along_normal(source_images)
    uids = [str(ds.SOPInstanceUID) for ds in images]
    numbers = list(seg.segment_numbers)
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids,
        segment_numbers=numbers,
        combine_segments=False,
        assert_missing_frames_are_empty=True,
    )
    out = []
    for n, number in enumerate(numbers):
        description = seg.get_segment_description(number)
        out.append(
            LesionMask(
                lesion_id=str(description.segment_label),
                mask=np.asarray(pixels[..., n]).astype(bool),
                lesion_class=lesion_class_of_code(description.segmented_property_type),
                tracking_uid=str(description.tracking_uid or ""),
            )
        )
    return out
