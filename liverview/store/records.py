"""What the project store holds, as plain frozen dataclasses, and the vocabularies they are checked against.

Every coordinate is patient LPS millimetres (voxel boxes are marked as such); every time is UTC.
Records validate themselves on construction, so a bad value is refused before it reaches the database.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from liverview.core.study import PhaseKind

if TYPE_CHECKING:
    from liverview.measure.recist import RecistMeasurement

Point3 = tuple[float, float, float]
Index3 = tuple[int, int, int]

LESION_CLASSES = ("cyst", "hemangioma", "hcc", "metastasis", "unknown")
LESION_STATUSES = ("draft", "confirmed", "flagged")
PROPOSAL_STATUSES = ("pending", "accepted", "rejected", "edited", "flagged")
DECISIONS = ("accepted", "rejected", "edited", "flagged")
BOX_KINDS = ("2d", "3d")
MODALITIES = ("CT", "US")
PIXEL_UNITS = ("mm", "px")  # "px": the image states no pixel size; its geometry counts pixels, not mm
US_PHASE = "ultrasound"  # the one "phase" of an ultrasound study (an image or a cine)
_PHASE_NAMES = frozenset(k.value for k in PhaseKind) | {US_PHASE}
_US_ALIASES = frozenset({"us", "ultrasound"})


class StoreError(Exception):
    """Base of every error the project store raises; the message is written for the user."""


class InvalidRecordError(StoreError, ValueError):
    """A value given to the store is not allowed (unknown class, non-finite point, ...)."""


def _choice(value: object, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidRecordError(f"unknown {what} {value!r}: use one of {', '.join(allowed)}")
    return str(value)


def check_lesion_class(value: object) -> str:
    """The lesion class itself, or InvalidRecordError naming the classes LiverView knows."""
    return _choice(value, LESION_CLASSES, "lesion class")


def check_lesion_status(value: object) -> str:
    return _choice(value, LESION_STATUSES, "lesion status")


def check_proposal_status(value: object) -> str:
    return _choice(value, PROPOSAL_STATUSES, "proposal status")


def check_decision(value: object) -> str:
    return _choice(value, DECISIONS, "review decision")


def check_modality(value: object) -> str:
    return _choice(value, MODALITIES, "study modality")


def check_pixel_units(value: object) -> str:
    return _choice(value, PIXEL_UNITS, "pixel units")


def normalize_phase(value: str | PhaseKind) -> str:
    """The canonical phase name ('arterial', 'portal venous', ..., or 'ultrasound') of a PhaseKind or an
    alias like 'PV' or 'US'."""
    if isinstance(value, PhaseKind):
        return value.value
    if value in _PHASE_NAMES:
        return str(value)
    if str(value).strip().lower() in _US_ALIASES:
        return US_PHASE
    try:
        return PhaseKind.parse(str(value)).value
    except ValueError as err:
        raise InvalidRecordError(str(err)) from None


def _point(p: object, what: str) -> Point3:
    try:
        x, y, z = p  # type: ignore[misc]
        x, y, z = float(x), float(y), float(z)
    except (TypeError, ValueError):
        raise InvalidRecordError(f"{what} must be three LPS coordinates in mm, got {p!r}") from None
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
        raise InvalidRecordError(f"{what} must be finite, got {p!r}")
    return (x, y, z)


def _index(p: object, what: str) -> Index3:
    try:
        values = tuple(p)  # type: ignore[arg-type]
        if len(values) != 3 or not all(float(v) == int(v) for v in values):
            raise ValueError
        i, j, k = (int(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        raise InvalidRecordError(f"{what} must be three whole voxel indices (i, j, k), got {p!r}") from None
    return (i, j, k)


def _segment(seg: object, what: str) -> tuple[Point3, Point3]:
    try:
        p, q = seg  # type: ignore[misc]
    except (TypeError, ValueError):
        raise InvalidRecordError(f"{what} must be two LPS points, got {seg!r}") from None
    return _point(p, f"{what} start"), _point(q, f"{what} end")


def _whole(value: object, what: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or float(value) != int(value):
        raise InvalidRecordError(f"{what} must be a whole number, got {value!r}")
    n = int(value)
    if minimum is not None and n < minimum:
        raise InvalidRecordError(f"{what} must be at least {minimum}, got {n}")
    return n


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class RecistRecord:
    """A RECIST mark: long axis and optional short axis (LPS mm) on one key slice of one phase."""

    long_axis: tuple[Point3, Point3]
    short_axis: tuple[Point3, Point3] | None
    key_slice: int
    phase: str

    def __post_init__(self) -> None:
        _set(self, "long_axis", _segment(self.long_axis, "RECIST long axis"))
        if self.short_axis is not None:
            _set(self, "short_axis", _segment(self.short_axis, "RECIST short axis"))
        _set(self, "key_slice", _whole(self.key_slice, "RECIST key slice", 0))
        _set(self, "phase", normalize_phase(self.phase))
        if self.long_mm == 0:
            raise InvalidRecordError("the RECIST long axis has zero length: its two end points coincide")

    @property
    def long_mm(self) -> float:
        """Length of the long axis in mm."""
        return math.dist(*self.long_axis)

    @property
    def short_mm(self) -> float | None:
        """Length of the short axis in mm, or None when only the long axis was measured."""
        return None if self.short_axis is None else math.dist(*self.short_axis)

    @classmethod
    def from_measurement(cls, measurement: "RecistMeasurement", phase: str | PhaseKind) -> "RecistRecord":
        """Store form of a :class:`liverview.measure.recist.RecistMeasurement` taken on ``phase``."""
        return cls(measurement.long_axis, measurement.short_axis, measurement.key_slice, phase)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BoxRecord:
    """An axis-aligned box in LPS mm, with optionally the same box as inclusive voxel indices (i, j, k)
    of the study's reference phase. ``id`` is None until the store has saved it."""

    kind: str
    min_mm: Point3
    max_mm: Point3
    min_ijk: Index3 | None = None
    max_ijk: Index3 | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        _set(self, "kind", _choice(self.kind, BOX_KINDS, "box kind"))
        _set(self, "min_mm", _point(self.min_mm, "box min corner"))
        _set(self, "max_mm", _point(self.max_mm, "box max corner"))
        if any(a > b for a, b in zip(self.min_mm, self.max_mm)):
            raise InvalidRecordError(f"box min corner {self.min_mm} exceeds its max corner {self.max_mm}")
        if (self.min_ijk is None) != (self.max_ijk is None):
            raise InvalidRecordError("a voxel box needs both its min and max indices, or neither")
        if self.min_ijk is not None and self.max_ijk is not None:
            _set(self, "min_ijk", _index(self.min_ijk, "box min voxel"))
            _set(self, "max_ijk", _index(self.max_ijk, "box max voxel"))
            if any(a > b for a, b in zip(self.min_ijk, self.max_ijk)):
                raise InvalidRecordError(f"box min voxel {self.min_ijk} exceeds its max voxel {self.max_ijk}")

    @property
    def has_voxels(self) -> bool:
        return self.min_ijk is not None


