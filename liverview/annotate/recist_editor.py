"""RECIST editing as a user does it, without Qt: draw a long axis, drag end points, delete.

All geometry is in patient mm on the plane of the slice being edited; the short axis is kept
perpendicular by ``liverview.measure.recist``. A drag shows a preview while the mouse moves and
is committed to the project once, when the mouse is released, as one undoable edit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liverview.measure.recist import RecistHandle, RecistMeasurement, drag_handle, perpendicular_short_axis
from liverview.store.project import Project
from liverview.store.records import LesionRecord, RecistRecord

MIN_LONG_AXIS_MM = 1.0  # a shorter drag is a click, not a measurement
SHORT_AXIS_PROPOSAL = 0.5  # proposed short axis = this fraction of the long axis


@dataclass(frozen=True)
class SlicePlane:
    """The plane being edited: a point on it, its unit normal, the phase and slice index shown."""

    point: np.ndarray
    normal: np.ndarray
    phase: str
    key_slice: int
    half_thickness_mm: float

    def contains(self, p: np.ndarray) -> bool:
        return abs(float((np.asarray(p, float) - self.point) @ self.normal)) <= self.half_thickness_mm + 1e-6


@dataclass(frozen=True)
class HandleHit:
    lesion_id: int
    handle: RecistHandle
    distance_mm: float


def marks_on_plane(lesions: list[LesionRecord], plane: SlicePlane) -> list[LesionRecord]:
    """Lesions whose RECIST mark lies on this plane (every end point within half a slice)."""
    out = []
    for lesion in lesions:
        r = lesion.recist
        if r is None:
            continue
        points = list(r.long_axis) + (list(r.short_axis) if r.short_axis else [])
        if all(plane.contains(np.asarray(p)) for p in points):
            out.append(lesion)
    return out


def _measurement(record: RecistRecord) -> RecistMeasurement:
    return RecistMeasurement(record.long_axis, record.short_axis, record.key_slice)


class RecistEditor:
    """Turns pointer events (already converted to mm) into project edits."""

    def __init__(self, project: Project, study_id: int, default_class: str = "unknown") -> None:
        self.project = project
        self.study_id = study_id
        self.default_class = default_class
        self.selected_id: int | None = None
        self._plane: SlicePlane | None = None
        self._start: np.ndarray | None = None
        self._drag: tuple[int, RecistHandle, RecistMeasurement] | None = None
        self.preview: RecistMeasurement | None = None  # what to draw while the mouse is down
        self.preview_lesion_id: int | None = None

    # --- queries ----------------------------------------------------------------------------
    def lesions(self) -> list[LesionRecord]:
        return self.project.list_lesions(self.study_id)

    def hit_test(self, point: np.ndarray, plane: SlicePlane, tolerance_mm: float) -> HandleHit | None:
        """The end point nearest to ``point`` within ``tolerance_mm``, among marks on this plane."""
        best: HandleHit | None = None
        for lesion in marks_on_plane(self.lesions(), plane):
            r = lesion.recist
            ends = {RecistHandle.LONG_START: r.long_axis[0], RecistHandle.LONG_END: r.long_axis[1]}
            if r.short_axis is not None:
                ends[RecistHandle.SHORT_START] = r.short_axis[0]
                ends[RecistHandle.SHORT_END] = r.short_axis[1]
            for handle, p in ends.items():
                d = float(np.linalg.norm(np.asarray(p) - point))
                if d <= tolerance_mm and (best is None or d < best.distance_mm):
                    best = HandleHit(lesion.id, handle, d)
        return best

    @property
    def busy(self) -> bool:
        return self._start is not None or self._drag is not None

    # --- pointer ----------------------------------------------------------------------------
    def press(self, point: np.ndarray, plane: SlicePlane, tolerance_mm: float) -> None:
        """Mouse down: grab an end point if one is near (the mark keeps its phase and key slice, even when
        grabbed in another phase's pane), else start a new long axis on this pane's phase and slice."""
        point = self._on_plane(point, plane)
        self._plane = plane
        hit = self.hit_test(point, plane, tolerance_mm)
        if hit is not None:
            record = self.project.get_lesion(hit.lesion_id).recist
            # The mark stays where it was measured: its phase, its key slice and its plane, whichever
            # pane (phase) shows it now.
            self._plane = SlicePlane(np.asarray(record.long_axis[0], float), plane.normal, record.phase,
                                     record.key_slice, plane.half_thickness_mm)
            self._drag = (hit.lesion_id, hit.handle, _measurement(record))
            self.selected_id = hit.lesion_id
            self.preview = _measurement(record)
            self.preview_lesion_id = hit.lesion_id
        else:
            self._start = point
            self.preview = None
            self.preview_lesion_id = None

    def move(self, point: np.ndarray) -> RecistMeasurement | None:
        """Mouse moved with the button down: update the preview (nothing is written yet)."""
        if self._plane is None:
            return None
        point = self._on_plane(point, self._plane)
        if self._drag is not None:
            _lid, handle, start = self._drag
            try:
                self.preview = drag_handle(start, handle, point, self._plane.normal)
            except ValueError:
                pass  # dropped onto the other end: keep the last valid preview
        elif self._start is not None:
            self.preview = self._new_mark(self._start, point)
        return self.preview

    def release(self, point: np.ndarray) -> LesionRecord | None:
        """Mouse up: commit the drawn or edited mark as one edit; returns the lesion saved."""
        self.move(point)
        plane, preview = self._plane, self.preview
        drag, self._drag, self._start, self._plane = self._drag, None, None, None
        self.preview, self.preview_lesion_id = None, None
        if plane is None or preview is None:
            return None
        record = RecistRecord(preview.long_axis, preview.short_axis, plane.key_slice, plane.phase)
        if drag is not None:
            lesion_id = drag[0]
            if self.project.get_lesion(lesion_id).recist == record:
                return None
            return self.project.set_recist(lesion_id, record)
        lesion = self.project.add_lesion(self.study_id, self.default_class, recist=record)
        self.selected_id = lesion.id
        return lesion

    def cancel(self) -> None:
        self._drag, self._start, self._plane, self.preview, self.preview_lesion_id = None, None, None, None, None

    def delete_selected(self) -> bool:
        if self.selected_id is None:
            return False
        self.project.delete_lesion(self.selected_id)
        self.selected_id = None
        return True

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _on_plane(point: np.ndarray, plane: SlicePlane) -> np.ndarray:
        p = np.asarray(point, float)
        return p - ((p - plane.point) @ plane.normal) * plane.normal

    def _new_mark(self, a: np.ndarray, b: np.ndarray) -> RecistMeasurement | None:
        length = float(np.linalg.norm(b - a))
        if length < MIN_LONG_AXIS_MM:
            return None
        long_axis = (tuple(a), tuple(b))
        short = perpendicular_short_axis(long_axis, self._plane.normal, SHORT_AXIS_PROPOSAL * length)
        return RecistMeasurement(long_axis, short, self._plane.key_slice)
