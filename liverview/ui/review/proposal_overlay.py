"""Proposal boxes drawn in every pane: each box's cross-section with the plane the pane shows.

The current proposal is drawn bright with its score; the others dim, coloured by review status. The
auto-proposed RECIST of the current proposal is drawn dashed on its key plane, until the reviewer
makes it a lesion (then the RECIST tool draws it).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from liverview.measure.recist import RecistMeasurement
from liverview.review.box_section import box_section, boxes_cut_by_plane
from liverview.review.scene_items import CURRENT_COLOR, STATUS_COLORS  # the same colours in the 3D view
from liverview.store.records import ProposalRecord
from liverview.ui.panes.overlay_items import set_curve, set_text
from liverview.ui.panes.slice_pane import SlicePane
from liverview.ui.tools.recist_tool import pane_plane


class _PaneItems:
    def __init__(self, pane: SlicePane) -> None:
        self.current = pg.PlotCurveItem(connect="finite", pen=pg.mkPen(CURRENT_COLOR, width=2))
        self.recist = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen((0, 255, 160), width=2,
                                                                      style=QtCore.Qt.PenStyle.DashLine))
        self.label = pg.TextItem(color=CURRENT_COLOR, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150))
        self.status_items: dict[str, pg.PlotCurveItem] = {}
        for item in (self.current, self.recist, self.label):
            pane.viewbox.addItem(item, ignoreBounds=True)
        self.pane = pane

    def status_item(self, status: str) -> pg.PlotCurveItem:
        item = self.status_items.get(status)
        if item is None:
            color = STATUS_COLORS.get(status, (255, 140, 0))
            item = pg.PlotCurveItem(connect="finite", pen=pg.mkPen((*color, 190), width=1))
            self.pane.viewbox.addItem(item, ignoreBounds=True)
            self.status_items[status] = item
        return item

    def remove(self) -> None:
        for item in (self.current, self.recist, self.label, *self.status_items.values()):
            self.pane.viewbox.removeItem(item)


def _polyline_xy(pane: SlicePane, polygons: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Closed polygons as one (x, y) run separated by NaN (drawn with connect='finite')."""
    if not polygons:
        return np.zeros(0), np.zeros(0)
    g = pane.geometry
    chunks = []
    for poly in polygons:
        closed = np.vstack([poly, poly[:1]])
        chunks.append(np.column_stack([closed @ g.u, closed @ g.v]))
        chunks.append(np.full((1, 2), np.nan))
    xy = np.vstack(chunks)
    return xy[:, 0], xy[:, 1]


class ProposalOverlay:
    """Draws the proposals in every pane; ``set_proposals`` / ``set_current`` redraw."""

    def __init__(self, panes: list[SlicePane]) -> None:
        self.panes = list(panes)
        self.proposals: list[ProposalRecord] = []
        self.current_id: int | None = None
        self.recist: RecistMeasurement | None = None
        self.visible = True
        self._mins = np.zeros((0, 3))
        self._maxs = np.zeros((0, 3))
        self._items: dict[str, _PaneItems] = {}
        self._version = 0
        self._drawn: dict[str, tuple] = {}
        for pane in self.panes:
            self._items[pane.pane_id] = _PaneItems(pane)
            pane.overlays.append(self.draw)

    def close(self) -> None:
        for pane in self.panes:
            if self.draw in pane.overlays:
                pane.overlays.remove(self.draw)
            items = self._items.get(pane.pane_id)
            if items is not None:
                items.remove()
        self._items.clear()

    _KEEP = object()

    def set_state(self, proposals: list[ProposalRecord] | None = None, current_id=_KEEP, recist=_KEEP,
                  redraw: bool = True) -> None:
        """Change what is drawn (arguments left out stay); one redraw of each pane at most."""
        if proposals is not None:
            key = [(p.id, p.status) for p in proposals]
            if key != [(p.id, p.status) for p in self.proposals]:
                self.proposals = list(proposals)
                self._mins = np.array([p.box.min_mm for p in self.proposals], float).reshape(-1, 3)
                self._maxs = np.array([p.box.max_mm for p in self.proposals], float).reshape(-1, 3)
                self._version += 1
        if current_id is not ProposalOverlay._KEEP and current_id != self.current_id:
            self.current_id = current_id
            self._version += 1
        if recist is not ProposalOverlay._KEEP and recist is not self.recist:
            self.recist = recist
            self._version += 1
        if redraw:
            self.redraw_all()

    def set_proposals(self, proposals: list[ProposalRecord], current_id: int | None) -> None:
        self.set_state(proposals, current_id)

    def set_current(self, current_id: int | None, recist: RecistMeasurement | None = None) -> None:
        self.set_state(None, current_id, recist)

    def set_recist(self, recist: RecistMeasurement | None) -> None:
        self.set_state(None, recist=recist)

    def set_visible(self, on: bool) -> None:
        self.visible = on
        self._version += 1
        self.redraw_all()

    def redraw_all(self) -> None:
        for pane in self.panes:
            self.draw(pane)

    def draw(self, pane: SlicePane) -> None:
        items = self._items.get(pane.pane_id)
        if items is None:
            return
        # Nothing to draw on any plane (no proposals, no RECIST, hidden): the plane does not matter.
        anything = self.visible and (bool(self.proposals) or self.recist is not None)
        plane = pane_plane(pane) if anything else None
        # A pane redraws its overlays on every slice change and the controller asks again after
        # changing state: draw once per (state, plane).
        key = (self._version, None if plane is None else (round(float(plane.point @ plane.normal), 6),
                                                          tuple(np.round(plane.normal, 9)), pane.geometry.u.tobytes()))
        if self._drawn.get(pane.pane_id) == key:
            return
        self._drawn[pane.pane_id] = key
        by_status: dict[str, list[np.ndarray]] = {}
        current: list[np.ndarray] = []
        label_at = None
        current_proposal = None
        if plane is not None and self.proposals:
            hit = np.flatnonzero(boxes_cut_by_plane(self._mins, self._maxs, plane.point, plane.normal))
            for n in hit:
                p = self.proposals[n]
                poly = box_section(self._mins[n], self._maxs[n], plane.point, plane.normal)
                if len(poly) < 3:
                    continue
                if p.id == self.current_id:
                    current.append(poly)
                    current_proposal = p
                    corner = poly[np.argmin(poly @ pane.geometry.u + poly @ pane.geometry.v)]
                    label_at = pane.geometry.scene_of_world(corner)
                else:
                    by_status.setdefault(p.status, []).append(poly)
        # Items change only when what they show does; empty ones are hidden (not painted).
        for status in set(by_status) | set(items.status_items):
            set_curve(items.status_item(status), *_polyline_xy(pane, by_status.get(status, [])))
        set_curve(items.current, *_polyline_xy(pane, current))
        if label_at is not None and current_proposal is not None:
            set_text(items.label, f"{current_proposal.score:.2f} {current_proposal.lesion_class}", label_at)
        else:
            items.label.hide()
        m = self.recist
        if m is not None and plane is not None and self.visible and all(
                plane.contains(np.asarray(q)) for q in m.long_axis):
            pts = list(m.long_axis) + (list(m.short_axis) if m.short_axis else [])
            uv = np.array([pane.geometry.scene_of_world(np.asarray(q)) for q in pts])
            set_curve(items.recist, uv[:, 0], uv[:, 1])
        else:
            set_curve(items.recist, [], [])
