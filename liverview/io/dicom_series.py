"""Load every DICOM image series of a folder into Volumes with their patient geometry.

Files are read once each (header and pixels in one pydicom pass: faster than a header scan followed
by a pixel pass). Slices are grouped by SeriesInstanceUID, and a series is split further where its
slices differ in orientation, image size or pixel spacing. Within a group the slices are ordered by
their position along the slice normal (row cosine x column cosine), never by InstanceNumber or name,
the same way ITK/GDCM orders them, so the geometry agrees with SimpleITK's ImageSeriesReader.

A slice is checked before it is shown: its own tags (bits, rescale slope / intercept, pixel spacing,
orientation) must be sane, and it must fit its series (the pixel format of most slices, plausible CT
numbers when most slices have them, a position on the line the others lie on). A slice that does not
is left out, never shown as data, and named in the series' warnings and the skipped files. The decoded
pixels of one load are bounded by liverview.io.limits; pydicom's and native decoders' warnings become
warnings of the load.
"""

from __future__ import annotations

import logging
import os
import warnings as py_warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from liverview.core.volume import GeometryError, Volume
from liverview.io.errors import LoadError, MissingInputError, NoImageSeriesError
from liverview.io.freed_memory import return_freed_memory
from liverview.io.limits import ImageTooLargeError, check_decoded_size, describe_bytes, max_image_bytes
from liverview.io.load_monitor import QUIET, LoadMonitor
from liverview.io.native_warnings import captured_native_output
from liverview.io.slice_grid import STEP_TOLERANCE, SliceGrid, fill_missing, regular_grid

log = logging.getLogger(__name__)

# Objects that may carry pixels or positions but are not images to show as a volume.
NON_IMAGE_MODALITIES = {"SR", "RTSTRUCT", "RTPLAN", "RTRECORD", "RTDOSE", "SEG", "PR", "KO", "REG", "DOC"}
_NATIVE_LE = {ImplicitVRLittleEndian, ExplicitVRLittleEndian}
_ORIENTATION_TOL = 1e-3  # max difference of direction cosines within one volume
_DUPLICATE_TOL_MM = 1e-3  # slices closer than this along the normal are at the same place
_SPACING_TOL = 0.01  # relative deviation of slice steps that earns a warning
# What a slice must satisfy to be shown (checked per slice, then against the rest of its series).
_SLOPE_RANGE = (1e-6, 1e6)  # |RescaleSlope|; outside it the tag is damaged (e.g. 1e30)
_INTERCEPT_MAX = 1e6  # |RescaleIntercept|
_UNIT_TOL = 0.01  # ImageOrientationPatient vectors: length 1 and perpendicular within this
_CT_PLAUSIBLE_HU = (-1100.0, 3100.0)  # air .. dense bone / contrast
_CT_MIN_PLAUSIBLE_FRACTION = 0.01  # a CT slice has at least this share of its pixels in that window
_OUTLIER_GAP_FACTOR = 10.0  # an end slice this many median steps away from the rest is out of place
_BITS_ALLOCATED = (1, 8, 16, 32, 64)


@dataclass
class DicomSeries:
    """One image series (or one part of a split series) as a Volume plus the tags the UI shows."""

    uid: str
    description: str
    modality: str
    volume: Volume
    files: list[Path]
    acquisition_time_s: float | None = None  # seconds since midnight (earliest slice)
    contrast_agent: str | None = None  # ContrastBolusAgent as written (may say "NONE")
    frame_of_reference_uid: str = ""
    patient_id: str = ""
    study_uid: str = ""
    warnings: list[str] = field(default_factory=list)
    protocol_name: str = ""
    series_number: int | None = None
    contrast_start_time_s: float | None = None  # ContrastBolusStartTime, seconds since midnight
    patient_name: str = ""
    study_description: str = ""
    image_type: tuple[str, ...] = ()
    part: int = 0  # 1, 2, ... when one SeriesInstanceUID was split into several volumes; else 0
    # The file behind each slice k of the volume (a multi-frame file stands behind several), for the tag view;
    # None for a slice missing from the series (Volume.missing_slices).
    slice_files: list[Path | None] = field(default_factory=list)

    @property
    def is_localizer(self) -> bool:
        """True for scout / topogram images (ImageType says LOCALIZER)."""
        return "LOCALIZER" in self.image_type

    @property
    def label(self) -> str:
        """Short human name: description, else modality and series number, else the end of its UID."""
        modality = self.modality or "DICOM"
        base = self.description or (f"{modality} series {self.series_number}" if self.series_number else
                                    f"{modality} series (UID ...{self.uid[-8:]})" if self.uid else f"{modality} series")
        return f"{base} (part {self.part})" if self.part else base


@dataclass
class ScanReport:
    """Image series found in a folder and the files that were not used, each with its reason."""

    series: list[DicomSeries]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


class _Skip(Exception):
    """A file is not usable as an image slice; the message is the reason shown to the user. ``series_uid``
    is set when the file names a series: it is then a slice left out of that series."""

    series_uid = ""


@dataclass
class _Header:
    """One file's dataset with the tags every slice needs; the rest is read on demand (faster)."""

    path: Path
    ds: Dataset
    series_uid: str
    modality: str

    def text(self, keyword: str) -> str:
        return _text(self.ds, keyword)

    @property
    def instance_number(self) -> int:
        return _int(self.ds.get("InstanceNumber")) or 0

    @property
    def acquisition_time_s(self) -> float | None:
        return _acquisition_time(self.ds)

    @property
    def slice_thickness(self) -> float | None:
        return _float(self.ds.get("SliceThickness"))

    @property
    def spacing_between_slices(self) -> float | None:
        return _float(self.ds.get("SpacingBetweenSlices"))

    @property
    def series_number(self) -> int | None:
        return _int(self.ds.get("SeriesNumber"))


