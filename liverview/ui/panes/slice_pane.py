"""One 2D pane: shows one phase cut through the shared focus point, in mm, with its own overlays.

The pane only *reads* the ViewState to draw and *reports* user actions to it; it never writes
while redrawing, so linked panes cannot echo.

Mouse: wheel = slice, Ctrl+wheel = zoom about the point under the mouse, left click = move crosshair,
left drag = window/level,
middle drag or Shift+left drag = pan, right drag = zoom. Keys: Up/Down (or Left/Right) = one
slice, PgUp/PgDn = five slices, Home/End = first/last slice, R = reset view. Wheel-forward and the "on" keys
move toward the head (axial), the back (coronal), the patient's left (sagittal) in every pane, however its
series stores its slices; the label keeps the stored slice number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.core.orientation_letters import edge_letters
from liverview.core.slicing import Orientation, SliceGeometry, extract_slice, missing_in_cut, slice_geometry
from liverview.core.view_state import ViewChange, ViewState
from liverview.core.volume import Volume
from liverview.ui.panes.edge_letters import EdgeLetterLabels
from liverview.ui.panes.wheel_steps import WheelSteps, notches
from liverview.ui.panes.windowing import GreyMapper, hatch

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

_Key = QtCore.Qt.Key


@dataclass(frozen=True)
class PaneKey:
    """One key of a pane: what it does (for Help > Keyboard shortcuts) and the code it runs; the pane's key
    handler reads this table, so the help cannot drift from what the keys do."""

    keys: tuple[QtCore.Qt.Key, ...]
    what: str
    run: Callable[["SlicePane"], None]


PANE_KEYS: tuple[PaneKey, ...] = (
    PaneKey((_Key.Key_Up, _Key.Key_Right), "next slice", lambda p: p.step_slices(1)),
    PaneKey((_Key.Key_Down, _Key.Key_Left), "previous slice", lambda p: p.step_slices(-1)),
    PaneKey((_Key.Key_PageUp,), "five slices on", lambda p: p.step_slices(5)),
    PaneKey((_Key.Key_PageDown,), "five slices back", lambda p: p.step_slices(-5)),
    PaneKey((_Key.Key_Home,), "first slice", lambda p: p.go_to_end(last=False)),
    PaneKey((_Key.Key_End,), "last slice", lambda p: p.go_to_end(last=True)),
    PaneKey((_Key.Key_R,), "reset the view (zoom and pan to fit)", lambda p: p.reset_view()),
)
_PANE_KEY_OF = {int(key.value): binding for binding in PANE_KEYS for key in binding.keys}


class _PaneViewBox(pg.ViewBox):
    """A ViewBox whose mouse input goes to the pane (pyqtgraph's own pan/zoom is off)."""

    def __init__(self, pane: "SlicePane") -> None:
        super().__init__(enableMenu=False, invertY=True, lockAspect=False)
        self.setMouseEnabled(False, False)
        self._pane = pane

    def wheelEvent(self, ev, axis=None):  # noqa: N802 (Qt naming)
        self._pane.handle_wheel(ev.delta(), ev.modifiers(), self.mapToView(ev.pos()))
        ev.accept()

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self._pane.handle_click(self.mapToView(ev.pos()))
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        self._pane.handle_drag(ev)
        ev.accept()


class _PaneGraphicsView(pg.GraphicsView):
    def __init__(self, pane: "SlicePane") -> None:
        self._pane: "SlicePane | None" = None  # pyqtgraph resizes during its __init__
        super().__init__()
        self._pane = pane
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        # Repaint the whole viewport: with minimal updates, a dragged mark, its handles and its label
        # left dark stripes behind until the slice changed. One image and a few lines: cheap.
        self.setViewportUpdateMode(QtWidgets.QGraphicsView.ViewportUpdateMode.FullViewportUpdate)

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802
        if not self._pane.handle_key(ev):
            super().keyPressEvent(ev)

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        if self._pane is not None and hasattr(self._pane, "viewbox"):
            self._pane.apply_view_range()
        if self._pane is not None and hasattr(self._pane, "corner_br"):
            self._pane._place_corners()  # labels are no longer re-placed on every redraw

    def focusInEvent(self, ev) -> None:  # noqa: N802
        super().focusInEvent(ev)
        self._pane.activated(self._pane.pane_id)

    def leaveEvent(self, ev) -> None:  # noqa: N802
        super().leaveEvent(ev)
        if self._pane is not None:
            self._pane.hover_uv = None


class SlicePane(QtWidgets.QFrame):
    """Draws one volume at the state's focus point; reports user actions to the ViewState."""

    def __init__(self, pane_id: str, state: ViewState, volume: Volume, title: str, parent=None) -> None:
        super().__init__(parent)
        self.pane_id = pane_id
        self.state = state
        self.title = title
        self.volume = volume
        self.status_text = ""  # e.g. "registered" / "registering 40 %"
        self.activated: Callable[[str], None] = lambda pane_id: None
        self._grey = GreyMapper()
        self._geom: SliceGeometry = slice_geometry(volume, state.panes[pane_id].orientation)
        self._shown_slice: int | None = None
        self._missing_in_cut = 0  # missing slices in the cut shown: -1 all of it, else how many rows or columns
        self._drag_start: tuple[float, float, float, float] | None = None
        self.phase_name = ""  # contrast phase shown, for annotations made here
        self.tool = None  # an annotation tool taking left-button input (see liverview.ui.tools)
        self._tool_drag = False
        self.overlays: list[Callable[["SlicePane"], None]] = []  # redrawn when the slice changes
        self._normal: tuple[SliceGeometry, np.ndarray] | None = None  # plane_normal() of a geometry
        self.hover_uv: tuple[float, float] | None = None  # scene point under the mouse, while it is here
        self._wheel = WheelSteps()  # angleDelta not yet worth a whole slice (high-resolution wheels, touchpads)

        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.view = _PaneGraphicsView(self)
        self.view.setBackground("k")
        self.viewbox = _PaneViewBox(self)
        self.view.setCentralItem(self.viewbox)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.viewbox.addItem(self.image)
        pen = pg.mkPen((255, 200, 0, 150), width=1)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        self.viewbox.addItem(self.vline, ignoreBounds=True)
        self.viewbox.addItem(self.hline, ignoreBounds=True)
        self.view.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self.corner_tl = self._corner_label()
        self.corner_tr = self._corner_label(QtCore.Qt.AlignmentFlag.AlignRight)
        self.corner_bl = self._corner_label()
        self.corner_br = self._corner_label(QtCore.Qt.AlignmentFlag.AlignRight)
        self.edge_letters = EdgeLetterLabels(self.view, (self.corner_tl, self.corner_tr, self.corner_bl, self.corner_br))  # R/L/A/P/S/I at the edges, from the cut's plane
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.addWidget(self.view)
        self._unsubscribe = state.subscribe(self.on_view_change)
        self.redraw_all()

    # --- construction helpers ---------------------------------------------------------------
    def _corner_label(self, align=QtCore.Qt.AlignmentFlag.AlignLeft) -> QtWidgets.QLabel:
        label = QtWidgets.QLabel(self.view)
        # Light text on a dark translucent backing: readable over bright liver as over air.
        label.setStyleSheet("color: #f2f2f2; background: rgba(0, 0, 0, 150); border-radius: 2px; "
                            "padding: 1px 3px; font: 11px monospace;")
        label.setAlignment(align)
        label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        return label

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._place_corners()

    def _place_corners(self, changed: list[QtWidgets.QLabel] | None = None) -> None:
        """Size the labels whose text changed (all by default) and pin the four to the corners."""
        w, h = self.view.width(), self.view.height()
        corners = (self.corner_tl, self.corner_tr, self.corner_bl, self.corner_br)
        for label in corners if changed is None else changed:
            label.adjustSize()
        self.corner_tl.move(4, 2)
        self.corner_tr.move(max(w - self.corner_tr.width() - 4, 0), 2)
        self.corner_bl.move(4, max(h - self.corner_bl.height() - 2, 0))
        self.corner_br.move(max(w - self.corner_br.width() - 4, 0), max(h - self.corner_br.height() - 2, 0))
        if hasattr(self, "edge_letters"):
            self.edge_letters.place()

    def close_pane(self) -> None:
        self._unsubscribe()

    # --- what is shown ----------------------------------------------------------------------
    @property
    def pane_view(self):
        return self.state.panes[self.pane_id]

    @property
    def geometry(self) -> SliceGeometry:
        return self._geom

    @property
    def shown_slice(self) -> int | None:
        """Index of the cut on screen, or None when the focus lies outside this volume."""
        return self._shown_slice

    @property
    def on_missing_slice(self) -> bool:
        """True when the cut shown is a slice missing from the series (hatched, no data)."""
        return self._missing_in_cut == -1

    def set_volume(self, volume: Volume, status_text: str | None = None) -> None:
        """Swap the volume shown (e.g. the registered copy of the same phase)."""
        self.volume = volume
        if status_text is not None:
            self.status_text = status_text
        self._geom = slice_geometry(volume, self.pane_view.orientation)
        self._shown_slice = None
        self.redraw_all()

    def set_status_text(self, text: str) -> None:
        self.status_text = text
        self._update_labels()

    def on_view_change(self, change: ViewChange) -> None:
        if self.pane_id not in change.panes:
            return
        if "orientation" in change.fields:
            self._geom = slice_geometry(self.volume, self.pane_view.orientation)
            self._shown_slice = None
            self.edge_letters.show(edge_letters(self._geom))
        if change.fields & {"focus", "window", "orientation"}:
            self._draw_image(force="window" in change.fields or "orientation" in change.fields)
            self._draw_crosshair()
        if change.fields & {"zoom", "pan", "orientation"}:
            self.apply_view_range()
        if self.hover_uv is not None and change.fields & {"focus", "zoom", "pan", "orientation"}:
            # The mouse has not moved but what lies under it has (a wheel step, a key, a zoom): the
            # readout follows at once.
            self.state.set_cursor(self.pane_id, self.world_at_scene(*self.hover_uv))
        self._update_labels()

    def redraw_all(self) -> None:
        self.edge_letters.show(edge_letters(self._geom))
        self._draw_image(force=True)
        self._draw_crosshair()
        self.apply_view_range()
        self._update_labels()

    def _draw_image(self, force: bool = False) -> None:
        view = self.pane_view
        s = self._geom.nearest_slice(view.focus)
        if s is None:
            self._shown_slice = None
            self.image.clear()
            self.redraw_overlays()
            return
        if s == self._shown_slice and not force:
            return
        self._shown_slice = s
        grey = self._grey(extract_slice(self.volume, self._geom, s), view.window_center, view.window_width)
        missing = missing_in_cut(self.volume, self._geom, s)
        if missing is None:
            self._missing_in_cut = 0
        else:  # a cut across k is missing as a whole; a reformat along k crosses every missing slice
            self._missing_in_cut = -1 if self._geom.slice_axis == 2 else len(self.volume.missing_slices)
            grey = hatch(grey, missing)  # filled voxels: never shown as data
        # Already windowed to 0..255: no levels keeps pyqtgraph on its pass-through path (a Grayscale8
        # QImage as is). levels=(0, 255) gave the same pixels through a 256-entry colour table (Indexed8)
        # built in Python on every render, and an Indexed8 image is slower to draw.
        self.image.setImage(grey, autoLevels=False)
        a = self._geom.pixel_to_scene(s)
        # ImageItem puts pixel (c, r)'s centre at (c + 0.5, r + 0.5): shift by half a pixel.
        dx = a[0, 2] - 0.5 * (a[0, 0] + a[0, 1])
        dy = a[1, 2] - 0.5 * (a[1, 0] + a[1, 1])
        self.image.setTransform(QtGui.QTransform(a[0, 0], a[1, 0], a[0, 1], a[1, 1], dx, dy))
        self.redraw_overlays()

    def redraw_overlays(self) -> None:
        for overlay in self.overlays:
            overlay(self)

    def plane_normal(self) -> np.ndarray:
        """Unit normal of the cut actually shown (exact for oblique volumes)."""
        g = self._geom
        if self._normal is not None and self._normal[0] is g:
            return self._normal[1]  # the same for every slice of a geometry; asked on every step
        o = g.world(g.pixel_to_index(0.0, 0.0, 0.0))
        n = np.cross(g.world(g.pixel_to_index(1.0, 0.0, 0.0)) - o, g.world(g.pixel_to_index(0.0, 1.0, 0.0)) - o)
        n = n / np.linalg.norm(n)
        n = n if n @ g.n >= 0 else -n
        n.flags.writeable = False
        self._normal = (g, n)
        return n

    def mm_per_screen_pixel(self) -> float:
        return 1.0 / max(self.pane_view.zoom, 1e-6)

    def _draw_crosshair(self) -> None:
        u, v = self._geom.scene_of_world(self.pane_view.focus)
        self.vline.setPos(u)
        self.hline.setPos(v)

    def apply_view_range(self) -> None:
        view = self.pane_view
        w = max(self.viewbox.width(), 1.0)
        h = max(self.viewbox.height(), 1.0)
        cu, cv = view.center_uv
        half_w, half_h = w / view.zoom / 2.0, h / view.zoom / 2.0
        self.viewbox.setRange(xRange=(cu - half_w, cu + half_w), yRange=(cv - half_h, cv + half_h), padding=0)

    def _update_labels(self) -> None:
        view = self.pane_view
        focus = view.focus
        if self._shown_slice is None:
            where = "outside this phase"
        else:
            where = f"slice {self._shown_slice + 1}/{self._geom.slice_count}"
            if self._missing_in_cut == -1:
                where += "  MISSING: not in the series (hatched)"
            elif self._missing_in_cut:
                where += f"  hatched: {self._missing_in_cut} missing slice(s)"
        pos = float(focus @ self._geom.n)
        texts = {
            self.corner_tl: f"{self.title}\n{view.orientation.value}  {self.status_text}".rstrip(),
            self.corner_bl: f"{where}\n{'xyz'[int(np.argmax(np.abs(self._geom.n)))]} = {pos:.1f} mm",
            self.corner_br: f"W {view.window_width:.0f}  L {view.window_center:.0f}\nzoom {view.zoom:.2f} px/mm",
            self.corner_tr: self.cursor_text(),
        }
        # A slice step changes one label: lay out (adjustSize) only the ones whose text changed.
        changed = [label for label, text in texts.items() if label.text() != text]
        for label in changed:
            label.setText(texts[label])
            label.setVisible(bool(texts[label]))
        if changed:
            self._place_corners(changed)

    def cursor_text(self) -> str:
        """HU and LPS mm of this phase at the shared cursor point."""
        p = self.state.cursor
        if p is None:
            return ""
        value = self.volume.value_at_world(p)
        if value is not None:
            hu = f"{value:.0f} HU"
        else:  # None inside the volume: a missing slice
            hu = "no data (missing slice)" if self.volume.contains_index(self.volume.world_to_index(p)) else "outside"
        return f"{hu}\n({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm"

    # --- geometry of the screen -------------------------------------------------------------
    def world_at_scene(self, u: float, v: float) -> np.ndarray:
        """The physical point under a scene position, on the plane of the slice shown."""
        s = self._shown_slice
        if s is None:
            s_cont = self._geom.slice_of_world(self.pane_view.focus)
            return self._geom.scene_to_world((u, v), s_cont)
        return self._geom.scene_to_world((u, v), s)

    def fit_zoom(self) -> float:
        """Pixels per mm that fit this volume's cut in the pane."""
        lo, hi = self.volume.world_bounds()
        extent_u = float(abs((hi - lo) @ np.abs(self._geom.u))) + 1.0
        extent_v = float(abs((hi - lo) @ np.abs(self._geom.v))) + 1.0
        w = max(self.viewbox.width(), 50.0)
        h = max(self.viewbox.height(), 50.0)
        return 0.95 * min(w / extent_u, h / extent_v)

    # --- user actions -> ViewState ------------------------------------------------------------
    def step_slices(self, count: int) -> None:
        """Move the focus by whole slices of this volume, ``count`` > 0 along this pane's viewing normal (toward
        the head, the back, the patient's left), whatever order the volume stores its slices in: linked panes
        of phases stored differently then move the same way for the same key."""
        self._move_index(count * self._geom.index_sign_along_n())

    def go_to_slice(self, index: int) -> None:
        """Show the stored slice ``index``."""
        self._move_index(index - int(np.rint(self._geom.slice_of_world(self.pane_view.focus))))

    def go_to_end(self, last: bool) -> None:
        """First (last) slice in patient order: the end of the volume furthest against (along) the normal."""
        self.go_to_slice(self._geom.end_slice(toward_n=last))

    def _move_index(self, count: int) -> None:
        """Move the focus by ``count`` stored slice indices (clipped to the volume), along the normal."""
        g = self._geom
        m_inv = np.linalg.inv(g.index_to_world)
        rate = float((m_inv[:3, :3] @ g.n)[g.slice_axis])  # slice index change per mm along n
        current = g.slice_of_world(self.pane_view.focus)
        target = float(np.clip(np.rint(current) + count, 0, g.slice_count - 1))
        if abs(rate) < 1e-12:
            return
        self.state.set_focus(self.pane_id, self.pane_view.focus + (target - current) / rate * g.n)

    def reset_view(self) -> None:
        center = self.volume.center_world()
        self.state.set_zoom(self.pane_id, self.fit_zoom())
        self.state.set_center(self.pane_id, self._geom.scene_of_world(center))

    def handle_wheel(self, delta: int, modifiers, at: QtCore.QPointF | None = None) -> None:
        """Wheel: a slice per notch (120 of angleDelta, summed over the small events of high-resolution wheels
        and touchpads); with Ctrl, zoom x1.15 per notch, smoothly by fractions of one, keeping the scene point
        ``at`` (under the mouse) in place."""
        if modifiers & QtCore.Qt.KeyboardModifier.ControlModifier:
            self._wheel.reset()
            old = self.pane_view.zoom
            self.state.set_zoom(self.pane_id, old * (1.15 ** notches(delta)))
            new = self.pane_view.zoom
            if at is not None and new != old:
                cu, cv = self.pane_view.center_uv
                k = old / new
                self.state.set_center(self.pane_id, (at.x() + (cu - at.x()) * k, at.y() + (cv - at.y()) * k))
        else:
            steps = self._wheel.add(delta)
            if steps:
                self.step_slices(steps)

    def handle_click(self, scene_pos: QtCore.QPointF) -> None:
        self.activated(self.pane_id)
        world = self.world_at_scene(scene_pos.x(), scene_pos.y())
        if self.tool is not None and not self.on_missing_slice and self.tool.click(self, world):
            return
        self.state.set_focus(self.pane_id, self.world_at_scene(scene_pos.x(), scene_pos.y()))

    def handle_drag(self, ev) -> None:
        view = self.pane_view
        button = ev.button()
        mods = ev.modifiers()
        left = button == QtCore.Qt.MouseButton.LeftButton
        shift = bool(mods & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if left and not shift and self.tool is not None and self.on_missing_slice:
            return  # nothing is drawn on a slice that was never acquired (the corner label says so)
        if ev.isStart() and left and not shift and self.tool is not None and self._shown_slice is not None:
            self._tool_drag = True
            down = self.viewbox.mapToView(ev.buttonDownPos())
            self.tool.press(self, self.world_at_scene(down.x(), down.y()))
        if self._tool_drag:
            here = self.viewbox.mapToView(ev.pos())
            world = self.world_at_scene(here.x(), here.y())
            if ev.isFinish():
                self._tool_drag = False
                self.tool.release(self, world)
            else:
                self.tool.move(self, world)
            return
        if ev.isStart():
            self._drag_start = (view.window_center, view.window_width, view.zoom, 0.0)
            self._drag_center = view.center_uv
            self.activated(self.pane_id)
        if self._drag_start is None:
            return
        dx = ev.pos().x() - ev.buttonDownPos().x()
        dy = ev.pos().y() - ev.buttonDownPos().y()
        pan = button == QtCore.Qt.MouseButton.MiddleButton or (
            button == QtCore.Qt.MouseButton.LeftButton and mods & QtCore.Qt.KeyboardModifier.ShiftModifier
        )
        if pan:
            cu, cv = self._drag_center
            self.state.set_center(self.pane_id, (cu - dx / view.zoom, cv - dy / view.zoom))
        elif button == QtCore.Qt.MouseButton.RightButton:
            self.state.set_zoom(self.pane_id, self._drag_start[2] * float(np.exp(-dy / 200.0)))
        elif button == QtCore.Qt.MouseButton.LeftButton:
            center0, width0 = self._drag_start[0], self._drag_start[1]
            self.state.set_window(self.pane_id, center0 + dy * 1.0, max(width0 + dx * 2.0, 1.0))
        if ev.isFinish():
            self._drag_start = None

    def handle_key(self, ev: QtGui.QKeyEvent) -> bool:
        binding = _PANE_KEY_OF.get(int(ev.key()))
        if binding is None:
            return False
        binding.run(self)
        return True

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if not self.viewbox.sceneBoundingRect().contains(scene_pos):
            self.hover_uv = None
            return
        p = self.viewbox.mapSceneToView(scene_pos)
        self.hover_uv = (p.x(), p.y())
        self.state.set_cursor(self.pane_id, self.world_at_scene(p.x(), p.y()))

    def set_orientation(self, orientation: Orientation) -> None:
        self.state.set_orientation(self.pane_id, orientation)
