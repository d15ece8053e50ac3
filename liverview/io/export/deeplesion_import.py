"""Import a DL_info-style CSV into a project: every row checked, the whole file in one transaction, fast
enough for a million rows (see benchmarks/bench_csv_import.py).

The file is read column-wise in chunks: each column of a chunk is parsed by numpy at once, and only the
rows the fast parse does not accept go through the row parser of deeplesion_csv (which gives the exact
reason, or accepts an unusual but valid spelling). The rows are then checked against the phase volume
they are measured on (image size, pixel spacing, key slice, RECIST end points inside the image, short
axis not longer than the long one and roughly perpendicular), converted to LPS mm together, and written
with Project.import_lesions: all of them, or, if anything fails or the user interrupts, none.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from liverview.core.study import Phase, PhaseKind, Study
from liverview.io.export.deeplesion_csv import (
    _SPLITS,
    COARSE_LESION_TYPES,
    CsvRowError,
    DeepLesionRow,
    deeplesion_slice_k,
    iter_csv_rows,
    parse_csv_row,
    recist_pixel_problems,
)
from liverview.store.lesion_methods import RecistBatch
from liverview.store.project import Project

PHASE_COLUMN = "Phase"  # optional extra column: the contrast phase a row was measured on (as LiverView writes it)
CHUNK_ROWS = 100_000
Progress = Callable[[str, int, int], None]  # (stage, done, total)

# Numeric columns: (count per cell, numpy dtype). The row parser's rules, applied to a whole column at once.
_NUMERIC = {
    "Patient_index": (1, np.int64), "Study_index": (1, np.int64), "Series_ID": (1, np.int64),
    "Key_slice_index": (1, np.int64), "Measurement_coordinates": (8, np.float64), "Bounding_boxes": (4, np.float64),
    "Lesion_diameters_Pixel_": (2, np.float64), "Coarse_lesion_type": (1, np.int64), "Possibly_noisy": (1, np.int64),
    "Slice_range": (2, np.int64), "Spacing_mm_px_": (3, np.float64), "Image_size": (2, np.int64),
    "DICOM_windows": (2, np.float64), "Train_Val_Test": (1, np.int64),
}
_ALLOWED = {"Coarse_lesion_type": set(COARSE_LESION_TYPES), "Possibly_noisy": {0, 1}, "Train_Val_Test": set(_SPLITS)}


@dataclass
class DeepLesionTable:
    """The columns an import needs, one entry per well-formed row, in file order."""

    line: np.ndarray  # (N,) line in the file
    file_name: list[str]
    key_slice: np.ndarray  # (N,) DeepLesion numbering (from 1)
    coords: np.ndarray  # (N, 8) long x1 y1 x2 y2, short x3 y3 x4 y4, pixels
    slice_range: np.ndarray  # (N, 2)
    spacing: np.ndarray  # (N, 3) mm
    image_size: np.ndarray  # (N, 2) width, height
    phase: list[str]  # the Phase column, '' when absent

    def __len__(self) -> int:
        return len(self.file_name)


@dataclass
class TableImport:
    added: list[int]
    problems: list[str] = field(default_factory=list)


_NOT_NUMERIC = {np.dtype(np.float64): str.maketrans("", "", "0123456789+-.eE, \t"),
                np.dtype(np.int64): str.maketrans("", "", "0123456789+- \t,")}


def _strict(cells: Sequence[str], rows: np.ndarray, count: int, dtype: type, values: np.ndarray, ok: np.ndarray) -> None:
    """Parse ``rows`` with numpy's strict string conversion (as float() / int() read them), halving the set
    until the cells that fail are found; those get ok = False."""
    try:
        values[rows] = np.array(",".join([cells[i] for i in rows]).split(","), dtype=dtype).reshape(-1, count)
    except ValueError:
        if len(rows) == 1:
            ok[rows[0]] = False
        else:
            half = len(rows) // 2
            _strict(cells, rows[:half], count, dtype, values, ok)
            _strict(cells, rows[half:], count, dtype, values, ok)


def _parse_column(cells: Sequence[str], count: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """(values (m, count), ok (m,)) of a column whose cells hold ``count`` comma-separated numbers."""
    m = len(cells)
    ok = np.fromiter((c.count(",") == count - 1 for c in cells), dtype=bool, count=m)
    values = np.zeros((m, count), dtype=dtype)
    rows = np.flatnonzero(ok)
    if rows.size:
        table = _NOT_NUMERIC[np.dtype(dtype)]
        joined = ",".join([cells[i] for i in rows])
        if joined.translate(table):  # some cell holds more than plain decimal numbers: the row parser decides
            odd = np.fromiter((bool(cells[i].translate(table)) for i in rows), dtype=bool, count=rows.size)
            ok[rows[odd]] = False
            rows = rows[~odd]
            joined = ",".join([cells[i] for i in rows])
        fast = None
        if rows.size:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    fast = np.fromstring(joined, dtype=dtype, sep=",")
                except (ValueError, DeprecationWarning):
                    fast = None
        if fast is not None and fast.size == rows.size * count:
            values[rows] = fast.reshape(-1, count)
        elif rows.size:
            _strict(cells, rows, count, dtype, values, ok)
    if values.dtype.kind == "f":
        ok &= np.isfinite(values).all(axis=1)
    return values, ok


def _optional_floats(cells: Sequence[str], count: int, blanks: tuple[str, ...]) -> np.ndarray:
    """ok (m,) for cells that are blank (or one of ``blanks``) or ``count`` finite numbers (>= 0 when count 1)."""
    stripped = [c.strip() for c in cells]
    ok = np.ones(len(cells), dtype=bool)
    filled = [i for i, c in enumerate(stripped) if c != "" and c.lower() not in blanks]
    if filled:
        values, good = _parse_column([stripped[i] for i in filled], count, np.float64)
        if count == 1:
            good &= values[:, 0] >= 0
        ok[filled] = good
    return ok


def _chunk_columns(header: list[str], chunk: list[tuple[int, list[str]]], table: dict, errors: list[CsvRowError]) -> None:
    """Parse one chunk column-wise into ``table`` (lists of arrays); rows the fast parse refuses go through
    the row parser, which either accepts them or says why they are malformed."""
    columns = dict(zip(header, zip(*(cells for _, cells in chunk))))  # column name -> tuple of cells
    ok = np.ones(len(chunk), dtype=bool)
    parsed = {}
    for name, (count, dtype) in _NUMERIC.items():
        values, good = _parse_column(columns[name], count, dtype)
        if name in _ALLOWED:
            good &= np.isin(values[:, 0], list(_ALLOWED[name]))
        parsed[name] = values
        ok &= good
    ok &= _optional_floats(columns["Normalized_lesion_location"], 3, ())
    ok &= _optional_floats(columns["Patient_age"], 1, ("nan",))
    ok &= np.fromiter((c.strip() in ("M", "F", "") for c in columns["Patient_gender"]), dtype=bool, count=len(chunk))
    phases = columns.get(PHASE_COLUMN, [""] * len(chunk))
    lines = np.array([line for line, _ in chunk], dtype=np.int64)
    good = np.flatnonzero(ok)
    table["line"].append(lines[good])
    table["file_name"].extend(columns["File_name"][i].strip() for i in good)
    table["key_slice"].append(parsed["Key_slice_index"][good, 0])
    table["coords"].append(parsed["Measurement_coordinates"][good])
    table["slice_range"].append(parsed["Slice_range"][good])
    table["spacing"].append(parsed["Spacing_mm_px_"][good])
    table["image_size"].append(parsed["Image_size"][good])
    table["phase"].extend(phases[i].strip() for i in good)
    for i in np.flatnonzero(~ok):  # the slow, exact path
        line, cells = chunk[i]
        row = parse_csv_row(header, line, cells)
        if isinstance(row, CsvRowError):
            errors.append(row)
        else:
            _append_row(table, row)


def _append_row(table: dict, row: DeepLesionRow) -> None:
    table["line"].append(np.array([row.line]))
    table["file_name"].append(row.file_name)
    table["key_slice"].append(np.array([row.key_slice_index]))
    table["coords"].append(np.asarray(row.measurement_coordinates, dtype=float).reshape(1, 8))
    table["slice_range"].append(np.asarray(row.slice_range).reshape(1, 2))
    table["spacing"].append(np.asarray(row.spacing_mm, dtype=float).reshape(1, 3))
    table["image_size"].append(np.asarray(row.image_size).reshape(1, 2))
    table["phase"].append(row.extra.get(PHASE_COLUMN, "").strip())


def read_deeplesion_table(path: str | Path, progress: Progress | None = None) -> tuple[DeepLesionTable, list[CsvRowError]]:
    """The rows of a DL_info-style file as columns (the well-formed ones, in file order) and the line and
    reason of each malformed one: what read_deeplesion_csv gives, for millions of rows."""
    table: dict = {k: [] for k in ("line", "file_name", "key_slice", "coords", "slice_range", "spacing",
                                   "image_size", "phase")}
    errors: list[CsvRowError] = []
    chunk: list[tuple[int, list[str]]] = []
    header: list[str] = []
    done = 0
    for header, line, cells in iter_csv_rows(path):
        if isinstance(cells, CsvRowError):
            errors.append(cells)
            continue
        chunk.append((line, cells))
        if len(chunk) >= CHUNK_ROWS:
            _chunk_columns(header, chunk, table, errors)
            done += len(chunk)
            chunk = []
            if progress is not None:
                progress("reading", done, 0)  # the total is not known until the end
    if chunk:
        _chunk_columns(header, chunk, table, errors)
    order = np.argsort(np.concatenate(table["line"]) if table["line"] else np.zeros(0), kind="stable")

    def stacked(key: str, width: int, dtype: type) -> np.ndarray:
        parts = table[key]
        array = np.concatenate(parts) if parts else np.zeros((0, width), dtype=dtype)
        return array[order]

    result = DeepLesionTable(
        line=stacked("line", 1, np.int64).reshape(-1),
        file_name=[table["file_name"][i] for i in order],
        key_slice=stacked("key_slice", 1, np.int64).reshape(-1),
        coords=stacked("coords", 8, float).reshape(-1, 8),
        slice_range=stacked("slice_range", 2, np.int64).reshape(-1, 2),
        spacing=stacked("spacing", 3, float).reshape(-1, 3),
        image_size=stacked("image_size", 2, np.int64).reshape(-1, 2),
        phase=[table["phase"][i] for i in order],
    )
    errors.sort(key=lambda e: e.line)
    return result, errors


def _phase_named(study: Study, name: str) -> Phase | None:
    return next((p for p in study.phases if p.kind.value == name), None)


def _fit(table: DeepLesionTable, rows: np.ndarray, phase: Phase, problems: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows (indices into ``table``) that fit ``phase``'s volume and their key slices k (from 0);
    the others get their reason in ``problems``."""
    volume = phase.volume
    width, height, n_slices = volume.size_ijk
    size_ok = (table.image_size[rows, 0] == width) & (table.image_size[rows, 1] == height)
    spacing_ok = np.isclose(table.spacing[rows, :2], np.asarray(volume.spacing[:2]), rtol=0.01, atol=0).all(axis=1)
    lo, hi = table.slice_range[rows, 0], table.slice_range[rows, 1]
    first = np.where(hi - lo + 1 == n_slices, lo, 1)
    k = deeplesion_slice_k(table.key_slice[rows], volume, first)  # whole arrays: tables reach 100k rows
    k_ok = (k >= 0) & (k < n_slices)
    geometry = recist_pixel_problems(table.coords[rows], width, height, volume.spacing[:2])
    keep = np.zeros(len(rows), dtype=bool)
    for n, r in enumerate(rows):
        name = table.file_name[r]
        if not size_ok[n]:
            problems[r] = (f"{name}: image size {tuple(int(v) for v in table.image_size[r])} does not match volume "
                           f"'{volume.name}' ({width}, {height}); load the series the row was measured on")
        elif not spacing_ok[n]:
            problems[r] = (f"{name}: pixel spacing {tuple(float(v) for v in table.spacing[r, :2])} mm does not match "
                           f"volume '{volume.name}' {volume.spacing[:2]} mm")
        elif not k_ok[n]:
            problems[r] = (f"{name}: key slice {int(table.key_slice[r])} is outside volume '{volume.name}' "
                           f"(slices {int(first[n])}..{int(first[n]) + n_slices - 1})")
        elif geometry[n] is not None:
            problems[r] = f"{name}: {geometry[n]}"
        else:
            keep[n] = True
    return rows[keep], k[keep]