@dataclass
class _Slice:
    """One 2D image (a file, or one frame of a multi-frame file) with its geometry and raw pixels."""

    header: _Header
    position: np.ndarray  # ImagePositionPatient, LPS mm
    row_cos: np.ndarray  # direction of increasing column index i
    col_cos: np.ndarray  # direction of increasing row index j
    spacing_ij: tuple[float, float]  # (between columns, between rows) = (PixelSpacing[1], PixelSpacing[0])
    pixels: np.ndarray  # raw stored values, shape (rows, cols)
    slope: float
    intercept: float
    frame: int = 0
    enhanced: bool = False  # geometry came from functional groups of a multi-frame file
    pixel_format: tuple[Any, ...] = ()  # bits allocated / stored, signedness, samples, photometric

    @property
    def name(self) -> str:
        """The file (and frame) for a message."""
        return self.header.path.name + (f" frame {self.frame + 1}" if self.enhanced else "")

    @property
    def temporal(self) -> str:
        """What tells repeated acquisitions at one position apart (acquisition, time point, echo)."""
        if self.enhanced:
            content = _functional_item(self.header.ds, self.frame, "FrameContentSequence")
            if content is None:
                return ""
            return "/".join(_text(content, k) for k in ("TemporalPositionIndex", "StackID"))
        return "/".join(
            _text(self.header.ds, k) for k in ("AcquisitionNumber", "TemporalPositionIdentifier", "EchoNumbers")
        )

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.row_cos, self.col_cos)
        return n / np.linalg.norm(n)


# --- small tag helpers ---------------------------------------------------------------------------
def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_dicom_time(value: Any) -> float | None:
    """DICOM TM ('HHMMSS.FFFFFF', 'HHMM', 'HH:MM:SS') or the time part of a DT -> seconds since midnight."""
    text = str(value or "").strip().replace(":", "")
    if not text:
        return None
    if len(text) >= 14 and text[:8].isdigit() and "." not in text[:8]:  # a DT: YYYYMMDDHHMMSS...
        text = text[8:]
    for sep in "+-":  # a DT may end in a UTC offset
        if sep in text:
            text = text.split(sep)[0]
    main, _, frac = text.partition(".")
    if not main.isdigit() or len(main) < 2:
        return None
    hh, mm, ss = int(main[0:2]), int(main[2:4] or 0), int(main[4:6] or 0)
    if hh > 23 or mm > 59 or ss > 60:
        return None
    seconds = hh * 3600 + mm * 60 + ss
    if frac.isdigit():
        seconds += float("0." + frac)
    return float(seconds)


def _contrast_agent(ds: Dataset) -> str | None:
    agent = _text(ds, "ContrastBolusAgent")
    if agent:
        return agent
    for seq_name in ("ContrastBolusAgentSequence", "EnhancedContrastBolusSequence"):
        for item in ds.get(seq_name, []) or []:
            meaning = _text(item, "CodeMeaning")
            if meaning:
                return meaning
            for sub in item.get("ContrastBolusAgentSequence", []) or []:
                meaning = _text(sub, "CodeMeaning")
                if meaning:
                    return meaning
    return None


def _acquisition_time(ds: Dataset) -> float | None:
    for keyword in ("AcquisitionTime", "AcquisitionDateTime", "ContentTime", "SeriesTime"):
        t = parse_dicom_time(ds.get(keyword))
        if t is not None:
            return t
    return None


