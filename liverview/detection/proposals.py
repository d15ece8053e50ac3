"""Lesion detections as data: 2D boxes on one slice, 3D proposals, and the proposals.json file.

Every box here is on the *reference phase's voxel grid*: x = column i, y = row j, continuous pixel
coordinates whose pixel (i, j) covers [i, i+1) x [j, j+1) (DeepLesion's bounding-box convention);
slices z are whole indices k, and a 3D proposal covers slices z0..z1 inclusive. Millimetres come from
the volume's geometry at the edge (``box_mm``), so the detector and the metrics never guess spacing.

proposals.json (``write_proposals`` / ``read_proposals``)::

    {"format": "liverview-proposals", "version": 1, "study": "...", "model": "...",
     "reference_phase": "non-contrast", "shape": [Z, Y, X],
     "spacing_mm": [sx, sy, sz], "origin_mm": [...], "direction": [9 numbers, columns = i, j, k axes],
     "proposals": [{"box": [x0, y0, x1, y1], "z_range": [z0, z1], "score": 0.93, "key_slice": 31,
                    "lesion_class": "hcc", "class_probs": {"cyst": 0.01, ...},
                    "box_mm": [[xmin, ymin, zmin], [xmax, ymax, zmax]],
                    "slice_boxes": [{"slice": 30, "box": [x0, y0, x1, y1]}, ...]}, ...]}

``slice_boxes`` is optional (written only when a proposal has them): the 2D boxes on single slices that
the 3D box is the union of, where the producer kept them. The DeepLesion evaluation protocol takes a
proposal's box on a mark's key slice from them and falls back to the union box where a slice has none.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from liverview.core.volume import Volume

DETECTION_CLASSES: tuple[str, ...] = ("cyst", "hemangioma", "hcc", "metastasis")
PROPOSALS_FORMAT = "liverview-proposals"
PROPOSALS_VERSION = 1

Box2D = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the reference grid


class ProposalFormatError(ValueError):
    """A proposals file (JSON or CSV) cannot be read; the message names the file and the entry."""


def _box2d(box: object, what: str) -> Box2D:
    try:
        x0, y0, x1, y1 = (float(v) for v in box)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be four numbers x0, y0, x1, y1, got {box!r}") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ValueError(f"{what} must be finite, got {box!r}")
    if x1 < x0 or y1 < y0:
        raise ValueError(f"{what} has x1 < x0 or y1 < y0: {box!r}")
    return (x0, y0, x1, y1)


def _probs(probs: Mapping[str, float] | None, what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in dict(probs or {}).items():
        if name not in DETECTION_CLASSES:
            raise ValueError(f"{what}: unknown class {name!r} (expected {', '.join(DETECTION_CLASSES)})")
        p = float(value)
        if not math.isfinite(p):
            raise ValueError(f"{what}: probability of {name} is not finite")
        out[name] = p
    return out


def box_iou(a: Box2D, b: Box2D) -> float:
    """Intersection over union of two 2D boxes (0 when either has zero area and they do not coincide)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Detection2D:
    """One detector output on one slice: box, lesion score (class-agnostic) and class probabilities."""

    slice_index: int
    box: Box2D
    score: float
    class_probs: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _box2d(self.box, "a 2D detection box"))
        object.__setattr__(self, "class_probs", _probs(self.class_probs, "a 2D detection"))
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "slice_index", int(self.slice_index))


