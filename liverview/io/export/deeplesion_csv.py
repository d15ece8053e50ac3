"""DeepLesion's ``DL_info.csv`` layout: read, write, and convert rows to and from RECIST in mm.

Layout (checked against the published files in ``shared/data/deeplesion-dlinfo``):

- one row per lesion; multi-number cells are quoted, numbers joined by ", ", written as C ``%g``
  (6 significant digits), lines end in "\\n";
- ``Measurement_coordinates``: x1, y1, x2, y2 (long axis), x3, y3, x4, y4 (short axis) in pixels of
  the key slice, x = column and y = row, taken here as 0-based with pixel centres on integers;
- ``Bounding_boxes``: x_min, y_min, x_max, y_max = the box around the four end points padded by
  5 pixels on each side, not clipped to the image. The bundled documentation does not say so; the
  data does: 4920 of the 4927 published test rows pad by exactly 5 px, the other 7 by 5 +- 0.001 px
  (the 6-digit rounding), and two boxes reach past column 511;
- ``Lesion_diameters_Pixel_``: lengths of the two axes in pixels (every published image has square
  pixels; here the length in (x, y) pixel coordinates);
- ``Key_slice_index`` and ``Slice_range`` number slices from 1 (the smallest published value is 1), from the
  head towards the feet: DeepLesion's own NIfTI conversion puts later slices lower (z falling), and its
  normalised z grows with the slice number in 5770 of 5782 same-series pairs. A volume stored feet first (k
  rising towards the head, as DICOM series sorted by position usually are) is numbered from its last slice;
- ``DICOM_windows``: the display window as low, high HU (e.g. -175, 275), not level, width;
- ``Image_size``: two numbers, taken as (width, height) like the x, y order of the other cells
  (every published image is square, so the order is not confirmed by data);
- ``Coarse_lesion_type``: 1 bone, 2 abdomen, 3 mediastinum, 4 liver, 5 lung, 6 kidney, 7 soft
  tissue, 8 pelvis, -1 unlabelled (the official coding; the bundled documentation's table is wrong);
- ``Train_Val_Test``: 1 train, 2 validation, 3 test.
Columns after the official ones (e.g. ``Nifti_ct_name``) are kept verbatim in ``extra``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from liverview.core.volume import Volume
from liverview.io.replace_on_success import replaced_on_success
from liverview.measure.recist import RecistMeasurement

DL_INFO_COLUMNS: tuple[str, ...] = (
    "File_name",
    "Patient_index",
    "Study_index",
    "Series_ID",
    "Key_slice_index",
    "Measurement_coordinates",
    "Bounding_boxes",
    "Lesion_diameters_Pixel_",
    "Normalized_lesion_location",
    "Coarse_lesion_type",
    "Possibly_noisy",
    "Slice_range",
    "Spacing_mm_px_",
    "Image_size",
    "DICOM_windows",
    "Patient_gender",
    "Patient_age",
    "Train_Val_Test",
)
BOX_PADDING_PX = 5.0
# A RECIST mark is believed only when its axes are within this angle of perpendicular and the short axis is
# not longer than the long one (1 % for the 6-digit rounding). Of the 4927 published test rows, one (axes
# 23 degrees apart) fails the angle, none the lengths.
MAX_AXIS_ANGLE_FROM_PERPENDICULAR_DEG = 45.0
SHORT_OVER_LONG_TOLERANCE = 1.01
COARSE_LESION_TYPES = {
    -1: "unlabelled", 1: "bone", 2: "abdomen", 3: "mediastinum", 4: "liver",
    5: "lung", 6: "kidney", 7: "soft tissue", 8: "pelvis",
}
_SPLITS = {1: "train", 2: "validation", 3: "test"}


class DeepLesionCsvError(ValueError):
    """A file cannot be read or written as a DeepLesion CSV at all (not one bad row)."""


class DeepLesionGeometryError(ValueError):
    """A row or measurement does not fit the volume it is converted with."""


@dataclass(frozen=True)
class CsvRowError:
    """A row that was skipped: its line number in the file (header = line 1) and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class DeepLesionRow:
    """One lesion of a DL_info.csv, with typed cells (see the module docstring for units)."""

    file_name: str
    patient_index: int
    study_index: int
    series_id: int
    key_slice_index: int
    measurement_coordinates: tuple[float, ...]  # x1, y1, x2, y2 (long), x3, y3, x4, y4 (short), px
    bounding_box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max, px
    lesion_diameters_px: tuple[float, float]  # long, short
    normalized_location: tuple[float, float, float] | None
    coarse_lesion_type: int
    possibly_noisy: bool
    slice_range: tuple[int, int]
    spacing_mm: tuple[float, float, float]  # x, y, z
    image_size: tuple[int, int]  # width, height
    dicom_window: tuple[float, float]  # low, high HU
    patient_gender: str  # "M", "F" or "" (unknown)
    patient_age: float | None
    train_val_test: int
    extra: dict[str, str] = field(default_factory=dict)
    line: int = field(default=0, compare=False)  # line in the file it was read from (0: not read from a file)

    @property
    def long_axis_px(self) -> tuple[tuple[float, float], tuple[float, float]]:
        c = self.measurement_coordinates
        return (c[0], c[1]), (c[2], c[3])

    @property
    def short_axis_px(self) -> tuple[tuple[float, float], tuple[float, float]]:
        c = self.measurement_coordinates
        return (c[4], c[5]), (c[6], c[7])