# --- pixels --------------------------------------------------------------------------------------
def _fix_unused_bits(arr: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    """Mask (unsigned) or sign-extend (signed) values stored in fewer bits than allocated."""
    width = arr.dtype.itemsize * 8
    if arr.dtype.kind not in "ui" or not 0 < bits_stored < width:
        return arr
    if signed:
        shift = width - bits_stored
        return (arr << shift) >> shift
    return arr & arr.dtype.type((1 << bits_stored) - 1)


def _native_pixels(ds: Dataset, rows: int, cols: int) -> np.ndarray | None:
    """Uncompressed little-endian single-sample pixels read straight from the bytes (fast path)."""
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    bits = _int(ds.get("BitsAllocated"))
    if tsyntax not in _NATIVE_LE or _int(ds.get("SamplesPerPixel", 1)) != 1 or bits not in (8, 16, 32):
        return None
    signed = _int(ds.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    data = ds.PixelData
    expected = rows * cols * dtype.itemsize
    if len(data) < expected:
        raise _Skip(f"truncated pixel data ({len(data)} of {expected} bytes); the file is incomplete")
    arr = np.frombuffer(data, dtype=dtype, count=rows * cols).reshape(rows, cols)
    bits_stored = _int(ds.get("BitsStored")) or bits
    if bits_stored < bits:
        arr = _fix_unused_bits(arr, bits_stored, signed)
    return arr


def _decoded_pixels(ds: Dataset, frames: int, warnings: list[str]) -> np.ndarray:
    """Pixels through pydicom's decoders (compressed, big-endian, colour, multi-frame), as (F, R, C)."""
    try:
        arr = ds.pixel_array
    except Exception as exc:  # pydicom raises many kinds: missing decoder, bad length, ...
        tsyntax = ds.file_meta.get("TransferSyntaxUID", "?") if hasattr(ds, "file_meta") else "?"
        name = getattr(tsyntax, "name", str(tsyntax))
        raise _Skip(f"pixel data cannot be decoded ({name}): {exc}") from exc
    samples = _int(ds.get("SamplesPerPixel", 1)) or 1
    if samples > 1:
        rgb = arr[..., :3].astype(np.float32)
        arr = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.float32)
        warnings.append("colour image converted to grey (luminance)")
    if frames == 1 and arr.ndim == 2:
        arr = arr[np.newaxis]
    return arr


# --- geometry per frame --------------------------------------------------------------------------
def _functional_item(ds: Dataset, frame: int, sequence: str) -> Dataset | None:
    """First item of a functional group macro for a frame: per-frame first, then shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and frame < len(per_frame):
        seq = per_frame[frame].get(sequence)
        if seq:
            return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        seq = shared[0].get(sequence)
        if seq:
            return seq[0]
    return None


def _vector(values: Any, n: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in values], dtype=float)
    except (TypeError, ValueError) as exc:
        raise _Skip(f"{what} is not numeric ({values!r})") from exc
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise _Skip(f"{what} must hold {n} finite numbers, got {values!r}")
    return arr


def _text_vector(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):g}" for v in values) + "]"


def _orientation(values: Any) -> tuple[np.ndarray, np.ndarray]:
    iop = _vector(values, 6, "ImageOrientationPatient")
    row, col = iop[:3], iop[3:]
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if nr < 1e-6 or nc < 1e-6 or np.linalg.norm(np.cross(row, col)) < 1e-6 * nr * nc:
        raise _Skip(f"ImageOrientationPatient {_text_vector(iop)} does not define a plane")
    if abs(nr - 1) > _UNIT_TOL or abs(nc - 1) > _UNIT_TOL or abs(row @ col) / (nr * nc) > _UNIT_TOL:
        raise _Skip(f"ImageOrientationPatient {_text_vector(iop)} is not two perpendicular unit vectors: "
                    "the tag is damaged")
    return row / nr, col / nc


def _pixel_spacing(item: Dataset | None, ds: Dataset, warnings: list[str]) -> tuple[float, float]:
    for source in (item, ds):
        if source is None:
            continue
        for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
            value = source.get(keyword)
            if value is None:
                continue
            values = [_float(v) for v in value] if isinstance(value, (list, tuple, MultiValue)) else [None]
            if len(values) != 2 or not all(v is not None and v > 0 for v in values):
                raise _Skip(f"{keyword} '{_text(source, keyword)}' is not two positive numbers: "
                            "the tag is damaged, so distances on this slice would be wrong")
            dj, di = values  # PixelSpacing = (between rows, between columns)
            return di, dj
    warnings.append("no PixelSpacing: 1 mm assumed in-plane")
    return 1.0, 1.0


def _rescale_value(source: Dataset, keyword: str, default: float, warnings: list[str]) -> float | None:
    """One rescale tag as a number; absent or empty means ``default`` (said in a warning), None when unreadable."""
    if _text(source, keyword) == "":
        warnings.append(f"{keyword} is {'empty' if keyword in source else 'missing'}: {default:g} assumed; "
                        "if the CT numbers (HU) look wrong, the file's rescale tags are damaged")
        return default
    return _float(source.get(keyword))


def _rescale(item: Dataset | None, ds: Dataset, warnings: list[str]) -> tuple[float, float]:
    for source in (item, ds):
        if source is not None and ("RescaleSlope" in source or "RescaleIntercept" in source):
            slope = _rescale_value(source, "RescaleSlope", 1.0, warnings)
            intercept = _rescale_value(source, "RescaleIntercept", 0.0, warnings)
            if slope is None or not _SLOPE_RANGE[0] <= abs(slope) <= _SLOPE_RANGE[1]:
                raise _Skip(f"RescaleSlope {_text(source, 'RescaleSlope')!r} is outside the plausible "
                            f"{_SLOPE_RANGE[0]:g}..{_SLOPE_RANGE[1]:g}: the tag is damaged")
            if intercept is None or abs(intercept) > _INTERCEPT_MAX:
                raise _Skip(f"RescaleIntercept {_text(source, 'RescaleIntercept')!r} is not a plausible "
                            "number: the tag is damaged")
            return slope, intercept
    return 1.0, 0.0


def _pixel_format(ds: Dataset) -> tuple[Any, ...]:
    """(BitsAllocated, BitsStored, PixelRepresentation, SamplesPerPixel, PhotometricInterpretation), checked."""
    allocated = _int(ds.get("BitsAllocated"))
    stored = _int(ds.get("BitsStored", allocated))
    representation = _int(ds.get("PixelRepresentation", 0))
    samples = _int(ds.get("SamplesPerPixel", 1)) or 1
    if allocated not in _BITS_ALLOCATED:
        raise _Skip(f"BitsAllocated {ds.get('BitsAllocated')!r} is not one of {_BITS_ALLOCATED}: the tag is damaged")
    if stored is None or not 1 <= stored <= allocated:
        raise _Skip(f"BitsStored {ds.get('BitsStored')!r} does not fit BitsAllocated {allocated}: the tag is damaged")
    if representation not in (0, 1):
        raise _Skip(f"PixelRepresentation {ds.get('PixelRepresentation')!r} must be 0 or 1: the tag is damaged")
    return allocated, stored, representation, samples, _text(ds, "PhotometricInterpretation").upper()


def _describe_format(fmt: tuple[Any, ...]) -> str:
    allocated, stored, representation, samples, photometric = fmt
    kind = "signed" if representation else "unsigned"
    colour = f", {samples} samples" if samples != 1 else ""
    return f"{stored} of {allocated} bits {kind}{colour} {photometric or '?'}"


class _Budget:
    """Decoded bytes of the pixels read so far in one load, against the memory limit."""

    def __init__(self) -> None:
        self.limit = max_image_bytes()
        self.spent = 0

    def spend(self, n: int, where: str) -> None:
        check_decoded_size(where, n, "this file's pixels")
        self.spent += n
        if self.spent > self.limit:
            raise ImageTooLargeError(
                f"{where}: the DICOM files read so far hold {describe_bytes(self.spent)} of pixels, over the "
                f"limit of {describe_bytes(self.limit)} (LIVERVIEW_MAX_IMAGE_BYTES); open fewer series at once")


def _frame_slices(ds: Dataset, header: _Header, warnings: list[str], budget: _Budget) -> list[_Slice]:
    """All frames of a file as slices (one for a classic single-frame image)."""
    rows, cols = _int(ds.get("Rows")), _int(ds.get("Columns"))
    if not rows or not cols or rows < 0 or cols < 0:
        raise _Skip("image without Rows/Columns")
    frames = _int(ds.get("NumberOfFrames", 1)) or 1
    if frames < 1:
        raise _Skip(f"NumberOfFrames {frames} is not a count of frames: the tag is damaged")
    fmt = _pixel_format(ds)
    try:
        budget.spend(rows * cols * frames * fmt[3] * max(fmt[0] // 8, 1), str(header.path))
    except ImageTooLargeError as exc:
        if budget.spent > budget.limit:
            raise  # the whole load is over the limit, not just this file
        raise _Skip(str(exc).removeprefix(f"{header.path}: ")) from None
    enhanced = "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds

    if frames == 1 and not enhanced:
        if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            raise _Skip(
                "no ImagePositionPatient/ImageOrientationPatient: not a slice of a volume "
                f"(modality {header.modality or '?'}; e.g. a projection, ultrasound or secondary capture)"
            )
        row, col = _orientation(ds.ImageOrientationPatient)
        position = _vector(ds.ImagePositionPatient, 3, "ImagePositionPatient")
        spacing = _pixel_spacing(None, ds, warnings)
        slope, intercept = _rescale(None, ds, warnings)
        pixels = _native_pixels(ds, rows, cols)
        if pixels is None:
            pixels = _decoded_pixels(ds, 1, warnings)[0]
        return [_Slice(header, position, row, col, spacing, pixels, slope, intercept, 0, False, fmt)]

    pixels_all = _decoded_pixels(ds, frames, warnings)
    if pixels_all.shape[0] != frames:
        raise _Skip(f"NumberOfFrames is {frames} but the pixel data holds {pixels_all.shape[0]} frame(s)")
    slices: list[_Slice] = []
    legacy_offsets: np.ndarray | None = None
    for f in range(frames):
        pos_item = _functional_item(ds, f, "PlanePositionSequence")
        ori_item = _functional_item(ds, f, "PlaneOrientationSequence")
        measures = _functional_item(ds, f, "PixelMeasuresSequence")
        transform = _functional_item(ds, f, "PixelValueTransformationSequence")
        iop = (ori_item or ds).get("ImageOrientationPatient")
        if iop is None:
            raise _Skip(f"multi-frame image without ImageOrientationPatient (frame {f + 1})")
        row, col = _orientation(iop)
        if pos_item is not None and "ImagePositionPatient" in pos_item:
            position = _vector(pos_item.ImagePositionPatient, 3, "ImagePositionPatient")
        elif "ImagePositionPatient" in ds:
            # Legacy multi-frame: frames stacked along the normal from the one position given.
            if legacy_offsets is None:
                legacy_offsets = _legacy_frame_offsets(ds, header, frames, warnings)
            normal = np.cross(row, col)
            normal /= np.linalg.norm(normal)
            position = _vector(ds.ImagePositionPatient, 3, "ImagePositionPatient") + legacy_offsets[f] * normal
        else:
            raise _Skip(f"multi-frame image without ImagePositionPatient (frame {f + 1})")
        spacing = _pixel_spacing(measures, ds, warnings if f == 0 else [])
        slope, intercept = _rescale(transform, ds, warnings if f == 0 else [])
        slices.append(_Slice(header, position, row, col, spacing, pixels_all[f], slope, intercept, f, True, fmt))
    return slices


def _legacy_frame_offsets(ds: Dataset, header: _Header, frames: int, warnings: list[str]) -> np.ndarray:
    """Offsets (mm along the normal) of the frames of a multi-frame file without per-frame positions."""
    grid = ds.get("GridFrameOffsetVector")
    if grid is not None and len(grid) == frames:
        return np.asarray([float(v) for v in grid])
    step = header.spacing_between_slices or header.slice_thickness
    if not step:
        raise _Skip("multi-frame image without per-frame positions or slice spacing")
    warnings.append(f"frame positions derived from one ImagePositionPatient and a {step:g} mm step")
    return np.arange(frames) * step


def _read_file(path: Path, budget: _Budget) -> tuple[list[_Slice], list[str]]:
    """Slices of one file plus warnings (pydicom's and its decoders' too); raises _Skip with the reason
    when it is no usable image."""
    with py_warnings.catch_warnings(record=True) as caught:
        py_warnings.simplefilter("always")
        slices, warnings = _read_file_checked(path, budget)
    for w in caught:
        text = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
        if text and text not in warnings:
            warnings.append(text)
    return slices, warnings


DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")  # a file so named that is no DICOM is a damaged slice, not a stray


def _read_file_checked(path: Path, budget: _Budget) -> tuple[list[_Slice], list[str]]:
    try:
        ds = pydicom.dcmread(path, force=False)
    except InvalidDicomError:
        if path.suffix.lower() in DICOM_SUFFIXES:  # named as a slice: a damaged one, not a stray file
            empty = " (empty)" if path.stat().st_size == 0 else ""
            raise _Skip(f"named as a DICOM file but unreadable as one{empty}: a damaged slice?") from None
        raise _Skip("not a DICOM file") from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on broken files; one bad file must not stop the scan
        raise _Skip(f"unreadable DICOM file ({type(exc).__name__}: {exc})") from exc
    warnings: list[str] = []
    try:
        modality = _text(ds, "Modality").upper()
        if modality in NON_IMAGE_MODALITIES:
            raise _Skip(f"not an image series (Modality {modality})")
        if "PixelData" not in ds:
            if "DirectoryRecordSequence" in ds:
                raise _Skip("DICOMDIR index file, not an image")
            sop = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID", "")
            name = getattr(sop, "name", str(sop)) or "unknown object"
            raise _Skip(f"no pixel data ({name}, Modality {modality or '?'}); not an image, or the file is truncated")
        header = _Header(path, ds, _text(ds, "SeriesInstanceUID"), modality)
        if not header.series_uid:
            raise _Skip("no SeriesInstanceUID")
        try:
            slices = _frame_slices(ds, header, warnings, budget)
        except _Skip as exc:
            exc.series_uid = header.series_uid
            raise
    except (_Skip, ImageTooLargeError):
        raise
    except Exception as exc:  # noqa: BLE001 - malformed values surface as any exception type when parsed
        raise _Skip(f"broken DICOM tags ({type(exc).__name__}: {exc})") from exc
    return slices, warnings


# --- grouping and assembly -----------------------------------------------------------------------
def _same_grid(a: _Slice, b: _Slice) -> bool:
    """Same image size, orientation (within _ORIENTATION_TOL) and pixel spacing (within 0.1 %)."""
    if a.pixels.shape != b.pixels.shape:
        return False
    if max(abs(x - y) for x, y in zip((*a.row_cos, *a.col_cos), (*b.row_cos, *b.col_cos))) > _ORIENTATION_TOL:
        return False
    return all(abs(x - y) <= 1e-3 * max(x, y) for x, y in zip(a.spacing_ij, b.spacing_ij))


def _group(slices: list[_Slice]) -> list[list[_Slice]]:
    """Groups by SeriesInstanceUID, then by orientation / image size / pixel spacing within a series."""
    by_uid: dict[str, list[list[_Slice]]] = {}
    for s in slices:
        groups = by_uid.setdefault(s.header.series_uid, [])
        for g in groups:
            if _same_grid(g[0], s):
                g.append(s)
                break
        else:
            groups.append([s])
    return [g for groups in by_uid.values() for g in groups]


def _position_ids(proj: np.ndarray) -> np.ndarray:
    """One id per distinct position along the normal (projections within _DUPLICATE_TOL_MM share it)."""
    order = np.argsort(proj, kind="stable")
    ids = np.empty(len(proj), dtype=int)
    ids[order] = np.cumsum(np.r_[0, np.diff(proj[order]) >= _DUPLICATE_TOL_MM])
    return ids


def _is_repeat(ids: list[int], others: set[int], union: int) -> bool:
    """A part of a series is a repeated acquisition (its own volume) when it is a volume (two or more slices,
    each at its own position) spanning most of the series' positions, most of them also taken by the other
    parts. Two runs that share a boundary slice, or one stray file with another AcquisitionNumber, are not."""
    own = set(ids)
    return len(ids) >= 2 and len(own) == len(ids) and 2 * len(own) > union and 2 * len(own & others) > len(own)


def _repeat_parts(group: list[_Slice], ids: np.ndarray) -> tuple[list[list[_Slice]], list[_Slice]]:
    """The group split by acquisition (AcquisitionNumber / temporal position) into true repeats, and the
    slices of the parts that are not repeats; nothing (two empty lists) when fewer than two parts are repeats."""
    by_temporal: dict[str, list[int]] = {}
    for n, s in enumerate(group):
        by_temporal.setdefault(s.temporal, []).append(n)
    union = len(set(ids.tolist()))
    positions = {key: [int(ids[n]) for n in idx] for key, idx in by_temporal.items()}
    repeats, rest = [], []
    for key, idx in by_temporal.items():
        others = {i for k, v in positions.items() if k != key for i in v}
        (repeats if _is_repeat(positions[key], others, union) else rest).append(idx)
    if len(repeats) < 2:
        return [], []
    return [[group[n] for n in idx] for idx in repeats], [group[n] for idx in rest for n in idx]


def _split_repeats(group: list[_Slice], warnings: list[str]) -> list[list[_Slice]]:
    """Separate repeated acquisitions at the same positions; drop true duplicates with a warning."""
    normal = group[0].normal
    proj = np.array([s.position @ normal for s in group])
    order = np.argsort(proj, kind="stable")
    if len(group) < 2 or np.min(np.diff(proj[order])) >= _DUPLICATE_TOL_MM:
        return [group]
    parts, rest = _repeat_parts(group, _position_ids(proj))
    if parts:
        warnings.append(
            f"{len(parts)} acquisitions at the same positions (AcquisitionNumber / temporal position) "
            "were loaded as separate volumes"
        )
        if rest:
            warnings.append(f"{len(rest)} slice(s) of other acquisitions were left out, too few to form a volume: "
                            + ", ".join(s.name for s in rest[:5]) + (" ..." if len(rest) > 5 else ""))
        return parts
    kept: list[_Slice] = []
    last: float | None = None
    for idx in sorted(range(len(group)), key=lambda n: (proj[n], group[n].header.instance_number)):
        if last is not None and abs(proj[idx] - last) < _DUPLICATE_TOL_MM:
            continue
        kept.append(group[idx])
        last = proj[idx]
    warnings.append(f"{len(group) - len(kept)} slice(s) at a position already filled were ignored (duplicates)")
    return [kept]


def _output_dtype(slices: list[_Slice]) -> tuple[np.dtype, bool]:
    """dtype of the rescaled volume and whether any slice needs rescaling at all.

    Integer pixels with integer slope/intercept stay integer (int16 when the rescaled range fits,
    as for CT in HU, else int32); anything else becomes float32.
    """
    needs = any(s.slope != 1.0 or s.intercept != 0.0 for s in slices)
    kinds = {s.pixels.dtype for s in slices}
    if any(d.kind not in "ui" for d in kinds):
        return np.dtype(np.float32), needs
    if not all(float(s.slope).is_integer() and float(s.intercept).is_integer() for s in slices):
        return np.dtype(np.float32), needs
    if not needs and len(kinds) == 1:
        (only,) = kinds
        if only in (np.dtype(np.int16), np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.int32)):
            return only, False
    lo = min(min(s.slope * np.iinfo(s.pixels.dtype).min, s.slope * np.iinfo(s.pixels.dtype).max) + s.intercept for s in slices)
    hi = max(max(s.slope * np.iinfo(s.pixels.dtype).min, s.slope * np.iinfo(s.pixels.dtype).max) + s.intercept for s in slices)
    if lo < np.iinfo(np.int16).min or hi > np.iinfo(np.int16).max:
        # The dtype's full range does not fit: look at the actual values before widening.
        lo = min(float(s.pixels.min()) * s.slope + s.intercept for s in slices)
        hi = max(float(s.pixels.max()) * s.slope + s.intercept for s in slices)
        lo, hi = min(lo, hi), max(lo, hi)
    for candidate in (np.int16, np.int32):
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            return np.dtype(candidate), needs
    return np.dtype(np.float64), needs


def _assemble(group: list[_Slice], warnings: list[str]) -> tuple[Volume, list[_Slice], list[Path | None]]:
    """Sort the slices along the normal and stack them into a Volume with LPS geometry; also returns the
    slices in order and the file behind each slice k of the volume (None for a missing slice)."""
    first = group[0]
    normal = first.normal
    proj = np.array([s.position @ normal for s in group])
    order = np.argsort(proj, kind="stable")
    ordered = [group[n] for n in order]
    proj = proj[order]
    n = len(ordered)
    grid = SliceGrid(0.0, tuple(range(n)), n)  # one grid slice per acquired slice unless slices are missing
    if n > 1:
        step = (proj[-1] - proj[0]) / (n - 1)
        gaps = np.diff(proj)
        if np.max(np.abs(gaps - step)) > _SPACING_TOL * step:
            found = regular_grid(proj)
            if found is None:
                warnings.append(
                    f"slice spacing is not uniform ({gaps.min():.3f} to {gaps.max():.3f} mm, mean {step:.3f} mm) and "
                    "not a regular step with slices missing: the volume uses the mean spacing, so positions along "
                    "the slice axis are approximate"
                )
            else:
                grid, step = found, found.step_mm
                warnings.append(_missing_slices_text(grid, first.header.spacing_between_slices))
        shift = (ordered[-1].position - ordered[0].position) / (grid.count - 1)
        in_plane = shift - (shift @ normal) * normal
        if np.linalg.norm(in_plane) > max(1e-3, 0.01 * step):
            angle = np.degrees(np.arctan2(np.linalg.norm(in_plane), step))
            warnings.append(
                f"slices are offset in-plane from one to the next (gantry tilt about {angle:.1f} deg); "
                "the volume is treated as unsheared, as SimpleITK does, so its geometry is approximate"
            )
    else:
        step = first.header.slice_thickness or first.header.spacing_between_slices or 0.0
        if not step > 0:
            step = 1.0
            warnings.append("a single slice without a usable SliceThickness: 1 mm assumed along the slice axis "
                            "(distances in-plane are not affected)")
    if abs(float(first.row_cos @ first.col_cos)) > 1e-3:
        warnings.append("row and column directions are not perpendicular (ImageOrientationPatient)")

    dtype, needs_rescale = _output_dtype(ordered)
    rows, cols = first.pixels.shape
    extra = " (missing slices included)" if grid.missing else ""
    check_decoded_size(str(first.header.path.parent), grid.count * rows * cols * dtype.itemsize,
                       f"the {cols} x {rows} x {grid.count} volume{extra} of series {first.header.series_uid}")
    array = np.empty((grid.count, rows, cols), dtype=dtype)
    for copied, (k, s) in enumerate(zip(grid.slice_k, ordered)):
        if not needs_rescale or (s.slope == 1.0 and s.intercept == 0.0):
            array[k] = s.pixels
        elif dtype.kind == "f":
            np.multiply(s.pixels, s.slope, out=array[k], casting="unsafe")
            array[k] += dtype.type(s.intercept)
        elif s.slope == 1.0:
            # Copy, then add in the output dtype. Integer wrap-around is modular, so the result is exact
            # whenever the rescaled value fits the output dtype, which _output_dtype checked.
            array[k] = s.pixels
            array[k] += dtype.type(int(s.intercept))
        else:
            array[k] = s.pixels.astype(np.int64) * int(s.slope) + int(s.intercept)
        _release_pixels(s)
        if copied % _TRIM_EVERY == _TRIM_EVERY - 1:
            return_freed_memory()
    return_freed_memory()
    fill_missing(array, grid)
    direction = np.column_stack([first.row_cos, first.col_cos, normal])
    spacing = (first.spacing_ij[0], first.spacing_ij[1], float(step))
    description = first.header.text("SeriesDescription")
    name = description or f"{first.header.modality or 'DICOM'} series {first.header.series_number or ''}".strip()
    try:
        volume = Volume(array, spacing, tuple(ordered[0].position), direction, name, grid.missing)
    except GeometryError as exc:
        raise LoadError(f"series {first.header.series_uid} ({first.header.path.parent}): {exc}") from exc
    files_by_k: list[Path | None] = [None] * grid.count
    for k, s in zip(grid.slice_k, ordered):
        files_by_k[k] = s.header.path
    return volume, ordered, files_by_k


def _missing_slices_text(grid: SliceGrid, stated_step: float | None) -> str:
    """The load warning for a series placed on its grid with slices missing: how many, where, and what the
    reader sees there."""
    missing = grid.missing
    where = ", ".join(f"{k + 1}" for k in missing[:8]) + (", ..." if len(missing) > 8 else "")
    stated = (f"; SpacingBetweenSlices says {stated_step:g} mm" if stated_step and
              abs(stated_step - grid.step_mm) > STEP_TOLERANCE * grid.step_mm else "")
    return (f"{len(missing)} slice(s) missing from the series (slice {where} of {grid.count} on its "
            f"{grid.step_mm:.3f} mm grid{stated}): the slice views hatch them and the 3D view leaves a gap, "
            "never showing them as data; detection and registration see them filled from the slices on either side")


_RELEASED = np.empty((0, 0), np.int16)
_TRIM_EVERY = 32  # slices copied between returns of their freed bytes to the system (32 x 512 kB = 16 MB)


def _release_pixels(s: _Slice) -> None:
    """Drop a slice's pixels once copied into its volume: the file's bytes are freed while the volume fills,
    so a series never holds its pixels twice (peak ~1x its size, not 2x)."""
    s.pixels = _RELEASED
    ds = s.header.ds
    if "PixelData" in ds:
        del ds.PixelData
    if getattr(ds, "_pixel_array", None) is not None:
        ds._pixel_array = None  # pydicom's cache of decoded (compressed, multi-frame) pixels


def _series(group: list[_Slice], file_warnings: dict[Path, list[str]], part: int) -> DicomSeries:
    warnings: list[str] = []
    seen: set[str] = set()
    for s in group:
        for w in file_warnings.get(s.header.path, []):
            if w not in seen:
                seen.add(w)
                warnings.append(w)
    volume, ordered, files_by_k = _assemble(group, warnings)
    files: list[Path] = list(dict.fromkeys(s.header.path for s in ordered))
    h = ordered[0].header
    ds = h.ds
    # Acquisition runs from one end of the stack to the other: the earliest of the two ends.
    times = [t for t in (h.acquisition_time_s, ordered[-1].header.acquisition_time_s) if t is not None]
    return DicomSeries(
        uid=h.series_uid,
        description=h.text("SeriesDescription"),
        modality=h.modality,
        volume=volume,
        files=files,
        acquisition_time_s=min(times) if times else None,
        contrast_agent=_contrast_agent(ds),
        frame_of_reference_uid=h.text("FrameOfReferenceUID"),
        patient_id=h.text("PatientID"),
        study_uid=h.text("StudyInstanceUID"),
        warnings=warnings,
        protocol_name=h.text("ProtocolName"),
        series_number=h.series_number,
        contrast_start_time_s=parse_dicom_time(ds.get("ContrastBolusStartTime")),
        patient_name=h.text("PatientName"),
        study_description=h.text("StudyDescription"),
        image_type=tuple(v.upper() for v in h.text("ImageType").split("\\") if v),
        part=part,
        slice_files=files_by_k,
    )


def _iter_files(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name


# --- fitness of each slice against its series ------------------------------------------------------
LeftOut = list[tuple[Path, str, str]]  # (file, file and frame for a message, why it was left out)


def _ct_plausibility(s: _Slice) -> tuple[float, float, float]:
    """(share of pixels within air..bone HU, min HU, max HU) of a CT slice, on every 4th pixel (fast)."""
    sample = s.pixels[::4, ::4]
    lo, hi = sorted(((_CT_PLAUSIBLE_HU[0] - s.intercept) / s.slope, (_CT_PLAUSIBLE_HU[1] - s.intercept) / s.slope))
    inside = np.count_nonzero((sample >= lo) & (sample <= hi)) / max(sample.size, 1)
    values = (float(sample.min()) * s.slope + s.intercept, float(sample.max()) * s.slope + s.intercept)
    return inside, min(values), max(values)


def _fit_series(slices: list[_Slice], left_out: dict[str, LeftOut]) -> tuple[list[_Slice], dict[str, list[str]]]:
    """Slices that fit their series (SeriesInstanceUID) and notes per series; those that do not are added to
    ``left_out`` under their series with the reason.

    A slice is left out when its pixel format (bits allocated / stored, signedness, samples, photometric)
    differs from that of most of its series, or, in CT, when its values are no plausible CT numbers while
    most of the series' are. Without a clear majority nothing is left out and the series gets a note.
    """
    by_uid: dict[str, list[_Slice]] = {}
    for s in slices:
        by_uid.setdefault(s.header.series_uid, []).append(s)
    kept: list[_Slice] = []
    notes: dict[str, list[str]] = {}
    for uid, members in by_uid.items():
        formats = Counter(s.pixel_format for s in members)
        major, count = formats.most_common(1)[0]
        if len(formats) > 1:
            if 2 * count > len(members):
                for s in members:
                    if s.pixel_format != major:
                        reason = (f"its pixel format ({_describe_format(s.pixel_format)}) differs from the series' "
                                  f"({_describe_format(major)}, {count} of {len(members)} slices): the file is damaged")
                        left_out.setdefault(uid, []).append((s.header.path, s.name, reason))
                members = [s for s in members if s.pixel_format == major]
            else:
                notes.setdefault(uid, []).append(
                    "its slices differ in pixel format (" + "; ".join(
                        f"{n} x {_describe_format(f)}" for f, n in formats.most_common()) + "): check the files")
        if members[0].header.modality == "CT":
            fitness = [_ct_plausibility(s) for s in members]
            plausible = [f[0] >= _CT_MIN_PLAUSIBLE_FRACTION for f in fitness]
            if 2 * sum(plausible) > len(members):
                for s, ok, (_, lo, hi) in zip(members, plausible, fitness):
                    if not ok:
                        reason = (f"its values ({lo:.6g} .. {hi:.6g} after rescale) are no plausible CT numbers, "
                                  "unlike the rest of the series: the pixels or the rescale tags are damaged")
                        left_out.setdefault(uid, []).append((s.header.path, s.name, reason))
                members = [s for s, ok in zip(members, plausible) if ok]
            elif not all(plausible):
                notes.setdefault(uid, []).append(
                    "most slices hold values that are no plausible CT numbers (HU): check RescaleSlope / "
                    "RescaleIntercept; the values shown may be wrong")
        kept.extend(members)
    return kept, notes


def _robust_line(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Residuals of y against the line through (t, y) given by the median step and median offset."""
    dt = np.diff(t)
    ok = dt > _DUPLICATE_TOL_MM
    slope = float(np.median(np.diff(y)[ok] / dt[ok])) if ok.any() else 0.0
    offset = float(np.median(y - slope * t))
    return np.abs(y - (offset + slope * t))


def _position_outliers(group: list[_Slice]) -> tuple[list[_Slice], LeftOut]:
    """Slices whose position does not follow the others': off the line the stack runs along (in-plane), or
    an end slice many steps away from the rest. Series of fewer than 4 slices are not judged."""
    if len(group) < 4:
        return group, []
    first = group[0]
    normal = first.normal
    ordered = sorted(group, key=lambda s: float(s.position @ normal))
    t = np.array([s.position @ normal for s in ordered])
    tol = max(1.0, 2.0 * max(first.spacing_ij))
    off = np.maximum(_robust_line(t, np.array([s.position @ first.row_cos for s in ordered])),
                     _robust_line(t, np.array([s.position @ first.col_cos for s in ordered])))
    bad = {n: f"its ImagePositionPatient is {off[n]:.1f} mm off the line the other slices lie on: the tag is "
              "damaged" for n in np.flatnonzero(off > tol)}
    gaps = np.diff(t)
    step = float(np.median(gaps)) if len(gaps) else 0.0
    if step > _DUPLICATE_TOL_MM:
        for end, gap in ((0, gaps[0]), (len(ordered) - 1, gaps[-1])):
            if gap > _OUTLIER_GAP_FACTOR * step and gap > 10.0:
                bad.setdefault(end, f"it lies {gap:.1f} mm from the next slice, {gap / step:.0f} times the "
                                    f"series' {step:.3g} mm step: its ImagePositionPatient is damaged")
    if not bad or 2 * len(bad) >= len(ordered):
        return group, []
    kept = [s for n, s in enumerate(ordered) if n not in bad]
    return kept, [(ordered[n].header.path, ordered[n].name, reason) for n, reason in sorted(bad.items())]


def _drop_lone_slices(groups: list[list[_Slice]], left_out: dict[str, LeftOut]) -> list[list[_Slice]]:
    """A single slice whose image size, orientation or pixel spacing differs from a stack of at least 3 slices
    of its own series is a damaged file, not a volume of its own: it is left out (localizers excepted)."""
    biggest: dict[str, list[_Slice]] = {}
    for g in groups:
        uid = g[0].header.series_uid
        if len(g) > len(biggest.get(uid, [])):
            biggest[uid] = g
    kept = []
    for g in groups:
        main = biggest[g[0].header.series_uid]
        lone = g[0]
        if len(g) > 1 or g is main or len(main) < 3 or "LOCALIZER" in lone.header.text("ImageType").upper():
            kept.append(g)
            continue
        ref = main[0]
        if lone.pixels.shape != ref.pixels.shape:
            what = f"image size {lone.pixels.shape[1]} x {lone.pixels.shape[0]} (the series: " \
                   f"{ref.pixels.shape[1]} x {ref.pixels.shape[0]})"
        elif not np.allclose(lone.spacing_ij, ref.spacing_ij, rtol=1e-3):
            what = f"pixel spacing {lone.spacing_ij[1]:g} x {lone.spacing_ij[0]:g} mm (the series: " \
                   f"{ref.spacing_ij[1]:g} x {ref.spacing_ij[0]:g} mm)"
        else:
            what = "orientation"
        left_out.setdefault(lone.header.series_uid, []).append(
            (lone.header.path, lone.name, f"its {what} differs from the other {len(main)} slices of its series: "
                                          "the file is damaged"))
    return kept


def _left_out_note(left_out: LeftOut) -> str:
    names = "; ".join(f"{name} ({reason})" for _, name, reason in left_out[:3])
    more = f"; and {len(left_out) - 3} more" if len(left_out) > 3 else ""
    return (f"{len(left_out)} slice(s) left out because they do not fit the series, so they are not shown: "
            f"{names}{more}")


def load_dicom_files(files: Iterable[str | Path], source: str = "", monitor: LoadMonitor = QUIET) -> ScanReport:
    """Load the image series held by the given files (any order, any mix of series).

    Non-DICOM, broken, truncated and non-image files are listed in ``skipped`` with the reason, and so
    are slices that do not fit their series (pixel format, implausible values, a stray position): they
    are left out, never shown as data, and named in the series' warnings. Raises NoImageSeriesError when
    no file is an image slice, ImageTooLargeError when the pixels exceed the memory limit. ``monitor`` hears
    the files read so far and may cancel between files (LoadCancelled).
    """
    paths = [Path(f) for f in files]
    skipped: list[tuple[Path, str]] = []
    slices: list[_Slice] = []
    file_warnings: dict[Path, list[str]] = {}
    native: list[str] = []
    budget = _Budget()
    unfit: dict[str, LeftOut] = {}  # files naming a series that were not fit to be its slices
    with captured_native_output(native):
        for done, path in enumerate(paths):
            monitor.check()
            monitor.progress(0.95 * done / len(paths))  # the rest: assembling the volumes
            try:
                got, warnings = _read_file(path, budget)
            except _Skip as exc:
                if exc.series_uid:
                    unfit.setdefault(exc.series_uid, []).append((path, path.name, str(exc)))
                else:
                    skipped.append((path, str(exc)))
                continue
            slices.extend(got)
            if warnings:
                file_warnings[path] = warnings
    where = source or (str(paths[0].parent) if paths else "the input")
    if not slices:
        skipped.extend((path, reason) for files in unfit.values() for path, _, reason in files)
        if not paths:
            raise NoImageSeriesError(f"{where}: no files found")
        reasons = sorted({r for _, r in skipped})
        listed = "; ".join(reasons[:3]) + (" ..." if len(reasons) > 3 else "")
        raise NoImageSeriesError(
            f"{where}: no DICOM image series among {len(paths)} file(s) ({listed})"
        )
    slices, notes = _fit_series(slices, unfit)
    series: list[DicomSeries] = []
    groups = _drop_lone_slices(_group(slices), unfit)
    uid_count: dict[str, int] = {}
    expanded: list[tuple[list[_Slice], list[str], LeftOut]] = []
    for g in groups:
        split_warnings: list[str] = []
        for part in _split_repeats(g, split_warnings):
            part, strays = _position_outliers(part)
            expanded.append((part, split_warnings, strays))
            uid_count[g[0].header.series_uid] = uid_count.get(g[0].header.series_uid, 0) + 1
    uid_seen: dict[str, int] = {}
    reported: set[str] = set()  # series whose left-out slices were already named (in their first part)
    for part_slices, split_warnings, strays in expanded:
        uid = part_slices[0].header.series_uid
        part = 0
        if uid_count[uid] > 1:
            part = uid_seen.get(uid, 0) + 1
            uid_seen[uid] = part
        s = _series(part_slices, file_warnings, part)
        s.warnings[:0] = split_warnings
        if part:
            s.warnings.insert(
                0, f"series {uid} holds {uid_count[uid]} volumes (different orientation, size, spacing or "
                f"acquisition); this is part {part}",
            )
        dropped = strays + ([] if uid in reported else unfit.pop(uid, []))
        reported.add(uid)
        if dropped:
            s.warnings.insert(0, _left_out_note(dropped))
            skipped.extend((path, f"left out of series '{s.label}': {reason}") for path, _, reason in dropped)
        s.warnings[len(dropped) > 0:len(dropped) > 0] = notes.pop(uid, [])
        s.warnings.extend(f"a decoder reported: {line}" for line in native if line not in s.warnings)
        for w in s.warnings:
            log.warning("%s: %s", s.label, w)
        series.append(s)
    skipped.extend((path, reason) for files in unfit.values() for path, _, reason in files)  # series never formed
    return ScanReport(series=series, skipped=skipped)


def load_dicom_folder(folder: str | Path, monitor: LoadMonitor = QUIET) -> ScanReport:
    """Load every DICOM image series found (recursively) in a folder; see load_dicom_files."""
    p = Path(folder)
    if not p.exists():
        raise MissingInputError(f"{p}: no such folder")
    if not p.is_dir():
        return load_dicom_files([p], source=str(p))
    files = list(_iter_files(p))
    if not files:
        raise NoImageSeriesError(f"{p}: the folder is empty (no files in it or its sub-folders)")
    return load_dicom_files(files, source=str(p), monitor=monitor)
