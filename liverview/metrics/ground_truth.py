"""Ground-truth lesions for detection metrics, read from the phantom's lesions.csv or DeepLesion layouts.

Every box is on the evaluated volume's voxel grid in the convention of ``liverview.detection.proposals``:
x = column, y = row, continuous pixel coordinates with pixel (i, j) covering [i, i+1) x [j, j+1); slices
are whole 0-based indices of the volume, and 3D boxes cover slices z0..z1 inclusive.

Sources:
- phantom folder (``lesions.csv`` + ``study.json``): the mark is the RECIST measurement on the key slice;
  its 2D box covers the pixels holding the four end points; the 3D box is the lesion's voxel box.
- DeepLesion ``DL_info.csv``: one mark per row, the published ``Bounding_boxes`` (end points + 5 px),
  volumes named like the released NIfTI sub-volumes ``PPPPPP_SS_RR_first-last`` with slices counted
  from ``first`` (the Lesion Harvester's keys). No 3D extent: the 3D IoU criterion cannot be used.
- box tables: the Lesion Harvester's CSV conversions (``volume_id,x_min,y_min,x_max,y_max,z_min,z_max``,
  slices 0-based within the sub-volume) and the DeepLesion manual 1K set
  (``split,subvolume,x1,y1,z1,x2,y2,z2``, z = absolute DeepLesion slice number).
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from liverview.core.volume import Volume
from liverview.detection.proposals import Box2D, Proposal3D

Box3D = tuple[float, float, float, float, int, int]  # x0, y0, x1, y1 (pixels), z0, z1 (inclusive slices)

_SUBVOLUME = re.compile(r"^(\d+_\d+_\d+)_(\d+)-(\d+)$")


class GroundTruthError(ValueError):
    """A ground-truth file cannot be used; the message names the file and, where it can, the line."""


@dataclass(frozen=True)
class GroundTruthLesion:
    """One annotated lesion of one volume: a mark on its key slice (2D box), a 3D box, or both.

    ``lesion_class`` is one of the detection classes, or None when the source has no class (DeepLesion).
    """

    volume: str
    key_slice: int | None
    box: Box2D | None
    box_3d: Box3D | None = None
    lesion_class: str | None = None
    lesion_id: str = ""

    def __post_init__(self) -> None:
        if self.box is None and self.box_3d is None:
            raise ValueError(f"lesion {self.lesion_id!r} of {self.volume!r} has neither a 2D mark nor a 3D box")
        if (self.box is None) != (self.key_slice is None):
            raise ValueError(f"lesion {self.lesion_id!r} of {self.volume!r}: a 2D mark needs its key slice")
        if self.box is not None:
            object.__setattr__(self, "box", _checked_box(self.box, f"lesion {self.lesion_id!r} mark"))
            object.__setattr__(self, "key_slice", int(self.key_slice))  # type: ignore[arg-type]
        if self.box_3d is not None:
            x0, y0, x1, y1 = _checked_box(self.box_3d[:4], f"lesion {self.lesion_id!r} 3D box")
            z0, z1 = int(self.box_3d[4]), int(self.box_3d[5])
            if z1 < z0:
                raise ValueError(f"lesion {self.lesion_id!r} of {self.volume!r}: 3D box has z1 < z0")
            object.__setattr__(self, "box_3d", (x0, y0, x1, y1, z0, z1))


def _checked_box(box: Sequence[float], what: str) -> Box2D:
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ValueError(f"{what} is not finite: {tuple(box)}")
    if x1 < x0 or y1 < y0:
        raise ValueError(f"{what} has x1 < x0 or y1 < y0: {tuple(box)}")
    return (x0, y0, x1, y1)


# --- phantom ----------------------------------------------------------------------------------


def _study_grid(study_json: Path) -> Volume:
    try:
        meta = json.loads(study_json.read_text(encoding="utf-8"))
        spacing, origin = meta["spacing_mm_xyz"], meta["origin_mm_xyz"]
        direction = np.asarray(meta.get("direction", np.eye(3).ravel()), float).reshape(3, 3)
    except FileNotFoundError:
        raise GroundTruthError(f"{study_json} is missing: the lesion table needs its study.json (grid) "
                               f"beside it to turn RECIST end points (mm) into pixels") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroundTruthError(f"{study_json}: not a readable phantom study.json ({exc})") from None
    return Volume(np.zeros((1, 1, 1), np.int8), tuple(spacing), tuple(origin), direction)


def read_phantom_ground_truth(path: str | Path, volume: str | None = None) -> list[GroundTruthLesion]:
    """Lesions of a phantom study folder (or its lesions.csv). The volume id defaults to the folder name."""
    from liverview.synth.ct_phantom import LESION_TABLE_FILE, STUDY_FILE, read_lesion_table

    path = Path(path)
    table = path / LESION_TABLE_FILE if path.is_dir() else path
    if not table.is_file():
        raise GroundTruthError(f"{table} does not exist: pass a phantom folder or its {LESION_TABLE_FILE}")
    grid = _study_grid(table.parent / STUDY_FILE)
    volume = volume or table.parent.name
    lesions = []
    for les in read_lesion_table(table):
        ends = np.array([*les.long_axis_mm, *les.short_axis_mm], float)
        ijk = grid.world_to_index(ends)
        # index i is a voxel centre; that voxel covers [i, i+1) in box coordinates (see module doc)
        lo, hi = np.rint(ijk.min(axis=0)), np.rint(ijk.max(axis=0))
        x0, y0, z0, x1, y1, z1 = les.box_ijk
        lesions.append(GroundTruthLesion(
            volume=volume, key_slice=les.key_slice,
            box=(float(lo[0]), float(lo[1]), float(hi[0]) + 1.0, float(hi[1]) + 1.0),
            box_3d=(float(x0), float(y0), float(x1) + 1.0, float(y1) + 1.0, z0, z1),
            lesion_class=les.lesion_class, lesion_id=str(les.lesion_id)))
    return lesions


# --- DeepLesion DL_info.csv --------------------------------------------------------------------


def deeplesion_volume_id(file_name: str, slice_range: tuple[int, int]) -> str:
    """The sub-volume key ``PPPPPP_SS_RR_first-last`` of a DL_info row (as the released NIfTI names)."""
    stem = Path(file_name).stem  # PPPPPP_SS_RR_KKK
    series = stem.rsplit("_", 1)[0]
    return f"{series}_{slice_range[0]:03d}-{slice_range[1]:03d}"


def read_deeplesion_ground_truth(path: str | Path) -> dict[str, list[GroundTruthLesion]]:
    """Marks of a DL_info.csv-style file, grouped by sub-volume; slices counted from the sub-volume's first.

    A row that cannot be read raises GroundTruthError with its line: evaluating against a silently
    shortened ground truth would inflate precision.
    """
    from liverview.io.export.deeplesion_csv import read_deeplesion_csv

    rows, errors = read_deeplesion_csv(path)
    if errors:
        raise GroundTruthError(f"{path}: {len(errors)} unreadable row(s), first {errors[0]}")
    out: dict[str, list[GroundTruthLesion]] = {}
    for n, row in enumerate(rows):
        first, last = row.slice_range
        if not first <= row.key_slice_index <= last:
            raise GroundTruthError(f"{path}: row {n + 1} ({row.file_name}): key slice {row.key_slice_index} "
                                   f"is outside its Slice_range {first}-{last}")
        vid = deeplesion_volume_id(row.file_name, row.slice_range)
        out.setdefault(vid, []).append(GroundTruthLesion(
            volume=vid, key_slice=row.key_slice_index - first, box=tuple(row.bounding_box),  # type: ignore[arg-type]
            lesion_id=row.file_name))
    return out


# --- box tables (Lesion Harvester, DeepLesion manual 1K) ----------------------------------------


@dataclass(frozen=True)
class BoxRow:
    """One row of a box table: volume key, 2D box, slices z0..z1 (0-based in the sub-volume), line number."""

    volume: str
    box: Box2D
    z_range: tuple[int, int]
    line: int
    score: float = 1.0


def _slice_range(lo: str, hi: str) -> tuple[int, int]:
    """Inclusive slices z0..z1 from a row's z cells: whole numbers are slice indices; a fractional pair such
    as -0.5, 0.5 (how 3D-Box.csv writes a one-slice lesion) is a continuous extent, and the slices whose
    centres lie inside it are taken."""
    a, b = float(lo), float(hi)
    if a.is_integer() and b.is_integer():
        return int(a), int(b)
    z0, z1 = math.ceil(a), math.floor(b)
    if z1 < z0:
        raise ValueError(f"z extent {lo}..{hi} holds no slice centre")
    return z0, z1


def read_box_table(path: str | Path) -> tuple[list[BoxRow], list[str]]:
    """Rows of a Lesion-Harvester box CSV or the DeepLesion manual-1K CSV, and the volumes listed with no box.

    Manual-1K slices are absolute DeepLesion numbers; they are moved to the sub-volume (``z - first``) so
    both layouts share the harvester's 0-based slice numbering. An optional ``score`` column is kept.
    """
    path = Path(path)
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise GroundTruthError(f"cannot open {path}: {exc.strerror}") from None
    rows: list[BoxRow] = []
    empty: list[str] = []
    with handle:
        reader = csv.DictReader(handle)
        names = reader.fieldnames or []
        if {"volume_id", "x_min", "y_min", "x_max", "y_max", "z_min", "z_max"} <= set(names):
            cols, vol_col, absolute = ("x_min", "y_min", "x_max", "y_max", "z_min", "z_max"), "volume_id", False
        elif {"subvolume", "x1", "y1", "z1", "x2", "y2", "z2"} <= set(names):
            cols, vol_col, absolute = ("x1", "y1", "x2", "y2", "z1", "z2"), "subvolume", True
        else:
            raise GroundTruthError(f"{path}: not a box table; expected columns volume_id,x_min,y_min,x_max,"
                                   f"y_max,z_min,z_max or split,subvolume,x1,y1,z1,x2,y2,z2")
        for row in reader:
            line = reader.line_num
            volume = (row.get(vol_col) or "").strip()
            if not volume:
                raise GroundTruthError(f"{path}:{line}: empty volume name")
            if all((row.get(c) or "").strip() == "" for c in cols):
                empty.append(volume)
                continue
            try:
                x0, y0, x1, y1 = (float(row[c]) for c in cols[:4])
                z0, z1 = _slice_range(row[cols[4]], row[cols[5]])
                if absolute:
                    m = _SUBVOLUME.match(volume)
                    if not m:
                        raise ValueError(f"sub-volume name {volume!r} is not PPPPPP_SS_RR_first-last")
                    z0, z1 = z0 - int(m.group(2)), z1 - int(m.group(2))
                score = float(row["score"]) if (row.get("score") or "").strip() else 1.0
                box = _checked_box((x0, y0, x1, y1), "box")
                if z1 < z0:
                    raise ValueError(f"z range {z0}..{z1} is reversed")
            except (TypeError, ValueError, KeyError) as exc:
                raise GroundTruthError(f"{path}:{line}: {exc}") from None
            rows.append(BoxRow(volume, box, (z0, z1), line, score))
    return rows, empty


def marks_from_box_table(path: str | Path) -> dict[str, list[GroundTruthLesion]]:
    """2D marks (one slice per row, e.g. RECIST boxes, radiologist-revised boxes) keyed by volume;
    volumes listed without boxes map to an empty list (they still count for false positives)."""
    rows, empty = read_box_table(path)
    out: dict[str, list[GroundTruthLesion]] = {v: [] for v in empty}
    for r in rows:
        if r.z_range[0] != r.z_range[1]:
            raise GroundTruthError(f"{path}:{r.line}: a mark lies on one slice, this row spans "
                                   f"{r.z_range[0]}..{r.z_range[1]}; read it with boxes_3d_from_box_table")
        out.setdefault(r.volume, []).append(GroundTruthLesion(r.volume, r.z_range[0], r.box,
                                                              lesion_id=f"line {r.line}"))
    return out


def boxes_3d_from_box_table(path: str | Path) -> dict[str, list[GroundTruthLesion]]:
    """3D boxes (no key-slice mark, so only the 3D IoU criterion applies) keyed by volume."""
    rows, empty = read_box_table(path)
    out: dict[str, list[GroundTruthLesion]] = {v: [] for v in empty}
    for r in rows:
        out.setdefault(r.volume, []).append(GroundTruthLesion(r.volume, None, None, (*r.box, *r.z_range),
                                                              lesion_id=f"line {r.line}"))
    return out


def proposals_from_box_table(path: str | Path) -> dict[str, list[Proposal3D]]:
    """A box table read as detections (score column, else 1.0; key slice = middle slice), keyed by volume."""
    rows, empty = read_box_table(path)
    out: dict[str, list[Proposal3D]] = {v: [] for v in empty}
    for r in rows:
        out.setdefault(r.volume, []).append(Proposal3D(r.box, r.z_range, r.score, (r.z_range[0] + r.z_range[1]) // 2))
    return out


LABEL_MAP_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")


def instance_ground_truth(labels: np.ndarray, volume: str) -> list[GroundTruthLesion]:
    """One lesion per label value of an instance label map (Z, Y, X): key slice = largest cross-section,
    mark = the mask's box on it (x1 = last column + 1), 3D box = the mask's extent."""
    out = []
    for lid in sorted(int(v) for v in np.unique(labels) if v > 0):
        m = labels == lid
        zs = np.flatnonzero(m.any(axis=(1, 2)))
        key = int(zs[np.argmax(m[zs].sum(axis=(1, 2)))])
        rows, cols = np.flatnonzero(m[key].any(axis=1)), np.flatnonzero(m[key].any(axis=0))
        r3, c3 = np.flatnonzero(m.any(axis=(0, 2))), np.flatnonzero(m.any(axis=(0, 1)))
        out.append(GroundTruthLesion(volume, key, (cols[0], rows[0], cols[-1] + 1.0, rows[-1] + 1.0),
                                     (c3[0], r3[0], c3[-1] + 1.0, r3[-1] + 1.0, int(zs[0]), int(zs[-1])),
                                     None, str(lid)))
    return out


def read_label_map_ground_truth(path: str | Path) -> dict[str, list[GroundTruthLesion]]:
    """An instance label map (NIfTI / NRRD / MetaImage, one value per lesion, on the grid of the volume the
    proposals were made on), keyed by the file's name without suffix."""
    from liverview.io.label_map_checks import class_map_doubts
    from liverview.io.volumes import read_volume

    path = Path(path)
    labels = read_volume(path).array
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise GroundTruthError(f"{path}: not a label map (values are not whole numbers)")
        labels = labels.astype(np.int64)
    doubts = class_map_doubts(labels)
    if doubts:
        raise GroundTruthError(f"{path}: not one value per lesion ({'; '.join(doubts)}); give an instance map "
                               "with one value per lesion")
    lesions = instance_ground_truth(labels, label_map_volume_id(path))
    if not lesions:
        raise GroundTruthError(f"{path}: the label map holds no lesion (no value above 0)")
    return {lesions[0].volume: lesions}


