"""A 3D mask (the liver) outlined in every pane, on whatever phase, grid and orientation the pane shows.

The outline of each cut comes from ``liverview.measure.mask_outline`` (patient mm, no Qt); this only
keeps one line item per pane and redraws it when the pane's cut changes.
"""

from __future__ import annotations

import pyqtgraph as pg

from liverview.core.volume import Volume
from liverview.measure.mask_outline import OutlineSource, outline_on_cut, outline_source
from liverview.ui.panes.overlay_items import set_curve
from liverview.ui.panes.slice_pane import SlicePane

LIVER_COLOR = (110, 170, 255)  # light blue: apart from the proposal (orange/green/red/magenta/yellow) and RECIST (cyan) colours


class MaskOutlineOverlay:
    """Draws ``mask``'s outline in ``panes`` until ``close()``."""

    def __init__(self, panes: list[SlicePane], mask: Volume, color: tuple[int, int, int] = LIVER_COLOR) -> None:
        self.source: OutlineSource = outline_source(mask)
        self.panes = list(panes)
        self.items: dict[str, pg.PlotCurveItem] = {}
        self._drawn: dict[str, tuple] = {}
        pen = pg.mkPen((*color, 230), width=1.5)
        for pane in self.panes:
            item = pg.PlotCurveItem(connect="pairs", pen=pen)
            item.setZValue(5)  # above the image, under the proposal boxes and RECIST marks drawn later
            pane.viewbox.addItem(item, ignoreBounds=True)
            self.items[pane.pane_id] = item
            pane.overlays.append(self.draw)
            self.draw(pane)

    def draw(self, pane: SlicePane) -> None:
        item = self.items.get(pane.pane_id)
        if item is None:
            return
        s = pane.shown_slice
        # A pane redraws its overlays on every slice change and on forced redraws: compute once per cut.
        old = self._drawn.get(pane.pane_id)
        if old is not None and old[0] is pane.geometry and old[1] == s:
            return
        self._drawn[pane.pane_id] = (pane.geometry, s)
        if s is None or pane.on_missing_slice:  # a slice not in the series: no outline made from filled voxels
            set_curve(item, [], [])
            return
        seg = outline_on_cut(self.source, pane.geometry, s).reshape(-1, 2)
        set_curve(item, seg[:, 0], seg[:, 1])

    def segment_count(self, pane: SlicePane) -> int:
        """How many line segments the pane's outline has now (0 when hidden)."""
        item = self.items.get(pane.pane_id)
        if item is None or not item.isVisible():
            return 0
        x, _ = item.getData()
        return 0 if x is None else len(x) // 2

    def close(self) -> None:
        """Take the items off the panes; a pane already deleted with its study is skipped."""
        for pane in self.panes:
            if self.draw in pane.overlays:
                pane.overlays.remove(self.draw)
            item = self.items.get(pane.pane_id)
            if item is not None:
                try:
                    pane.viewbox.removeItem(item)
                except RuntimeError:  # the pane's C++ side is gone (another study was opened)
                    pass
        self.items.clear()
        self._drawn.clear()

