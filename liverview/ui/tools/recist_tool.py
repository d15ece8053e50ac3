"""The RECIST tool in the panes: draws every mark on the slice shown, edits through RecistEditor.

Marks come from the project (store events trigger a redraw), so every pane showing the same
physical plane, in any phase, draws the same mark at the same place.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg

from liverview.annotate.recist_editor import RecistEditor, SlicePlane, marks_on_plane
from liverview.measure.recist import RecistMeasurement
from liverview.store.records import StoreChange, StoreError
from liverview.ui.panes.overlay_items import set_curve, set_scatter, set_text
from liverview.ui.panes.slice_pane import SlicePane

HANDLE_PICK_PX = 8.0  # how close (screen pixels) a press must be to grab an end point
LABEL_GAP_PX = 6.0  # space between a mark's extent and its length label
COLOR = (0, 220, 255)
SELECTED = (255, 70, 255)  # magenta: apart from the yellow box of the current proposal


def pane_plane(pane: SlicePane) -> SlicePlane | None:
    s = pane.shown_slice
    if s is None:
        return None
    g = pane.geometry
    return SlicePlane(
        point=g.world(g.pixel_to_index(0.0, 0.0, s)),
        normal=pane.plane_normal(),
        phase=pane.phase_name or "unknown",
        key_slice=s,
        half_thickness_mm=g.slice_spacing_mm() / 2,
    )


class _PaneMarks:
    """The graphics of the marks in one pane (one line item, one scatter, a pool of labels)."""

    def __init__(self, pane: SlicePane) -> None:
        self.lines = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(COLOR, width=2))
        self.selected_lines = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(SELECTED, width=2))
        self.handles = pg.ScatterPlotItem(size=7, pen=pg.mkPen("w"), brush=pg.mkBrush(*COLOR))
        for item in (self.lines, self.selected_lines, self.handles):
            pane.viewbox.addItem(item, ignoreBounds=True)
        self.labels: list[pg.TextItem] = []
        self.pane = pane

    def label(self, n: int) -> pg.TextItem:
        while len(self.labels) <= n:
            item = pg.TextItem(color=(240, 240, 240), anchor=(0, 0), fill=pg.mkBrush(0, 0, 0, 160))
            self.pane.viewbox.addItem(item, ignoreBounds=True)
            self.labels.append(item)
        return self.labels[n]


def _segments_uv(pane: SlicePane, m: RecistMeasurement) -> list[tuple[float, float]]:
    pts = list(m.long_axis) + (list(m.short_axis) if m.short_axis else [])
    return [pane.geometry.scene_of_world(np.asarray(p)) for p in pts]


class RecistTool:
    """Pane tool (press/move/release/click) plus the overlay that draws the marks."""

    def __init__(self, editor: RecistEditor, panes: list[SlicePane]) -> None:
        self.editor = editor
        self.panes = panes
        self._marks: dict[str, _PaneMarks] = {}
        self._lesions: list | None = None  # the study's lesions, read again after any store change
        self.on_selection: Callable[[int | None], None] = lambda lesion_id: None
        self.on_error: Callable[[str], None] = lambda message: None
        self._unsubscribe = editor.project.subscribe(self._on_store_change)
        for pane in panes:
            self._marks[pane.pane_id] = _PaneMarks(pane)
            pane.overlays.append(self.draw)
        self.redraw_all()

    def set_active(self, active: bool) -> None:
        """Active: left drag measures in every pane; inactive: marks are shown, left drag is W/L."""
        for pane in self.panes:
            pane.tool = self if active else None

    def close(self) -> None:
        self._unsubscribe()
        for pane in self.panes:
            pane.tool = None
            if self.draw in pane.overlays:
                pane.overlays.remove(self.draw)

    def _on_store_change(self, change: StoreChange) -> None:
        self._lesions = None
        if change.entity in ("lesion", "recist", "study") or change.action.startswith(("undo", "redo")):
            if self.editor.selected_id is not None:
                lesion_ids = {lesion.id for lesion in self._study_lesions()}
                if self.editor.selected_id not in lesion_ids:
                    self.select(None)
            self.redraw_all()

    def select(self, lesion_id: int | None) -> None:
        self.editor.selected_id = lesion_id
        self.on_selection(lesion_id)
        self.redraw_all()

    def redraw_all(self) -> None:
        self._lesions = None
        lesions = self._study_lesions()
        for pane in self.panes:
            self.draw(pane, lesions)

    def _study_lesions(self) -> list:
        """Cached between store changes: every slice step of every pane asks for them."""
        if self._lesions is None:
            self._lesions = self.editor.lesions()
        return self._lesions

    # --- drawing ----------------------------------------------------------------------------
    def draw(self, pane: SlicePane, lesions=None) -> None:
        marks = self._marks.get(pane.pane_id)
        if marks is None:
            return
        plane = pane_plane(pane)
        shown: list[tuple[int | None, RecistMeasurement]] = []
        if plane is not None:
            lesions = self._study_lesions() if lesions is None else lesions
            for lesion in marks_on_plane(lesions, plane):
                if lesion.id == self.editor.preview_lesion_id:
                    continue  # drawn from the preview while it is being dragged
                r = lesion.recist
                shown.append((lesion.id, RecistMeasurement(r.long_axis, r.short_axis, r.key_slice)))
            preview = self.editor.preview
            if preview is not None and all(plane.contains(np.asarray(p)) for p in preview.long_axis):
                shown.append((self.editor.preview_lesion_id or -1, preview))
        normal_xy, selected_xy, handle_xy = [], [], []
        gap = LABEL_GAP_PX * pane.mm_per_screen_pixel()
        for n, (lesion_id, m) in enumerate(shown):
            uv = _segments_uv(pane, m)
            target = selected_xy if lesion_id in (self.editor.selected_id, -1) else normal_xy
            target.extend(uv)
            handle_xy.extend(uv)
            short = f" x {m.short_axis_mm:.1f}" if m.short_axis_mm is not None else ""
            # Below and right of the mark's extent (the label's top-left corner there): it never covers
            # the lesion or an end point.
            corner = np.max(np.asarray(uv, float), axis=0) + gap
            set_text(marks.label(n), f"{m.long_axis_mm:.1f}{short} mm", (float(corner[0]), float(corner[1])))
        for label in marks.labels[len(shown):]:
            label.hide()
        # Items are touched only when what they show changes (most slice steps show no mark).
        for item, xy in ((marks.lines, normal_xy), (marks.selected_lines, selected_xy)):
            a = np.asarray(xy, dtype=float).reshape(-1, 2)
            set_curve(item, a[:, 0], a[:, 1])
        a = np.asarray(handle_xy, dtype=float).reshape(-1, 2)
        set_scatter(marks.handles, a[:, 0], a[:, 1])

    # --- pane tool interface ------------------------------------------------------------------
    def press(self, pane: SlicePane, world: np.ndarray) -> None:
        plane = pane_plane(pane)
        if plane is None:
            return
        # Put the shared focus on the plane being measured, so every pane shows its cut nearest to it.
        focus = pane.pane_view.focus
        on_plane = focus - ((focus - plane.point) @ plane.normal) * plane.normal
        pane.state.set_focus(pane.pane_id, on_plane, origin="programmatic")
        self.editor.press(world, plane, HANDLE_PICK_PX * pane.mm_per_screen_pixel())
        if self.editor.selected_id is not None:
            self.on_selection(self.editor.selected_id)
        self.redraw_all()

    def move(self, pane: SlicePane, world: np.ndarray) -> None:
        self.editor.move(world)
        for p in self.panes:
            self.draw(p)

    def release(self, pane: SlicePane, world: np.ndarray) -> None:
        try:
            saved = self.editor.release(world)  # the store event redraws every pane
        except (StoreError, ValueError) as exc:  # read-only project, invalid mark: tell, keep going
            self.editor.cancel()
            self.redraw_all()
            self.on_error(str(exc))
            return
        if saved is not None:
            self.select(saved.id)
        else:
            self.redraw_all()

    def click(self, pane: SlicePane, world: np.ndarray) -> bool:
        """A click on an end point selects that lesion; elsewhere the crosshair moves as usual."""
        plane = pane_plane(pane)
        if plane is None:
            return False
        hit = self.editor.hit_test(world, plane, HANDLE_PICK_PX * pane.mm_per_screen_pixel())
        if hit is None:
            return False
        self.select(hit.lesion_id)
        return True