# --- cells -----------------------------------------------------------------------------------


class _CellError(ValueError):
    """One cell is malformed; the reader turns it into a CsvRowError."""


def _numbers(text: str, column: str, count: int, kind: Callable[[str], float | int] = float) -> tuple:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != count or any(p == "" for p in parts):
        raise _CellError(f"{column} needs {count} comma-separated numbers, got {len(parts)}: {text!r}")
    try:
        values = tuple(kind(p) for p in parts)
    except ValueError:
        raise _CellError(f"{column} holds a value that is not a number: {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise _CellError(f"{column} holds a non-finite number: {text!r}")
    return values


def _integer(text: str, column: str, allowed: Iterable[int] | None = None) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise _CellError(f"{column} must be an integer, got {text!r}") from None
    if allowed is not None and value not in allowed:
        raise _CellError(f"{column} must be one of {sorted(allowed)}, got {value}")
    return value


def _age(text: str) -> float | None:
    text = text.strip()
    if text == "" or text.lower() == "nan":
        return None
    try:
        value = float(text)
    except ValueError:
        raise _CellError(f"Patient_age must be a number of years or empty, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise _CellError(f"Patient_age must be a finite age >= 0, got {text!r}")
    return value


def _gender(text: str) -> str:
    text = text.strip()
    if text not in ("M", "F", ""):
        raise _CellError(f"Patient_gender must be M, F or empty, got {text!r}")
    return text


def _parse_row(cells: dict[str, str], extra: dict[str, str]) -> DeepLesionRow:
    location = cells["Normalized_lesion_location"].strip()
    return DeepLesionRow(
        file_name=cells["File_name"].strip(),
        patient_index=_integer(cells["Patient_index"], "Patient_index"),
        study_index=_integer(cells["Study_index"], "Study_index"),
        series_id=_integer(cells["Series_ID"], "Series_ID"),
        key_slice_index=_integer(cells["Key_slice_index"], "Key_slice_index"),
        measurement_coordinates=_numbers(cells["Measurement_coordinates"], "Measurement_coordinates", 8),
        bounding_box=_numbers(cells["Bounding_boxes"], "Bounding_boxes", 4),
        lesion_diameters_px=_numbers(cells["Lesion_diameters_Pixel_"], "Lesion_diameters_Pixel_", 2),
        normalized_location=(
            _numbers(location, "Normalized_lesion_location", 3) if location else None
        ),
        coarse_lesion_type=_integer(cells["Coarse_lesion_type"], "Coarse_lesion_type", COARSE_LESION_TYPES),
        possibly_noisy=bool(_integer(cells["Possibly_noisy"], "Possibly_noisy", (0, 1))),
        slice_range=_numbers(cells["Slice_range"], "Slice_range", 2, int),
        spacing_mm=_numbers(cells["Spacing_mm_px_"], "Spacing_mm_px_", 3),
        image_size=_numbers(cells["Image_size"], "Image_size", 2, int),
        dicom_window=_numbers(cells["DICOM_windows"], "DICOM_windows", 2),
        patient_gender=_gender(cells["Patient_gender"]),
        patient_age=_age(cells["Patient_age"]),
        train_val_test=_integer(cells["Train_Val_Test"], "Train_Val_Test", _SPLITS),
        extra=extra,
    )


# --- files -----------------------------------------------------------------------------------


def iter_csv_rows(path: str | Path) -> Iterator[tuple[list[str], int, list[str] | CsvRowError]]:
    """(header, line, cells or the error of an unreadable line) for every non-empty line of a DL_info-style
    file; DeepLesionCsvError when it cannot be opened or lacks the DL_info columns."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        raise DeepLesionCsvError(f"cannot open {path}: {e.strerror}") from e
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DeepLesionCsvError(f"{path} is empty: expected a DL_info.csv header") from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise DeepLesionCsvError(f"{path} is not a readable CSV file: {e}") from e
        header = [h.strip() for h in header]
        missing = [c for c in DL_INFO_COLUMNS if c not in header]
        if missing:
            raise DeepLesionCsvError(
                f"{path} lacks the DeepLesion columns {', '.join(missing)}: is it a DL_info.csv?"
            )
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as e:
                yield header, reader.line_num, CsvRowError(reader.line_num, f"unreadable CSV: {e}")
                continue
            if not cells or (not cells[0].strip() and all(c.strip() == "" for c in cells)):
                continue
            if len(cells) != len(header):
                yield header, reader.line_num, CsvRowError(
                    reader.line_num, f"{len(cells)} columns, the header has {len(header)}")
                continue
            yield header, reader.line_num, cells


def parse_csv_row(header: list[str], line: int, cells: list[str]) -> DeepLesionRow | CsvRowError:
    """One line's cells as a typed row, or the reason it is malformed."""
    named = dict(zip(header, cells))
    extra = {h: v for h, v in named.items() if h not in DL_INFO_COLUMNS}
    try:
        row = _parse_row(named, extra)
    except _CellError as e:
        return CsvRowError(line, str(e))
    row.line = line
    return row


def read_deeplesion_csv(path: str | Path) -> tuple[list[DeepLesionRow], list[CsvRowError]]:
    """All well-formed rows of a DL_info.csv-style file, and the line and reason of each bad one.

    A bad row does not stop the import; a file without the DL_info columns raises
    :class:`DeepLesionCsvError`. Empty lines are skipped. (liverview.io.export.deeplesion_import reads
    the same files column-wise, much faster, for large imports.)
    """
    rows: list[DeepLesionRow] = []
    errors: list[CsvRowError] = []
    for header, line, cells in iter_csv_rows(path):
        parsed = cells if isinstance(cells, CsvRowError) else parse_csv_row(header, line, cells)
        (errors if isinstance(parsed, CsvRowError) else rows).append(parsed)
    return rows, errors


def _g(value: float, digits: int) -> str:
    return f"{value:.{digits}g}"


def _join(values: Sequence[float], digits: int) -> str:
    return ", ".join(_g(v, digits) for v in values)


def _cells(row: DeepLesionRow, digits: int) -> list[str]:
    return [
        row.file_name,
        str(row.patient_index),
        str(row.study_index),
        str(row.series_id),
        str(row.key_slice_index),
        _join(row.measurement_coordinates, digits),
        _join(row.bounding_box, digits),
        _join(row.lesion_diameters_px, digits),
        "" if row.normalized_location is None else _join(row.normalized_location, digits),
        str(row.coarse_lesion_type),
        str(int(row.possibly_noisy)),
        ", ".join(str(int(v)) for v in row.slice_range),
        _join(row.spacing_mm, digits),
        ", ".join(str(int(v)) for v in row.image_size),
        _join(row.dicom_window, digits),
        row.patient_gender,
        "" if row.patient_age is None else _g(row.patient_age, digits),
        str(row.train_val_test),
    ]


def write_deeplesion_csv(rows: Sequence[DeepLesionRow], path: str | Path, significant_digits: int = 6) -> None:
    """Write rows in the published DL_info.csv layout (``%g``, 6 significant digits by default).

    Extra columns of the rows follow the official ones, in the order they were first seen.
    """
    path = Path(path)
    extra_columns: list[str] = []
    for row in rows:
        extra_columns += [k for k in row.extra if k not in extra_columns]
    for row in rows:
        if len(row.measurement_coordinates) != 8:
            raise DeepLesionCsvError(
                f"cannot write {path}: row {row.file_name!r} has {len(row.measurement_coordinates)} "
                "measurement coordinates; DeepLesion needs 8 (long axis then short axis end points)"
            )
    try:
        with replaced_on_success(path) as (partial,), partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(list(DL_INFO_COLUMNS) + extra_columns)
            for row in rows:
                writer.writerow(_cells(row, significant_digits) + [row.extra.get(c, "") for c in extra_columns])
    except OSError as e:
        raise DeepLesionCsvError(f"cannot write {path}: {e.strerror}") from e


# --- conversion to and from RECIST in mm -------------------------------------------------------


@dataclass(frozen=True)
class DeepLesionScan:
    """What a row says about the scan rather than the lesion.

    ``first_slice_number`` is the DeepLesion slice number of the volume's head-most slice (1 for a whole
    series; ``Slice_range[0]`` for a sub-volume). ``slice_range`` defaults to the whole volume.
    """

    patient_index: int
    study_index: int
    series_id: int
    first_slice_number: int = 1
    slice_range: tuple[int, int] | None = None
    dicom_window: tuple[float, float] = (-175.0, 275.0)
    patient_gender: str = ""
    patient_age: float | None = None
    train_val_test: int = 1


def _numbered_from_last_slice(volume: Volume) -> bool:
    """True when the volume's slices run from the feet towards the head (k's z component positive, LPS and RAS
    alike), so DeepLesion's head-first numbering starts at its last slice."""
    return float(volume.direction[2, 2]) > 0


def deeplesion_slice_number(k: int, volume: Volume, first_slice_number: int = 1) -> int:
    """DeepLesion's number of the volume's slice ``k``: ``first_slice_number`` for its head-most slice."""
    n_slices = volume.size_ijk[2]
    return first_slice_number + (n_slices - 1 - k if _numbered_from_last_slice(volume) else k)


def deeplesion_slice_k(number: int | np.ndarray, volume: Volume,
                       first_slice_number: int | np.ndarray = 1) -> int | np.ndarray:
    """The volume's slice k of DeepLesion slice ``number`` (inverse of deeplesion_slice_number; may fall
    outside the volume); numbers and first slice numbers may be integer arrays."""
    offset = number - first_slice_number
    return volume.size_ijk[2] - 1 - offset if _numbered_from_last_slice(volume) else offset


def _pixel_points(measurement: RecistMeasurement, volume: Volume) -> tuple[np.ndarray, int]:
    if measurement.short_axis is None:
        raise DeepLesionGeometryError(
            "DeepLesion rows need both axes: measure the short axis before exporting"
        )
    ijk = volume.world_to_index(np.array(measurement.long_axis + measurement.short_axis))
    k = float(ijk[0, 2])
    if np.abs(ijk[:, 2] - k).max() > 1e-3 or abs(k - round(k)) > 1e-3:
        raise DeepLesionGeometryError(
            "DeepLesion rows describe axial (k) slices, but this measurement does not lie on one "
            f"k slice of volume '{volume.name}' (k = {np.round(ijk[:, 2], 3).tolist()})"
        )
    if round(k) != measurement.key_slice:
        raise DeepLesionGeometryError(
            f"the measurement lies on slice {round(k)} but names key slice {measurement.key_slice}"
        )
    return ijk[:, :2], int(round(k))


def recist_to_deeplesion_row(
    measurement: RecistMeasurement,
    volume: Volume,
    scan: DeepLesionScan,
    coarse_lesion_type: int = -1,
    normalized_location: tuple[float, float, float] | None = None,
    possibly_noisy: bool = False,
) -> DeepLesionRow:
    """A DL_info row for a measurement on ``volume``: mm end points -> pixels of the key slice.

    ``normalized_location`` (DeepLesion's body-part-regression position) cannot be computed here;
    it is written empty unless given.
    """
    if coarse_lesion_type not in COARSE_LESION_TYPES:
        raise ValueError(
            f"coarse_lesion_type must be one of {sorted(COARSE_LESION_TYPES)}, got {coarse_lesion_type}"
        )
    xy, k = _pixel_points(measurement, volume)
    key = deeplesion_slice_number(k, volume, scan.first_slice_number)
    nk = volume.size_ijk[2]
    slice_range = scan.slice_range or (scan.first_slice_number, scan.first_slice_number + nk - 1)
    return DeepLesionRow(
        file_name=f"{scan.patient_index:06d}_{scan.study_index:02d}_{scan.series_id:02d}_{key:03d}.png",
        patient_index=scan.patient_index,
        study_index=scan.study_index,
        series_id=scan.series_id,
        key_slice_index=key,
        measurement_coordinates=tuple(float(v) for v in xy.reshape(-1)),
        bounding_box=(
            float(xy[:, 0].min() - BOX_PADDING_PX),
            float(xy[:, 1].min() - BOX_PADDING_PX),
            float(xy[:, 0].max() + BOX_PADDING_PX),
            float(xy[:, 1].max() + BOX_PADDING_PX),
        ),
        lesion_diameters_px=(float(np.linalg.norm(xy[1] - xy[0])), float(np.linalg.norm(xy[3] - xy[2]))),
        normalized_location=normalized_location,
        coarse_lesion_type=coarse_lesion_type,
        possibly_noisy=possibly_noisy,
        slice_range=(int(slice_range[0]), int(slice_range[1])),
        spacing_mm=tuple(float(s) for s in volume.spacing),  # type: ignore[arg-type]
        image_size=(volume.size_ijk[0], volume.size_ijk[1]),
        dicom_window=scan.dicom_window,
        patient_gender=scan.patient_gender,
        patient_age=scan.patient_age,
        train_val_test=scan.train_val_test,
    )


def recist_pixel_problems(coords: np.ndarray, width: np.ndarray | int, height: np.ndarray | int,
                          spacing_xy: tuple[float, float] = (1.0, 1.0)) -> list[str | None]:
    """Why each row of RECIST end points (N, 8: long x1 y1 x2 y2, short x3 y3 x4 y4, pixels) cannot be a
    measurement on a ``width`` x ``height`` image, or None when it can: every end point inside the image
    (pixel centres on integers, so -0.5 .. size - 0.5), the short axis not longer than the long one, the two
    roughly perpendicular (MAX_AXIS_ANGLE_FROM_PERPENDICULAR_DEG); lengths and angles in mm (``spacing_xy``)."""
    c = np.asarray(coords, dtype=float).reshape(-1, 8)
    w = np.broadcast_to(np.asarray(width, dtype=float), (len(c),))
    h = np.broadcast_to(np.asarray(height, dtype=float), (len(c),))
    x, y = c[:, 0::2], c[:, 1::2]
    outside = ((x < -0.5) | (x > w[:, None] - 0.5) | (y < -0.5) | (y > h[:, None] - 0.5)).any(axis=1)
    scale = np.asarray(spacing_xy, dtype=float)
    long_v, short_v = (c[:, 2:4] - c[:, 0:2]) * scale, (c[:, 6:8] - c[:, 4:6]) * scale
    long_len, short_len = np.linalg.norm(long_v, axis=1), np.linalg.norm(short_v, axis=1)
    too_long = short_len > long_len * SHORT_OVER_LONG_TOLERANCE
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.abs((long_v * short_v).sum(axis=1)) / (long_len * short_len)
    angle = np.degrees(np.arccos(np.clip(np.nan_to_num(cos, nan=1.0), 0.0, 1.0)))
    skewed = (short_len > 0) & (angle < 90.0 - MAX_AXIS_ANGLE_FROM_PERPENDICULAR_DEG)
    degenerate = long_len == 0
    problems: list[str | None] = [None] * len(c)
    for n in np.flatnonzero(outside | too_long | skewed | degenerate):
        if degenerate[n]:
            problems[n] = "the long axis has zero length"
        elif outside[n]:
            problems[n] = (f"RECIST end points {np.round(c[n], 1).tolist()} reach outside the "
                           f"{int(w[n])} x {int(h[n])} image")
        elif too_long[n]:
            problems[n] = (f"the short axis ({short_len[n]:.3g}) is longer than the long axis ({long_len[n]:.3g}) "
                           f"({'px' if tuple(scale) == (1.0, 1.0) else 'mm'})")
        else:
            problems[n] = (f"the axes are {angle[n]:.0f} degrees apart; RECIST axes are perpendicular "
                           f"(within {MAX_AXIS_ANGLE_FROM_PERPENDICULAR_DEG:g} degrees here)")
    return problems


def deeplesion_row_to_recist(
    row: DeepLesionRow, volume: Volume, first_slice_number: int = 1, lesion_id: str = ""
) -> RecistMeasurement:
    """The row's axes in LPS mm on ``volume`` (whose head-most slice is DeepLesion slice ``first_slice_number``).

    Refuses a volume whose image size or in-plane spacing (1 %) differs from the row's, and a mark that is no
    measurement on the image (recist_pixel_problems: outside it, short axis longer, axes not perpendicular).
    """
    width, height = volume.size_ijk[0], volume.size_ijk[1]
    if tuple(row.image_size) != (width, height):
        raise DeepLesionGeometryError(
            f"{row.file_name}: image size {row.image_size} does not match volume '{volume.name}' "
            f"({width}, {height}); load the series the row was measured on"
        )
    if not np.allclose(row.spacing_mm[:2], volume.spacing[:2], rtol=0.01):
        raise DeepLesionGeometryError(
            f"{row.file_name}: pixel spacing {row.spacing_mm[:2]} mm does not match volume "
            f"'{volume.name}' {volume.spacing[:2]} mm"
        )
    k = deeplesion_slice_k(row.key_slice_index, volume, first_slice_number)
    if not 0 <= k < volume.size_ijk[2]:
        raise DeepLesionGeometryError(
            f"{row.file_name}: key slice {row.key_slice_index} is outside volume '{volume.name}' "
            f"(slices {first_slice_number}..{first_slice_number + volume.size_ijk[2] - 1})"
        )
    problem = recist_pixel_problems(np.asarray(row.measurement_coordinates), width, height, volume.spacing[:2])[0]
    if problem is not None:
        raise DeepLesionGeometryError(f"{row.file_name}: {problem}")
    xy = np.asarray(row.measurement_coordinates, float).reshape(4, 2)
    world = volume.index_to_world(np.column_stack([xy, np.full(4, float(k))]))
    return RecistMeasurement(
        long_axis=(world[0], world[1]), short_axis=(world[2], world[3]), key_slice=k, lesion_id=lesion_id
    )
