"""Lesions and their RECIST measurements as a documented JSON file, and back.

Schema (``schema_version`` 2; all coordinates LPS millimetres, the DICOM patient system)::

    {
      "format": "liverview-lesions",
      "schema_version": 2,
      "units": "mm",
      "coordinate_system": "LPS",
      "reference": null | {                      # the grid key_slice refers to
        "name": str, "size_ijk": [i, j, k], "spacing": [x, y, z],
        "origin": [x, y, z], "direction": [[...], [...], [...]]   # rows of the 3x3 matrix whose
      },                                                          # columns are the i, j, k axes
      "grids": {phase: {...as reference...}},    # (2) the grid of each phase measured on
      "lesions": [{
        "lesion_id": str, "lesion_class": str, "note": str,
        "measurements": [{
          "phase": str,                           # (2) contrast phase measured on ("" = not said)
          "key_slice": int,                       # slice index on the grid of that phase (its entry in
                                                  # "grids"), else on the reference grid
          "long_axis": [[x, y, z], [x, y, z]],
          "short_axis": null | [[x, y, z], [x, y, z]],
          "long_axis_mm": float, "short_axis_mm": null | float   # derived, for readers; not read back
        }]
      }]
    }

Readers ignore keys they do not know, so later minor additions stay readable; a file with a higher
``schema_version`` is refused with a message rather than misread. Version 2 added "phase" and "grids"
(a version-1 reader would take an arterial key slice for a reference one, hence the new version); version 1
files read as before.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from liverview.core.volume import Volume
from liverview.io.replace_on_success import replaced_on_success
from liverview.measure.recist import RecistGeometryError, RecistMeasurement, Segment

SCHEMA_VERSION = 2
FORMAT_NAME = "liverview-lesions"


class LesionJsonError(ValueError):
    """A lesion JSON file cannot be written or read; the message names the file and the place."""


@dataclass
class LesionRecord:
    """One lesion: its identity, class and RECIST measurements (in mm, LPS)."""

    lesion_id: str
    lesion_class: str = ""
    measurements: list[RecistMeasurement] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class GridReference:
    """The voxel grid that measurement key slices index into."""

    name: str
    size_ijk: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[tuple[float, float, float], ...]  # rows of the direction matrix

    @classmethod
    def from_volume(cls, volume: Volume) -> "GridReference":
        return cls(
            name=volume.name,
            size_ijk=tuple(int(n) for n in volume.size_ijk),  # type: ignore[arg-type]
            spacing=tuple(volume.spacing),  # type: ignore[arg-type]
            origin=tuple(volume.origin),  # type: ignore[arg-type]
            direction=tuple(tuple(float(x) for x in row) for row in volume.direction),
        )

    def matches(self, volume: Volume, atol_mm: float = 1e-3) -> bool:
        """True when ``volume`` has this grid (size exactly; spacing, origin, direction within tolerance)."""
        return (
            tuple(volume.size_ijk) == tuple(self.size_ijk)
            and np.allclose(volume.spacing, self.spacing, atol=atol_mm)
            and np.allclose(volume.origin, self.origin, atol=atol_mm)
            and np.allclose(volume.direction, np.array(self.direction), atol=1e-6)
        )


@dataclass
class LesionDocument:
    """What a lesion JSON file holds."""

    lesions: list[LesionRecord]
    reference: GridReference | None = None
    grids: dict[str, GridReference] = field(default_factory=dict)  # phase -> grid its key slices index


def _measurement_json(m: RecistMeasurement) -> dict[str, Any]:
    return {
        "phase": m.phase,
        "key_slice": m.key_slice,
        "long_axis": [list(p) for p in m.long_axis],
        "short_axis": None if m.short_axis is None else [list(p) for p in m.short_axis],
        "long_axis_mm": m.long_axis_mm,
        "short_axis_mm": m.short_axis_mm,
    }


def _grid_json(g: GridReference) -> dict[str, Any]:
    return {"name": g.name, "size_ijk": list(g.size_ijk), "spacing": list(g.spacing), "origin": list(g.origin),
            "direction": [list(row) for row in g.direction]}


def write_lesions_json(
    lesions: Sequence[LesionRecord], path: str | Path, reference: Volume | GridReference | None = None,
    grids: Mapping[str, Volume | GridReference] | None = None,
) -> None:
    """Write lesions, the reference grid, and the grid of each phase measured on (``grids``) as JSON."""
    path = Path(path)
    ids = [lesion.lesion_id for lesion in lesions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise LesionJsonError(f"cannot write {path}: lesion ids {duplicates} are used more than once")
    if isinstance(reference, Volume):
        reference = GridReference.from_volume(reference)
    phase_grids = {str(k): GridReference.from_volume(g) if isinstance(g, Volume) else g
                   for k, g in (grids or {}).items()}
    document = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "units": "mm",
        "coordinate_system": "LPS",
        "reference": None if reference is None else _grid_json(reference),
        "grids": {k: _grid_json(g) for k, g in phase_grids.items()},
        "lesions": [
            {
                "lesion_id": lesion.lesion_id,
                "lesion_class": lesion.lesion_class,
                "note": lesion.note,
                "measurements": [_measurement_json(m) for m in lesion.measurements],
            }
            for lesion in lesions
        ],
    }
    try:
        # allow_nan=False: NaN is not JSON and other tools would choke on it
        text = json.dumps(document, indent=2, allow_nan=False)
    except ValueError as e:
        raise LesionJsonError(f"cannot write {path}: a value is not finite ({e})") from e
    try:
        with replaced_on_success(path) as (partial,):
            partial.write_text(text + "\n", encoding="utf-8")
    except OSError as e:
        raise LesionJsonError(f"cannot write {path}: {e.strerror}") from e


class _Reader:
    """Typed access to parsed JSON that reports where a bad value sits."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, what: str) -> LesionJsonError:
        return LesionJsonError(f"{self.path}: {where}: {what}")

    def get(self, obj: Any, key: str, where: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where, "expected an object")
        if key not in obj:
            if optional:
                return None
            raise self.fail(where, f"missing '{key}'")
        value = obj[key]
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}", f"expected {names}, got {type(value).__name__}")
        return value

    def numbers(self, value: Any, where: str, count: int) -> tuple[float, ...]:
        if (
            not isinstance(value, list)
            or len(value) != count
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        ):
            raise self.fail(where, f"expected {count} finite numbers, got {value!r}")
        return tuple(float(v) for v in value)

    def triple(self, obj: Any, key: str, where: str) -> tuple[float, float, float]:
        return self.numbers(self.get(obj, key, where, list), f"{where}.{key}", 3)  # type: ignore[return-value]

    def segment(self, value: Any, where: str) -> Segment:
        if not isinstance(value, list) or len(value) != 2:
            raise self.fail(where, f"expected two [x, y, z] points, got {value!r}")
        start, end = self.numbers(value[0], f"{where}[0]", 3), self.numbers(value[1], f"{where}[1]", 3)
        return start, end  # type: ignore[return-value]