@dataclass(frozen=True)
class StudyRecord:
    """A study of the project: identifiers only, its pixels stay in the files its phases name."""

    id: int
    uid: str
    description: str
    patient_id: str
    created_at: datetime
    modality: str = "CT"


@dataclass(frozen=True)
class PhaseRecord:
    """One phase of a study: where its volume lives (path and series UID), not a copy of it.
    ``pixel_units`` is "px" when the image states no pixel size (coordinates then count pixels)."""

    id: int
    study_id: int
    kind: str
    source_path: str
    series_uid: str
    is_reference: bool
    pixel_units: str = "mm"


@dataclass(frozen=True)
class LesionRecord:
    """A lesion as the store holds it; ``deleted`` lesions are kept so that undo can restore them."""

    id: int
    study_id: int
    lesion_class: str
    status: str
    notes: str
    recist: RecistRecord | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    deleted: bool = False
    boxes: tuple[BoxRecord, ...] = ()
    tracking_uid: str = ""  # DICOM tracking UID of a lesion imported from an SR / SEG; "" when made here

    def box(self, kind: str) -> BoxRecord | None:
        """The lesion's '2d' or '3d' box, or None when it has none of that kind."""
        return next((b for b in self.boxes if b.kind == kind), None)


@dataclass(frozen=True)
class ProposalRecord:
    """A detector's lesion proposal: a box in mm and in reference-phase voxels, its score s_g, per-class
    scores, and the review status. Build one with ``id=None``; the store fills id, study, status and time.
    ``slice_boxes`` are optional 2D boxes (one per slice) the 3D box was stacked from."""

    box: BoxRecord
    score: float
    source_model: str
    lesion_class: str = "unknown"
    class_scores: Mapping[str, float] = field(default_factory=dict)
    key_slice: int | None = None
    slice_boxes: tuple[BoxRecord, ...] = ()
    id: int | None = None
    study_id: int | None = None
    status: str = "pending"
    lesion_id: int | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.box, BoxRecord) or not self.box.has_voxels:
            raise InvalidRecordError("a proposal needs its box in mm and in voxel indices of the reference phase")
        score = float(self.score)
        if not math.isfinite(score):
            raise InvalidRecordError(f"a proposal score must be finite, got {self.score!r}")
        _set(self, "score", score)
        if not self.source_model:
            raise InvalidRecordError("a proposal must name the model that produced it (source_model)")
        _set(self, "lesion_class", check_lesion_class(self.lesion_class))
        scores = {}
        for name, value in dict(self.class_scores).items():
            check_lesion_class(name)
            v = float(value)
            if not math.isfinite(v):
                raise InvalidRecordError(f"class score of {name} must be finite, got {value!r}")
            scores[name] = v
        _set(self, "class_scores", scores)
        if self.key_slice is not None:
            _set(self, "key_slice", _whole(self.key_slice, "proposal key slice", 0))
        _set(self, "slice_boxes", tuple(self.slice_boxes))
        if not all(isinstance(b, BoxRecord) for b in self.slice_boxes):
            raise InvalidRecordError("slice_boxes must be BoxRecord objects")
        _set(self, "status", check_proposal_status(self.status))


@dataclass(frozen=True)
class DecisionRecord:
    """A reviewer's decision on a proposal, with provenance: who, when, and which model proposed it."""

    id: int
    proposal_id: int
    decision: str
    reviewer: str
    decided_at: datetime
    model: str
    note: str


@dataclass(frozen=True)
class AuditEntry:
    """One change as the audit log recorded it. ``before``/``after`` map a table name to the rows the
    change touched (binary columns summarised by size and SHA-256); None where nothing existed."""

    id: int
    at: datetime
    who: str
    action: str
    entity: str
    entity_id: int | None
    before: dict[str, list[dict[str, Any]]] | None
    after: dict[str, list[dict[str, Any]]] | None


@dataclass(frozen=True)
class StoreChange:
    """What a listener is told after a change committed: redraw ``entity`` ``entity_id``.
    ``action`` is the edit ('set_recist', ...) or 'undo:<edit>' / 'redo:<edit>'."""

    entity: str
    entity_id: int | None
    action: str
