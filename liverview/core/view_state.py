"""The one shared model of what every pane looks at: focus point (LPS mm), zoom, pan, window/level.

Panes never talk to each other. A pane reports a user action here (``origin='interactive'``);
the state applies it to every pane whose link for that property is on, then announces one
``ViewChange``. Panes redraw from the state and never write back while redrawing, so linked
views cannot echo updates back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from liverview.core.slicing import Orientation, display_frame


@dataclass
class Links:
    """Which properties follow across panes. Each can be switched off on its own."""

    slice: bool = True
    crosshair: bool = True
    zoom: bool = True
    pan: bool = True
    window: bool = True


@dataclass
class PaneView:
    """What one pane shows. ``center_uv`` is the view centre in the pane's display frame (mm)."""

    focus: np.ndarray
    orientation: Orientation = Orientation.AXIAL
    zoom: float = 1.0  # screen pixels per mm
    center_uv: tuple[float, float] = (0.0, 0.0)
    window_center: float = 40.0
    window_width: float = 400.0


@dataclass(frozen=True)
class ViewChange:
    panes: frozenset[str]
    fields: frozenset[str]  # subset of {"focus", "zoom", "pan", "window", "orientation", "cursor"}
    origin: str  # "interactive" or "programmatic"
    source: str | None = None  # pane that caused it, if any


Listener = Callable[[ViewChange], None]


@dataclass(frozen=True)
class WindowPreset:
    name: str
    center: float
    width: float


WINDOW_PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("Liver", 60.0, 160.0),
    WindowPreset("Abdomen", 40.0, 400.0),
    WindowPreset("Bone", 400.0, 1800.0),
    # Ma et al. read liver lesions in a narrow window before converting to 8 bits.
    WindowPreset("Liver narrow (paper)", 70.0, 100.0),
    WindowPreset("Lung", -600.0, 1500.0),
)

MIN_WINDOW_WIDTH = 1.0
MIN_ZOOM, MAX_ZOOM = 0.05, 80.0


