"""RECIST measurements as a DICOM SR TID 1500 Measurement Report (highdicom), and back.

One TID 1501 measurement group per lesion (tracking id = the lesion's label, its tracking UID,
finding type from the lesion class, method RECIST 1.1, optional finding site), referencing the key-slice
image. It holds two TID 300 measurements in mm (UCUM "mm"): "Long axis" (SCT 103339001) and
"Short axis" (SCT 103340004), each INFERRED FROM a two-point SCOORD POLYLINE on that image, the
encoding dcmjs/OHIF use for bidirectional measurements. highdicom allows SCOORDs inside a
measurement only in TID 1501 groups, not in TID 1410 planar-ROI groups, hence 1501.

SCOORD pixel coordinates follow DICOM (PS3.3 C.18.6.1.1): (column, row) with the top-left corner
of the top-left pixel at (0, 0), i.e. LiverView's pixel-centre index + 0.5.

Measurements of one study may lie on several series (contrast phases): each group then references an
image of the series it was measured on, which is how the report says the phase; its key slice reads
back as the index within that series.

Where the lesions' masks are written as a DICOM SEG in the same export, the report lists the SEG among its
evidence and adds, per lesion with a segment, a TID 1411 volumetric group with the same tracking identifier
and UID whose "Referenced Segment" names the SEG instance and segment number: the standard's way to tie a
measurement to a segmentation (TID 1501 groups have no segment reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from liverview import __version__
from liverview.io.export.dicom_charset import set_character_set
from liverview.io.export.dicom_seg import (
    DicomExportError,
    lesion_class_of_code,
    lesion_type_code,
    sort_along_normal,
)
from liverview.io.replace_on_success import replaced_on_success
from liverview.measure.recist import RecistMeasurement

_PLANE_TOL_MM = 0.01  # end points must lie this close to the key image's plane
_DEVICE_UID = generate_uid(entropy_srcs=["LiverView workstation"])  # stable across runs


@dataclass(frozen=True)
class SrInfo:
    """The series the report becomes and what it says about all measurements."""

    series_number: int = 902
    series_description: str = "LiverView RECIST measurements"
    manufacturer: str = "LiverView"
    finding_site: Code | None = codes.SCT.Liver
    method: Code = codes.DCM.RECIST1Point1


@dataclass(frozen=True)
class SrLesionMeasurement:
    """One measurement group read back: the axes in mm and what the report states about them."""

    measurement: RecistMeasurement
    long_axis_mm: float  # the stored NUM value
    short_axis_mm: float | None
    lesion_class: str
    referenced_sop_instance_uid: str
    referenced_series_uid: str = ""
    tracking_uid: str = ""


@dataclass(frozen=True)
class _ImagePlane:
    ds: Dataset
    ipp: np.ndarray
    x: np.ndarray  # LPS direction of increasing column
    y: np.ndarray  # LPS direction of increasing row
    col_mm: float
    row_mm: float

    @classmethod
    def of(cls, ds: Dataset) -> "_ImagePlane":
        iop = np.array(ds.ImageOrientationPatient, float)
        spacing = np.array(ds.PixelSpacing, float)  # [between rows, between columns]
        ipp = np.array(ds.ImagePositionPatient, float)
        return cls(ds, ipp, iop[:3], iop[3:], float(spacing[1]), float(spacing[0]))

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.x, self.y)

    def scoord(self, points: np.ndarray) -> np.ndarray:
        d = np.asarray(points, float) - self.ipp
        return np.column_stack([d @ self.x / self.col_mm, d @ self.y / self.row_mm]) + 0.5

    def world(self, scoord: np.ndarray) -> np.ndarray:
        cr = np.asarray(scoord, float).reshape(-1, 2) - 0.5
        return self.ipp + np.outer(cr[:, 0] * self.col_mm, self.x) + np.outer(cr[:, 1] * self.row_mm, self.y)


def _planes_by_series(images: Sequence[Dataset]) -> dict[str, list[_ImagePlane]]:
    """The image planes of each series, sorted along the slice normal (index = k of its volume)."""
    groups: dict[str, list[Dataset]] = {}
    for ds in images:
        groups.setdefault(str(getattr(ds, "SeriesInstanceUID", "")), []).append(ds)
    return {uid: [_ImagePlane.of(ds) for ds in sort_along_normal(group)] for uid, group in groups.items()}


def _key_image(m: RecistMeasurement, planes: list[_ImagePlane]) -> tuple[int, _ImagePlane]:
    points = np.array(m.long_axis + (m.short_axis or ()))
    off = [float(np.abs((points - p.ipp) @ p.normal).max()) for p in planes]
    n = int(np.argmin(off))
    if off[n] > _PLANE_TOL_MM:
        raise DicomExportError(
            f"measurement of lesion '{m.lesion_id}' lies {off[n]:.3g} mm off the nearest source image: "
            "give the images of the series it was measured on"
        )
    return n, planes[n]


def _axis(name: Code, segment: tuple, plane: _ImagePlane, source: hd.sr.SourceImageForRegion) -> hd.sr.Measurement:
    graphic = plane.scoord(np.array(segment)).astype(np.float32)
    rows, cols = int(plane.ds.Rows), int(plane.ds.Columns)
    if graphic.min() < -1e-3 or np.any(graphic.max(axis=0) > np.array([cols, rows]) + 1e-3):
        raise DicomExportError(
            f"an end point of the {name.meaning.lower()} lies outside image {plane.ds.SOPInstanceUID}"
        )
    return hd.sr.Measurement(
        name=name,
        value=round(float(np.linalg.norm(np.subtract(segment[1], segment[0]))), 6),
        unit=codes.UCUM.Millimeter,
        referenced_coordinates=[
            hd.sr.CoordinatesForMeasurement(
                graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                graphic_data=np.clip(graphic, 0, None),
                source_image=source,
            )
        ],
    )


def _segment_numbers(segmentation: Dataset | None) -> dict[str, int]:
    """Tracking UID -> segment number of each segment of a SEG that carries one."""
    out: dict[str, int] = {}
    for item in getattr(segmentation, "SegmentSequence", []) if segmentation is not None else []:
        if item.get("TrackingUID"):
            out[str(item.TrackingUID)] = int(item.SegmentNumber)
    return out


def _referenced_segment(segmentation: Dataset, number: int) -> hd.sr.ReferencedSegment:
    """A segment of the SEG, with its source named as the series (naming every source image would make each
    of them evidence of the report)."""
    series = str(segmentation.ReferencedSeriesSequence[0].SeriesInstanceUID)
    return hd.sr.ReferencedSegment(str(segmentation.SOPClassUID), str(segmentation.SOPInstanceUID), number,
                                   source_series=hd.sr.SourceSeriesForSegmentation(series))


def _observation_context(observers: Sequence[str], info: SrInfo) -> hd.sr.ObservationContext:
    """One person observer per reader (TID 1001 allows several), else LiverView as the device observer."""
    if not observers:
        return hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.cid270.Device,
                observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                    uid=_DEVICE_UID, name="LiverView", manufacturer_name=info.manufacturer, model_name=__version__
                ),
            )
        )
    people = [hd.sr.ObserverContext(observer_type=codes.cid270.Person,
                                    observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=n))
              for n in observers]
    context = hd.sr.ObservationContext(observer_person_context=people[0])
    for person in people[1:]:
        context.extend(person)
    return context


def write_recist_sr(
    measurements: Sequence[RecistMeasurement],
    source_images: Sequence[Dataset],
    path: str | Path,
    observer: str | Sequence[str] | None = None,
    lesion_classes: Mapping[str, str] | None = None,
    info: SrInfo = SrInfo(),
    series_of: Sequence[str] | None = None,
    tracking_uids: Mapping[str, str] | None = None,
    segmentation: Dataset | None = None,
) -> Dataset:
    """Write a TID 1500 report with one group per measurement; returns the written dataset.

    ``observer`` is the reader's name ("Family^Given"), or the names of every reader who measured; None records
    LiverView as a device observer (e.g. for measurements computed from masks). ``lesion_classes`` maps lesion
    id -> class, ``tracking_uids`` lesion id -> tracking UID (a new UID where absent). ``series_of`` names, per
    measurement, the SeriesInstanceUID among ``source_images`` it was measured on (its phase); without it every
    image is a candidate key image. ``segmentation``: the SEG written with this report; lesions whose tracking
    UID a segment carries get a group referencing that segment.
    """
    path = Path(path)
    if not measurements:
        raise DicomExportError(f"cannot write {path}: there are no measurements")
    if series_of is not None and len(series_of) != len(measurements):
        raise DicomExportError(f"cannot write {path}: {len(series_of)} series for {len(measurements)} measurements")
    by_series = _planes_by_series(source_images)
    every = [p for planes in by_series.values() for p in planes]
    classes = lesion_classes or {}
    uids = tracking_uids or {}
    segments = _segment_numbers(segmentation)
    groups, evidence, volumetric = [], {}, []
    for n, m in enumerate(measurements, start=1):
        if series_of is None:
            candidates = every
        elif series_of[n - 1] in by_series:
            candidates = by_series[series_of[n - 1]]
        else:
            raise DicomExportError(f"measurement of lesion '{m.lesion_id}': no image of series "
                                   f"{series_of[n - 1]} among the source images")
        _, plane = _key_image(m, candidates)
        ds = plane.ds
        evidence[str(ds.SOPInstanceUID)] = ds
        region_source = hd.sr.SourceImageForRegion(str(ds.SOPClassUID), str(ds.SOPInstanceUID))
        axes = [_axis(codes.SCT.LongAxis, m.long_axis, plane, region_source)]
        if m.short_axis is not None:
            axes.append(_axis(codes.SCT.ShortAxis, m.short_axis, plane, region_source))
        tracking_uid = uids.get(m.lesion_id) or hd.UID()
        identifier = m.lesion_id or f"Lesion {n}"
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=identifier),
                finding_type=lesion_type_code(classes.get(m.lesion_id, "")),
                method=info.method,
                finding_sites=None if info.finding_site is None else [hd.sr.FindingSite(info.finding_site)],
                measurements=axes,
                source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ds)],
            )
        )
        if segmentation is not None and str(tracking_uid) in segments:
            volumetric.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=identifier),
                referenced_segment=_referenced_segment(segmentation, segments[str(tracking_uid)]),
                finding_type=lesion_type_code(classes.get(m.lesion_id, "")),
                finding_sites=None if info.finding_site is None else [hd.sr.FindingSite(info.finding_site)],
            ))
    names = [observer] if isinstance(observer, str) else list(observer or [])
    context = _observation_context([n for n in dict.fromkeys(names) if n], info)
    library = list(evidence.values())  # the image library lists images; the SEG is evidence only
    if segmentation is not None:
        evidence[str(segmentation.SOPInstanceUID)] = segmentation
    try:
        report = hd.sr.MeasurementReport(
            observation_context=context,
            procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
            imaging_measurements=groups + volumetric,
            title=codes.cid7021.ImagingMeasurementReport,
            referenced_images=library,
        )
        sr = hd.sr.Comprehensive3DSR(
            evidence=list(evidence.values()),
            content=report,
            series_instance_uid=hd.UID(),
            series_number=info.series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=info.manufacturer,
            series_description=info.series_description,
        )
    except (ValueError, TypeError, AttributeError) as e:
        raise DicomExportError(f"cannot build the DICOM SR for {path}: {e}") from e
    try:
        set_character_set(sr)  # names outside ASCII are written as they are, not as '?'
        with replaced_on_success(path) as (partial,):
            sr.save_as(partial)
    except OSError as e:
        raise DicomExportError(f"cannot write {path}: {e.strerror or e}") from e
    return sr


def _axis_of(
    group: hd.sr.MeasurementsAndQualitativeEvaluations, name: Code
) -> tuple[float, np.ndarray, str] | None:
    """(stored length mm, SCOORD points, referenced image UID) of one axis, or None when absent."""
    found = group.get_measurements(name=name)
    if not found:
        return None
    m = found[0]
    coords = m.referenced_coordinates
    if len(coords) != 1:
        raise DicomExportError(
            f"the {name.meaning.lower()} has {len(coords)} coordinate items; expected one polyline"
        )
    item = coords[0]
    uid = str(item.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
    return float(m.value), np.asarray(item.value, float), uid


def read_recist_sr(path: str | Path, source_images: Sequence[Dataset]) -> list[SrLesionMeasurement]:
    """The RECIST groups of a TID 1500 report, with end points mapped to LPS mm via ``source_images``.

    ``key_slice`` of each measurement is the index of its image among ``source_images`` sorted
    along the slice normal (= k of the volume loaded from them).
    """
    path = Path(path)
    try:
        sr = hd.sr.srread(path)
        report = sr.content
        groups = report.get_image_measurement_groups()
    except Exception as e:  # pydicom/highdicom raise many kinds for a file that is not this SR
        raise DicomExportError(f"cannot read {path} as a TID 1500 measurement report: {e}") from e
    planes, index = [], {}
    for series_planes in _planes_by_series(source_images).values():
        for n, p in enumerate(series_planes):
            index[str(p.ds.SOPInstanceUID)] = n
            planes.append(p)
    by_uid = {str(p.ds.SOPInstanceUID): p for p in planes}
    out = []
    for group in groups:
        long_axis = _axis_of(group, codes.SCT.LongAxis)
        if long_axis is None:
            continue
        short_axis = _axis_of(group, codes.SCT.ShortAxis)
        uid = long_axis[2]
        if uid not in index or (short_axis is not None and short_axis[2] != uid):
            raise DicomExportError(f"{path} refers to image {uid}, which is not among the given source images")
        plane = by_uid[uid]
        lesion_id = str(group.tracking_identifier or "")
        long_pts = plane.world(long_axis[1])
        short_pts = None if short_axis is None else plane.world(short_axis[1])
        out.append(
            SrLesionMeasurement(
                measurement=RecistMeasurement(
                    long_axis=(long_pts[0], long_pts[1]),
                    short_axis=None if short_pts is None else (short_pts[0], short_pts[1]),
                    key_slice=index[uid],
                    lesion_id=lesion_id,
                ),
                long_axis_mm=long_axis[0],
                short_axis_mm=None if short_axis is None else short_axis[0],
                lesion_class="" if group.finding_type is None else lesion_class_of_code(group.finding_type),
                referenced_sop_instance_uid=uid,
                referenced_series_uid=str(getattr(plane.ds, "SeriesInstanceUID", "")),
                tracking_uid=str(group.tracking_uid or ""),
            )
        )
    return out
