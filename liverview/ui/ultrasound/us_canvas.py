"""The image view of the ultrasound workspace: the frame, the mask overlay, click markers and the box
being dragged, in image pixel coordinates (pixel (column c, row r) is centred at scene point (c, r)).

Mouse: left click = foreground click, right click = background click, left drag = box, wheel = zoom,
middle drag = pan. The canvas only reports what the user did; the workspace decides what it means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.us.clicks import Click

FILL_RGBA = (255, 150, 0, 85)  # semi-transparent orange inside the mask
CONTOUR_RGBA = (255, 230, 40, 255)  # opaque yellow edge
FG_COLOUR = (40, 220, 60)
BG_COLOUR = (235, 45, 45)


@dataclass(frozen=True)
class MaskOverlay:
    """The drawn mask: RGBA pixels of the mask's bounding box only (cheaper to build and to paint than
    the whole image), and where that box starts in the image."""

    rgba: np.ndarray  # [h, w, 4] uint8
    x0: int
    y0: int

    def full_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask as drawn, on the whole image grid (for tests and checks)."""
        out = np.zeros(shape, bool)
        h, w = self.rgba.shape[:2]
        out[self.y0:self.y0 + h, self.x0:self.x0 + w] = self.rgba[..., 3] > 0
        return out


def mask_overlay(mask: np.ndarray) -> MaskOverlay | None:
    """A translucent fill with an opaque one-pixel contour; None for an empty mask."""
    m = np.asarray(mask, bool)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if len(rows) == 0:
        return None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = np.ascontiguousarray(m[y0:y1, x0:x1])
    inner = cv2.erode(crop.view(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0).astype(bool)
    rgba = np.zeros(crop.shape + (4,), np.uint8)
    rgba[crop] = FILL_RGBA
    rgba[crop & ~inner] = CONTOUR_RGBA
    return MaskOverlay(rgba, int(x0), int(y0))


class _Markers(pg.ScatterPlotItem):
    """Click markers that never take a click themselves (pyqtgraph offers clicks to items near the
    mouse first: a click beside an earlier marker would otherwise be lost)."""

    def mouseClickEvent(self, ev):  # noqa: N802
        ev.ignore()


class _CanvasViewBox(pg.ViewBox):
    def __init__(self, canvas: "UsCanvas") -> None:
        super().__init__(enableMenu=False, invertY=True, lockAspect=True)
        self._canvas = canvas

    def mouseClickEvent(self, ev):  # noqa: N802 (Qt naming)
        p = self.mapToView(ev.pos())
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self._canvas.clicked(p.x(), p.y(), True)
            ev.accept()
        elif ev.button() == QtCore.Qt.MouseButton.RightButton:
            self._canvas.clicked(p.x(), p.y(), False)
            ev.accept()
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            if ev.button() == QtCore.Qt.MouseButton.MiddleButton:
                super().mouseDragEvent(ev, axis)  # pyqtgraph's pan
            else:
                ev.ignore()
            return
        ev.accept()
        p = self.mapToView(ev.pos())
        if ev.isStart():
            start = self.mapToView(ev.buttonDownPos())
            self._canvas.box_started(start.x(), start.y())
            self._canvas.box_moved(p.x(), p.y())
        elif ev.isFinish():
            self._canvas.box_finished(p.x(), p.y())
        else:
            self._canvas.box_moved(p.x(), p.y())


class UsCanvas(pg.GraphicsLayoutWidget):
    """Shows one frame with overlays; reports clicks and box drags through the callables below."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("k")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.clicked: Callable[[float, float, bool], None] = lambda x, y, positive: None
        self.box_started: Callable[[float, float], None] = lambda x, y: None
        self.box_moved: Callable[[float, float], None] = lambda x, y: None
        self.box_finished: Callable[[float, float], None] = lambda x, y: None

        self.viewbox = _CanvasViewBox(self)
        self.addItem(self.viewbox)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        for item in (self.image, self.overlay):
            item.setPos(-0.5, -0.5)  # pixel centres on integer scene points, as clicks are given
        self.overlay.setZValue(10)
        self.viewbox.addItem(self.image)
        self.viewbox.addItem(self.overlay)
        self.markers = _Markers(size=11, pxMode=True)
        self.markers.setZValue(20)
        self.viewbox.addItem(self.markers)
        self.box_item = QtWidgets.QGraphicsRectItem()
        pen = QtGui.QPen(QtGui.QColor(90, 200, 255), 0)
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.box_item.setPen(pen)
        self.box_item.setZValue(30)
        self.box_item.hide()
        self.viewbox.addItem(self.box_item, ignoreBounds=True)
        self.axes_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((80, 220, 255), width=2))
        self.axes_item.setZValue(15)
        self.viewbox.addItem(self.axes_item, ignoreBounds=True)
        for item in (self.image, self.overlay, self.markers, self.axes_item, self.box_item):
            # every click goes to the view box: one near a marker or an axis is a click like any other
            item.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self._shape: tuple[int, int] | None = None
        self.shown_overlay: MaskOverlay | None = None

    # --- what is shown ---------------------------------------------------------------------------
    def set_frame(self, frame: np.ndarray, reset_view: bool = False) -> None:
        grey = np.clip(np.asarray(frame, np.float32), 0, 255).astype(np.uint8)
        self.image.setImage(grey, levels=(0, 255), autoLevels=False)
        if reset_view or self._shape != grey.shape:
            self._shape = grey.shape
            self.set_mask_overlay(None)
            h, w = grey.shape
            self.viewbox.setRange(xRange=(-0.5, w - 0.5), yRange=(-0.5, h - 0.5), padding=0.01)

    def set_mask_overlay(self, overlay: MaskOverlay | None) -> None:
        self.shown_overlay = overlay
        self.set_axes(())
        if overlay is None:
            self.overlay.clear()
        else:
            self.overlay.setImage(overlay.rgba, levels=(0, 255), autoLevels=False)
            self.overlay.setPos(overlay.x0 - 0.5, overlay.y0 - 0.5)

    def set_axes(self, segments: Sequence[tuple[tuple[float, float], tuple[float, float]]]) -> None:
        """RECIST long / short axes in image pixels (empty: none)."""
        if not segments:
            self.axes_item.setData([], [])
            return
        xs = [p[0] for seg in segments for p in seg]
        ys = [p[1] for seg in segments for p in seg]
        self.axes_item.setData(xs, ys)

    def set_clicks(self, clicks: Sequence[Click]) -> None:
        spots = [{"pos": (c.x, c.y), "brush": pg.mkBrush(*(FG_COLOUR if c.positive else BG_COLOUR)),
                  "pen": pg.mkPen("w", width=1.2), "symbol": "o" if c.positive else "s"}
                 for c in clicks]
        self.markers.setData(spots)

    def set_box(self, box: tuple[float, float, float, float] | None) -> None:
        if box is None:
            self.box_item.hide()
            return
        x0, y0, x1, y1 = box
        self.box_item.setRect(QtCore.QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
        self.box_item.show()

    def has_mask_overlay(self) -> bool:
        return self.shown_overlay is not None

    # --- mapping for tests and tools -------------------------------------------------------------
    def widget_pos_of(self, x: float, y: float) -> QtCore.QPoint:
        """Where image pixel (x, y) is on the widget (for simulated mouse input)."""
        scene = self.viewbox.mapViewToScene(QtCore.QPointF(x, y))
        return self.mapFromScene(scene)

    def image_pos_of(self, pos: QtCore.QPoint) -> tuple[float, float]:
        p = self.viewbox.mapSceneToView(self.mapToScene(pos))
        return p.x(), p.y()
