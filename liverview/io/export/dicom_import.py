"""Lesions read from a DICOM SR (TID 1500 RECIST measurements) or a DICOM SEG (one lesion per segment) onto
the series of a study, listing every group or segment that does not fit instead of failing the file.

RECIST measurements are TID 1501 groups holding a "Long axis" and optionally a "Short axis" measurement, each
inferred from a two-point SCOORD polyline on one image: what LiverView writes, and what dcmjs/OHIF write for
bidirectional measurements. A SEG's segment becomes a lesion when it is a morphologically abnormal structure
or its type is a lesion kind LiverView knows; organs and other structures are listed as not imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from liverview.io.export.dicom_seg import LESION_TYPE_CODES, lesion_class_of_code, sort_along_normal
from liverview.io.export.dicom_sr import _axis_of, _planes_by_series

_PERSON_OBSERVER_NAME = "121008"  # DCM "Person Observer Name"
_LESION_TYPES = {(c.value, c.scheme_designator) for c in (*LESION_TYPE_CODES.values(), codes.SCT.Lesion,
                                                            codes.SCT.Neoplasm, codes.SCT.Tumor)}


class DicomImportError(ValueError):
    """The file cannot be read as the DICOM object it claims to be; the message says why."""


@dataclass(frozen=True)
class SeriesImages:
    """The images of one series of the study, and the study phase they were loaded as."""

    phase: str
    images: Sequence[Dataset]
    # Slice k of the phase's volume behind each image sorted along the normal (Volume.acquired_slices), and the
    # volume's slice count; empty and 0: image n is slice n.
    slice_k: tuple[int, ...] = ()
    slice_count: int = 0

    def k_of(self, n: int) -> int:
        """The volume's slice behind sorted image n."""
        return self.slice_k[n] if self.slice_k else n

    def on_volume_grid(self, per_image: np.ndarray) -> np.ndarray:
        """An array with one entry per sorted image (along axis 0), on the volume's slices: zero on missing ones."""
        if not self.slice_k:
            return per_image
        out = np.zeros((self.slice_count,) + per_image.shape[1:], per_image.dtype)
        out[list(self.slice_k)] = per_image
        return out


@dataclass(frozen=True)
class FoundMeasurement:
    """A RECIST measurement read from an SR, in LPS mm on a phase's grid (key slice = k of its volume)."""

    label: str
    tracking_uid: str
    lesion_class: str  # "" when the finding type is no class LiverView knows
    phase: str
    long_axis: tuple[np.ndarray, np.ndarray]
    short_axis: tuple[np.ndarray, np.ndarray] | None
    key_slice: int


@dataclass(frozen=True)
class FoundMask:
    """A segment read from a SEG, on a phase's grid, indexed [k, row, column] like its volume."""

    label: str
    tracking_uid: str
    lesion_class: str
    phase: str
    mask: np.ndarray


@dataclass
class DicomRead:
    """What a file held: the lesions that fit, one line per item that did not, and notes (observers, links)."""

    measurements: list[FoundMeasurement] = field(default_factory=list)
    masks: list[FoundMask] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    observers: list[str] = field(default_factory=list)


def sr_observers(ds: Dataset) -> list[str]:
    """The person observers a report names (top-level "Person Observer Name" items), in order."""
    out = []
    for item in getattr(ds, "ContentSequence", []):
        concept = item.get("ConceptNameCodeSequence")
        if item.get("ValueType") == "PNAME" and concept and concept[0].CodeValue == _PERSON_OBSERVER_NAME:
            out.append(str(item.PersonName))
    return out


def _measurement_names(group: hd.sr.MeasurementsAndQualitativeEvaluations) -> str:
    names = [m.name.meaning for m in group.get_measurements()]
    return ", ".join(names) if names else "no measurements"