@dataclass
class ViewState:
    panes: dict[str, PaneView] = field(default_factory=dict)
    links: Links = field(default_factory=Links)
    cursor: np.ndarray | None = None  # LPS point under the mouse, shown by every pane
    _listeners: list[Listener] = field(default_factory=list, repr=False)

    # --- subscription ---------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, panes: set[str], fields: set[str], origin: str, source: str | None) -> None:
        if not panes:
            return
        change = ViewChange(frozenset(panes), frozenset(fields), origin, source)
        for listener in list(self._listeners):
            listener(change)

    # --- panes ----------------------------------------------------------------------------
    def add_pane(self, pane_id: str, view: PaneView) -> None:
        self.panes[pane_id] = view
        self._emit({pane_id}, {"focus", "zoom", "pan", "window", "orientation"}, "programmatic", None)

    def remove_pane(self, pane_id: str) -> None:
        self.panes.pop(pane_id, None)

    def _targets(self, source: str, linked: bool) -> list[str]:
        if source not in self.panes:
            raise KeyError(f"no pane '{source}'")
        return list(self.panes) if linked else [source]

    # --- focus (slice + crosshair) ------------------------------------------------------------
    def set_focus(self, source: str, point: np.ndarray, origin: str = "interactive") -> None:
        """Move the source pane's focus; other panes follow along the linked directions.

        The slice link carries the movement along the source pane's normal, the crosshair link
        the movement within its plane; with both on, every pane gets the same point.
        """
        point = np.asarray(point, float).reshape(3)
        if not np.all(np.isfinite(point)):
            return
        _, _, n = display_frame(self.panes[source].orientation)
        changed: set[str] = set()
        for pid, view in self.panes.items():
            if pid == source:
                new = point.copy()
            else:
                delta = point - view.focus
                along = (delta @ n) * n
                new = view.focus.copy()
                if self.links.slice:
                    new = new + along
                if self.links.crosshair:
                    new = new + (delta - along)
            if not np.allclose(new, view.focus, atol=1e-9):
                view.focus = new
                changed.add(pid)
        self._emit(changed, {"focus"}, origin, source)

    def step_slice(self, source: str, mm: float, origin: str = "interactive") -> None:
        """Move the source pane's focus ``mm`` along its viewing normal."""
        _, _, n = display_frame(self.panes[source].orientation)
        self.set_focus(source, self.panes[source].focus + mm * n, origin)

    def centre_on(self, point: np.ndarray, origin: str = "programmatic") -> None:
        """Bring every pane to ``point``, links or not: its slice and crosshair there, and the point in the
        middle of its view, so a zoomed-in pane cannot miss it (going to a lesion, a proposal)."""
        point = np.asarray(point, float).reshape(3)
        if not np.all(np.isfinite(point)):
            return
        moved, panned = set(), set()
        for pid, view in self.panes.items():
            u, v, _ = display_frame(view.orientation)
            center_uv = (float(point @ u), float(point @ v))  # as SliceGeometry.scene_of_world
            if not np.allclose(point, view.focus, atol=1e-9):
                view.focus = point.copy()
                moved.add(pid)
            if view.center_uv != center_uv:
                view.center_uv = center_uv
                panned.add(pid)
        self._emit(moved, {"focus"}, origin, None)
        self._emit(panned, {"pan"}, origin, None)

    # --- zoom / pan ------------------------------------------------------------------------
    def set_zoom(self, source: str, zoom: float, origin: str = "interactive") -> None:
        zoom = float(np.clip(zoom, MIN_ZOOM, MAX_ZOOM))
        changed = set()
        for pid in self._targets(source, self.links.zoom):
            if self.panes[pid].zoom != zoom:
                self.panes[pid].zoom = zoom
                changed.add(pid)
        self._emit(changed, {"zoom"}, origin, source)

    def set_center(self, source: str, center_uv: tuple[float, float], origin: str = "interactive") -> None:
        """Pan. Only panes with the source's orientation share a centre: (u, v) means the same there."""
        center_uv = (float(center_uv[0]), float(center_uv[1]))
        orient = self.panes[source].orientation
        changed = set()
        for pid in self._targets(source, self.links.pan):
            view = self.panes[pid]
            if view.orientation is orient and view.center_uv != center_uv:
                view.center_uv = center_uv
                changed.add(pid)
        self._emit(changed, {"pan"}, origin, source)

    # --- window / level ----------------------------------------------------------------------
    def set_window(self, source: str, center: float, width: float, origin: str = "interactive") -> None:
        width = max(float(width), MIN_WINDOW_WIDTH)
        changed = set()
        for pid in self._targets(source, self.links.window):
            view = self.panes[pid]
            if (view.window_center, view.window_width) != (center, width):
                view.window_center, view.window_width = float(center), width
                changed.add(pid)
        self._emit(changed, {"window"}, origin, source)

    def apply_preset(self, source: str, preset: WindowPreset) -> None:
        self.set_window(source, preset.center, preset.width)

    # --- cursor (hover) ----------------------------------------------------------------------
    def set_cursor(self, source: str | None, point: np.ndarray | None) -> None:
        """The physical point under the mouse; every pane reports its own value there."""
        if point is not None:
            point = np.asarray(point, float).reshape(3)
            if not np.all(np.isfinite(point)):
                point = None
        if point is None and self.cursor is None:
            return
        self.cursor = point
        self._emit(set(self.panes), {"cursor"}, "interactive", source)

    # --- orientation -----------------------------------------------------------------------
    def set_orientation(self, pane_id: str, orientation: Orientation, origin: str = "interactive") -> None:
        view = self.panes[pane_id]
        orientation = Orientation(orientation)
        if view.orientation is not orientation:
            view.orientation = orientation
            u, v, _ = display_frame(orientation)
            view.center_uv = (float(view.focus @ u), float(view.focus @ v))
            self._emit({pane_id}, {"orientation", "focus", "pan"}, origin, pane_id)