@dataclass(frozen=True)
class Proposal3D:
    """A 3D lesion proposal: the union of its 2D boxes, slices z0..z1 inclusive, 3D score s_g = max 2D score,
    the slice of that best 2D box, and class probabilities (argmax = ``lesion_class``). ``slice_boxes``
    optionally keeps the 2D box of single slices (slice -> box, slices inside z0..z1); empty when the
    producer kept only the union box."""

    box: Box2D
    z_range: tuple[int, int]
    score: float
    key_slice: int
    class_probs: Mapping[str, float] = field(default_factory=dict)
    slice_boxes: Mapping[int, Box2D] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _box2d(self.box, "a proposal box"))
        z0, z1 = (int(v) for v in self.z_range)
        if z1 < z0:
            raise ValueError(f"a proposal's z_range must have z0 <= z1, got {self.z_range!r}")
        object.__setattr__(self, "z_range", (z0, z1))
        object.__setattr__(self, "key_slice", int(self.key_slice))
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "class_probs", _probs(self.class_probs, "a proposal"))
        boxes: dict[int, Box2D] = {}
        for z, b in sorted(dict(self.slice_boxes).items()):
            z = int(z)
            if not z0 <= z <= z1:
                raise ValueError(f"a proposal's box on slice {z} lies outside its z_range {z0}..{z1}")
            boxes[z] = _box2d(b, f"a proposal's box on slice {z}")
        object.__setattr__(self, "slice_boxes", boxes)

    @property
    def lesion_class(self) -> str:
        """The most probable class, or 'unknown' when the detector gave no class probabilities."""
        if not self.class_probs:
            return "unknown"
        return max(self.class_probs.items(), key=lambda kv: kv[1])[0]

    @property
    def center(self) -> tuple[float, float, float]:
        """Centre (x, y, z) in continuous voxel coordinates of the reference grid (z on the key slice)."""
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2, float(self.key_slice))

    def box_ijk(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """The inclusive voxel indices (i, j, k) the proposal covers."""
        x0, y0, x1, y1 = self.box
        lo = (int(math.floor(x0)), int(math.floor(y0)), self.z_range[0])
        hi = (max(lo[0], int(math.ceil(x1)) - 1), max(lo[1], int(math.ceil(y1)) - 1), self.z_range[1])
        return lo, hi


def box_mm(proposal: Proposal3D, volume: Volume) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The proposal's axis-aligned bounding box in patient LPS mm (min corner, max corner), from the
    volume's geometry: corners of the covered voxels' extents, so an oblique grid is handled too."""
    x0, y0, x1, y1 = proposal.box
    z0, z1 = proposal.z_range
    corners = np.array([[x, y, z] for x in (x0 - 0.5, x1 - 0.5) for y in (y0 - 0.5, y1 - 0.5)
                        for z in (z0 - 0.5, z1 + 0.5)])
    world = np.array([volume.index_to_world(c) for c in corners])
    lo, hi = world.min(axis=0), world.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2]))


@dataclass(frozen=True)
class ProposalSet:
    """The proposals of one study and where they came from; the grid makes mm conversions possible."""

    proposals: tuple[Proposal3D, ...]
    study: str = ""
    model: str = ""
    reference_phase: str = "non-contrast"
    shape: tuple[int, int, int] | None = None  # Z, Y, X of the reference grid
    spacing_mm: tuple[float, float, float] | None = None
    origin_mm: tuple[float, float, float] | None = None
    direction: tuple[float, ...] | None = None  # 9 numbers, row-major, columns = i, j, k axes

    @classmethod
    def for_volume(cls, proposals: Iterable[Proposal3D], volume: Volume, study: str = "", model: str = "",
                   reference_phase: str = "non-contrast") -> "ProposalSet":
        return cls(tuple(proposals), study, model, reference_phase, tuple(int(s) for s in volume.array.shape),
                   tuple(volume.spacing), tuple(volume.origin), tuple(float(v) for v in volume.direction.ravel()))

    def grid_volume(self) -> Volume | None:
        """An empty volume on the reference grid (one voxel of data), for mm conversions; None without a grid."""
        if self.spacing_mm is None or self.origin_mm is None:
            return None
        direction = np.eye(3) if self.direction is None else np.asarray(self.direction, float).reshape(3, 3)
        return Volume(np.zeros((1, 1, 1), np.int8), self.spacing_mm, self.origin_mm, direction)

    def sorted_by_score(self) -> list[Proposal3D]:
        return sorted(self.proposals, key=lambda p: -p.score)


def _proposal_json(p: Proposal3D, grid: Volume | None) -> dict[str, Any]:
    d: dict[str, Any] = {"box": list(p.box), "z_range": list(p.z_range), "score": p.score,
                         "key_slice": p.key_slice, "lesion_class": p.lesion_class,
                         "class_probs": dict(p.class_probs)}
    if grid is not None:
        lo, hi = box_mm(p, grid)
        d["box_mm"] = [list(lo), list(hi)]
    if p.slice_boxes:
        d["slice_boxes"] = [{"slice": z, "box": list(b)} for z, b in p.slice_boxes.items()]
    return d


def write_proposals(path: str | Path, proposals: ProposalSet) -> Path:
    """Write proposals.json (sorted by score, best first)."""
    path = Path(path)
    grid = proposals.grid_volume()
    doc = {"format": PROPOSALS_FORMAT, "version": PROPOSALS_VERSION, "study": proposals.study,
           "model": proposals.model, "reference_phase": proposals.reference_phase,
           "shape": list(proposals.shape) if proposals.shape else None,
           "spacing_mm": list(proposals.spacing_mm) if proposals.spacing_mm else None,
           "origin_mm": list(proposals.origin_mm) if proposals.origin_mm else None,
           "direction": list(proposals.direction) if proposals.direction else None,
           "proposals": [_proposal_json(p, grid) for p in proposals.sorted_by_score()]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)  # never leave a half-written file where a reader expects a whole one
    return path


def _vector(doc: Mapping[str, Any], key: str, n: int, where: str) -> tuple | None:
    value = doc.get(key)
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ProposalFormatError(f"{where}: '{key}' must be a list of numbers") from None
    if len(out) != n:
        raise ProposalFormatError(f"{where}: '{key}' must hold {n} numbers, got {len(out)}")
    return out


def read_proposals(path: str | Path) -> ProposalSet:
    """Read proposals.json; ProposalFormatError names the file and the proposal that is wrong."""
    path = Path(path)
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProposalFormatError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != PROPOSALS_FORMAT:
        raise ProposalFormatError(f"{path}: not a LiverView proposals file (format must be '{PROPOSALS_FORMAT}')")
    if int(doc.get("version", 0)) > PROPOSALS_VERSION:
        raise ProposalFormatError(f"{path}: written by a newer LiverView (version {doc.get('version')}); "
                                  f"this one reads version {PROPOSALS_VERSION}")
    items = doc.get("proposals")
    if not isinstance(items, list):
        raise ProposalFormatError(f"{path}: 'proposals' must be a list")
    proposals = []
    for n, item in enumerate(items, start=1):
        try:
            proposals.append(Proposal3D(box=item["box"], z_range=tuple(item["z_range"]), score=item["score"],
                                        key_slice=item.get("key_slice", item["z_range"][0]),
                                        class_probs=item.get("class_probs") or {},
                                        slice_boxes={sb["slice"]: sb["box"] for sb in item.get("slice_boxes") or ()}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProposalFormatError(f"{path}: proposal {n}: {exc}") from None
    shape = _vector(doc, "shape", 3, str(path))
    return ProposalSet(tuple(proposals), str(doc.get("study", "")), str(doc.get("model", "")),
                       str(doc.get("reference_phase", "non-contrast")),
                       tuple(int(v) for v in shape) if shape else None,  # type: ignore[arg-type]
                       _vector(doc, "spacing_mm", 3, str(path)), _vector(doc, "origin_mm", 3, str(path)),
                       _vector(doc, "direction", 9, str(path)))


CSV_COLUMNS = ("x0", "y0", "z0", "x1", "y1", "z1", "score")


@dataclass(frozen=True)
class CsvProposalImport:
    """Proposals read from a CSV of 3D boxes, and the rows that could not be read (line number, reason)."""

    proposals: tuple[Proposal3D, ...]
    problems: tuple[tuple[int, str], ...]


def read_proposals_csv(path: str | Path) -> CsvProposalImport:
    """Read a CSV of 3D boxes with columns x0,y0,z0,x1,y1,z1,score (voxel coordinates of the reference grid;
    z0..z1 inclusive slices) and optional key_slice and lesion_class. Bad rows are reported with their line
    number and skipped; the rest are imported."""
    path = Path(path)
    proposals: list[Proposal3D] = []
    problems: list[tuple[int, str]] = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ProposalFormatError(f"{path}: missing column(s) {', '.join(missing)}; "
                                      f"expected {','.join(CSV_COLUMNS)}[,key_slice,lesion_class]")
        for row in reader:
            line = reader.line_num
            try:
                x0, y0, z0, x1, y1, z1, score = (float(row[c]) for c in CSV_COLUMNS)
                if not (z0.is_integer() and z1.is_integer()):
                    raise ValueError("z0 and z1 must be whole slice indices")
                key = row.get("key_slice") or ""
                key_slice = int(float(key)) if key.strip() else int((z0 + z1) // 2)
                cls = (row.get("lesion_class") or "").strip()
                probs: Sequence = [(cls, 1.0)] if cls else []
                p = Proposal3D((x0, y0, x1, y1), (int(z0), int(z1)), score, key_slice, dict(probs))
                if not p.z_range[0] <= p.key_slice <= p.z_range[1]:
                    raise ValueError(f"key_slice {p.key_slice} is outside z0..z1")
                if not math.isfinite(p.score):
                    raise ValueError("score is not a finite number")
                proposals.append(p)
            except (TypeError, ValueError) as exc:
                problems.append((line, str(exc)))
    return CsvProposalImport(tuple(proposals), tuple(problems))