def is_label_map(path: str | Path) -> bool:
    """A file read as an instance label map (by its suffix)."""
    return Path(path).name.lower().endswith(LABEL_MAP_SUFFIXES)


def label_map_volume_id(path: str | Path) -> str:
    """The volume id a label map's lesions are keyed by: its file name without the suffix."""
    name = Path(path).name
    for suffix in LABEL_MAP_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_ground_truth(path: str | Path) -> dict[str, list[GroundTruthLesion]]:
    """Ground truth keyed by volume from any supported source: a phantom folder or its lesions.csv, an
    instance label map (one value per lesion), a DL_info.csv, or a box table (one-slice rows = marks;
    otherwise 3D boxes)."""
    path = Path(path)
    if path.is_file() and is_label_map(path):
        return read_label_map_ground_truth(path)
    if path.is_dir() or path.name == "lesions.csv":
        lesions = read_phantom_ground_truth(path)
        volume = (path if path.is_dir() else path.parent).name
        return {volume: lesions}
    if not path.is_file():
        raise GroundTruthError(f"{path} does not exist")
    header = path.open(encoding="utf-8-sig", errors="replace").readline()
    if "Bounding_boxes" in header and "Key_slice_index" in header:
        return read_deeplesion_ground_truth(path)
    rows, _ = read_box_table(path)
    if all(r.z_range[0] == r.z_range[1] for r in rows) and "subvolume" not in header:
        return marks_from_box_table(path)
    return boxes_3d_from_box_table(path)


def lesions_by_volume(lesions: Sequence[GroundTruthLesion]) -> dict[str, list[GroundTruthLesion]]:
    out: dict[str, list[GroundTruthLesion]] = {}
    for les in lesions:
        out.setdefault(les.volume, []).append(les)
    return out


def count_lesions(ground_truth: Mapping[str, Sequence[GroundTruthLesion]]) -> int:
    return sum(len(v) for v in ground_truth.values())