def import_deeplesion_table(project: Project, study_id: int, study: Study, path: str | Path,
                            phase: PhaseKind | None = None, progress: Progress | None = None) -> TableImport:
    """Add a lesion with its RECIST mark for every row of a DL_info-style CSV that fits the study, all in
    one transaction. Rows are measured on ``phase``; by default on the phase their Phase column names, else
    on the reference phase. A row whose Slice_range spans exactly the volume's slices numbers them from
    Slice_range[0]; otherwise slice 1 is the volume's first slice. Malformed rows and rows that do not fit
    are reported by line ("line N: why"); nothing is written when the transaction fails."""
    chosen = study.reference if phase is None else _phase_named(study, phase.value)
    if chosen is None:
        raise ValueError(f"the study has no {phase.value if phase else 'reference'} phase to import onto")
    table, errors = read_deeplesion_table(path, progress)
    problems: dict[int, str] = {}
    groups: dict[str, np.ndarray] = {}
    if phase is not None or not any(table.phase):
        groups[chosen.kind.value] = np.arange(len(table), dtype=np.int64)
    else:
        named: dict[str, list[int]] = {}
        for r, name in enumerate(table.phase):
            named.setdefault(name or chosen.kind.value, []).append(r)
        for name, rows in named.items():
            if _phase_named(study, name) is None:
                problems.update((r, f"measured on the {name} phase, which this study lacks") for r in rows)
            else:
                groups[name] = np.asarray(rows, dtype=np.int64)
    kept_rows, kept_k, kept_world, kept_phase = [], [], [], []
    for name, rows in groups.items():
        volume = (_phase_named(study, name) or chosen).volume
        rows_ok, k = _fit(table, rows, _phase_named(study, name) or chosen, problems)
        xy = table.coords[rows_ok].reshape(-1, 4, 2)
        ijk = np.concatenate([xy, np.repeat(k.astype(float)[:, None, None], 4, axis=1)], axis=2)
        kept_rows.append(rows_ok)
        kept_k.append(k)
        kept_world.append(volume.index_to_world(ijk.reshape(-1, 3)).reshape(-1, 4, 3))
        kept_phase.append(np.full(len(rows_ok), len(kept_phase)))
        if progress is not None:
            progress("checking", sum(len(r) for r in kept_rows), len(table))
    names = list(groups)
    rows = np.concatenate(kept_rows) if kept_rows else np.zeros(0, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    ks = (np.concatenate(kept_k) if kept_k else np.zeros(0, dtype=np.int64))[order]
    world = (np.concatenate(kept_world) if kept_world else np.zeros((0, 4, 3)))[order]
    which = (np.concatenate(kept_phase) if kept_phase else np.zeros(0, dtype=np.int64))[order]
    source = Path(path).name
    lines, files = table.line.tolist(), table.file_name
    batch = RecistBatch(long_axis=world[:, :2], short_axis=world[:, 2:], key_slice=ks.astype(np.int64),
                        phases=[names[w] for w in which.tolist()],
                        notes=[f"imported from {source} line {lines[r]} ({files[r]})" for r in rows.tolist()])
    added = project.import_lesions(
        study_id, batch, source=str(path),
        progress=None if progress is None else (lambda done, total: progress("writing", done, total)))
    report = [(e.line, str(e)) for e in errors] + [(lines[r], f"line {lines[r]}: {why}") for r, why in problems.items()]
    return TableImport(added, [text for _, text in sorted(report, key=lambda item: item[0])])