def read_sr_lesions(path: str | Path, series: Sequence[SeriesImages]) -> DicomRead:
    """RECIST measurements of a TID 1500 report mapped onto the study's series; groups without a long axis,
    with axes on two images, or on an image of no study series are listed in ``skipped``."""
    path = Path(path)
    try:
        sr = hd.sr.srread(path)
        report = sr.content
        groups = report.get_image_measurement_groups()
        volumetric = report.get_volumetric_roi_measurement_groups()
        planar = report.get_planar_roi_measurement_groups()
    except Exception as e:  # pydicom/highdicom raise many kinds for a file that is not this SR
        raise DicomImportError(f"cannot read {path.name} as a TID 1500 measurement report: {e}") from e
    planes, phase_of = {}, {}
    for s in series:
        for uid, group in _planes_by_series(s.images).items():
            for n, plane in enumerate(group):
                planes[str(plane.ds.SOPInstanceUID)] = (s.k_of(n), plane)
                phase_of[str(plane.ds.SOPInstanceUID)] = s.phase
    out = DicomRead(observers=sr_observers(sr))
    for group in groups:
        label = str(group.tracking_identifier or "") or "(no tracking id)"
        what = f"measurement group '{label}'"
        try:
            long_axis = _axis_of(group, codes.SCT.LongAxis)
            short_axis = _axis_of(group, codes.SCT.ShortAxis)
        except Exception as e:  # a group built otherwise than RECIST polylines
            out.skipped.append(f"{what}: its axes are not one polyline each ({e})")
            continue
        if long_axis is None:
            out.skipped.append(f"{what}: holds no RECIST long axis ({_measurement_names(group)}), a measurement "
                               "type LiverView does not import")
            continue
        uid = long_axis[2]
        if uid not in planes:
            out.skipped.append(f"{what}: measured on image {uid}, which is in no series of this study")
            continue
        if short_axis is not None and short_axis[2] != uid:
            out.skipped.append(f"{what}: its long and short axes lie on two images")
            continue
        if len(long_axis[1]) != 2 or (short_axis is not None and len(short_axis[1]) != 2):
            out.skipped.append(f"{what}: an axis is a polyline of more than two points, not a RECIST diameter")
            continue
        k, plane = planes[uid]
        long_pts = plane.world(long_axis[1])
        short_pts = None if short_axis is None else plane.world(short_axis[1])
        out.measurements.append(FoundMeasurement(
            label=label, tracking_uid=str(group.tracking_uid or ""),
            lesion_class="" if group.finding_type is None else lesion_class_of_code(group.finding_type),
            phase=phase_of[uid], long_axis=(long_pts[0], long_pts[1]),
            short_axis=None if short_pts is None else (short_pts[0], short_pts[1]), key_slice=k))
    for group in volumetric:
        label = str(group.tracking_identifier or "")
        ref = group.referenced_segment
        if ref is not None:  # the mask lives in the SEG this names: the SR holds no voxels of it
            out.notes.append(f"'{label}': its mask is segment {', '.join(map(str, ref.referenced_segment_numbers))} "
                             f"of SEG {ref.referenced_sop_instance_uid} (import that file for it)")
        else:
            out.skipped.append(f"volumetric group '{label}': not a segment reference, which LiverView does not import")
    for group in planar:
        out.skipped.append(f"planar ROI group '{group.tracking_identifier or ''}': a region measurement, which "
                           "LiverView does not import")
    return out


def _is_lesion(description: hd.seg.SegmentDescription) -> bool:
    category = description.segmented_property_category
    kind = description.segmented_property_type
    abnormal = (category.value, category.scheme_designator) == (codes.SCT.MorphologicallyAbnormalStructure.value, "SCT")
    return abnormal or (kind.value, kind.scheme_designator) in _LESION_TYPES


def _referenced_series(seg: Dataset) -> list[str]:
    return [str(item.SeriesInstanceUID) for item in getattr(seg, "ReferencedSeriesSequence", [])]


def read_seg_lesions(path: str | Path, series: Mapping[str, SeriesImages]) -> DicomRead:
    """One mask per lesion segment of a SEG, on the grid of the study series it was made on (``series``: series
    UID -> images); segments that are no lesion, or whose frames match no study series, are listed."""
    path = Path(path)
    try:
        seg = hd.seg.segread(path)
        numbers = list(seg.segment_numbers)
    except Exception as e:  # pydicom/highdicom raise many kinds for a file that is not a SEG
        raise DicomImportError(f"cannot read {path.name} as a DICOM SEG: {e}") from e
    out = DicomRead()
    found = [uid for uid in _referenced_series(seg) if uid in series]
    for number in numbers:
        description = seg.get_segment_description(number)
        label = str(description.segment_label)
        what = f"segment {number} ('{label}')"
        if not _is_lesion(description):
            out.skipped.append(f"{what}: a {description.segmented_property_type.meaning} "
                               f"({description.segmented_property_category.meaning}), not a lesion")
            continue
        if not found:
            out.skipped.append(f"{what}: its frames refer to series {', '.join(_referenced_series(seg)) or '(none)'}, "
                               "which is not in this study")
            continue
        target = series[found[0]]
        images = sort_along_normal(target.images)
        try:
            pixels = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=[str(ds.SOPInstanceUID) for ds in images], segment_numbers=[number],
                combine_segments=False, assert_missing_frames_are_empty=True)
        except Exception as e:  # highdicom: frames on images outside the series, or not one frame per image
            out.skipped.append(f"{what}: its frames do not match the images of the {target.phase} series ({e})")
            continue
        mask = target.on_volume_grid(np.asarray(pixels[..., 0]).astype(bool))
        if not mask.any():
            out.skipped.append(f"{what}: it holds no voxels")
            continue
        out.masks.append(FoundMask(label, str(description.tracking_uid or ""),
                                   lesion_class_of_code(description.segmented_property_type), target.phase, mask))
    return out