def _read_reference(r: _Reader, ref: Any, where: str = "reference") -> GridReference:
    rows = r.get(ref, "direction", where, list)
    if len(rows) != 3:
        raise r.fail(f"{where}.direction", "expected 3 rows")
    return GridReference(
        name=r.get(ref, "name", where, str),
        size_ijk=tuple(int(n) for n in r.triple(ref, "size_ijk", where)),  # type: ignore[arg-type]
        spacing=r.triple(ref, "spacing", where),
        origin=r.triple(ref, "origin", where),
        direction=tuple(r.numbers(row, f"{where}.direction[{n}]", 3) for n, row in enumerate(rows)),
    )


def _read_measurement(r: _Reader, m: Any, where: str, lesion_id: str) -> RecistMeasurement:
    short = r.get(m, "short_axis", where, list, optional=True)
    try:
        return RecistMeasurement(
            long_axis=r.segment(r.get(m, "long_axis", where, list), f"{where}.long_axis"),
            short_axis=None if short is None else r.segment(short, f"{where}.short_axis"),
            key_slice=r.get(m, "key_slice", where, int),
            lesion_id=lesion_id,
            phase=r.get(m, "phase", where, str, optional=True) or "",
        )
    except RecistGeometryError as e:
        raise r.fail(where, str(e)) from e


def read_lesions_json(path: str | Path) -> LesionDocument:
    """Read a lesion JSON file written by :func:`write_lesions_json` (schema version <= 2)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LesionJsonError(f"cannot read {path}: {e.strerror}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LesionJsonError(f"{path} is not valid JSON: {e}") from e
    r = _Reader(path)
    if r.get(data, "format", "file", str) != FORMAT_NAME:
        raise r.fail("format", f"expected '{FORMAT_NAME}', got {data['format']!r}")
    version = r.get(data, "schema_version", "file", int)
    if version > SCHEMA_VERSION:
        raise r.fail(
            "schema_version", f"{version} is newer than this LiverView reads ({SCHEMA_VERSION}); update LiverView"
        )
    if r.get(data, "units", "file", str) != "mm" or r.get(data, "coordinate_system", "file", str) != "LPS":
        raise r.fail("units", "only millimetres in LPS are defined")
    ref = r.get(data, "reference", "file", dict, optional=True)
    lesions = []
    for n, item in enumerate(r.get(data, "lesions", "file", list)):
        where = f"lesions[{n}]"
        lesion_id = r.get(item, "lesion_id", where, str)
        measurements = [
            _read_measurement(r, m, f"{where}.measurements[{k}]", lesion_id)
            for k, m in enumerate(r.get(item, "measurements", where, list))
        ]
        lesions.append(
            LesionRecord(
                lesion_id=lesion_id,
                lesion_class=r.get(item, "lesion_class", where, str, optional=True) or "",
                measurements=measurements,
                note=r.get(item, "note", where, str, optional=True) or "",
            )
        )
    grids = r.get(data, "grids", "file", dict, optional=True) or {}
    return LesionDocument(lesions=lesions, reference=None if ref is None else _read_reference(r, ref),
                          grids={str(k): _read_reference(r, g, f"grids.{k}") for k, g in grids.items()})
