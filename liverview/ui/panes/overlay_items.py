"""Update pyqtgraph overlay items only when what they show changes; empty items are hidden.

Overlays are redrawn on every slice step of every pane. Most of the time they show nothing or the
same thing as before, and pyqtgraph's setData/setText always invalidate geometry, re-layout text and
schedule a paint (an empty ScatterPlotItem still costs a paint). Skipping no-op updates and hiding
empty items keeps the slice step as cheap as it was before the overlays existed.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg


def set_curve(item: pg.PlotCurveItem, x, y) -> None:
    """``item.setData(x, y)`` unless it already shows exactly that; hidden while empty."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    old_x, old_y = item.getData()
    if len(x) == 0:
        if old_x is None or len(old_x):
            item.setData(x, y)
        item.setVisible(False)
        return
    # equal_nan: NaN separators (connect="finite") compare equal to themselves
    if not (old_x is not None and old_x.shape == x.shape and np.array_equal(old_x, x, equal_nan=True)
            and np.array_equal(old_y, y, equal_nan=True)):
        item.setData(x, y)
    item.setVisible(True)


def set_scatter(item: pg.ScatterPlotItem, x, y) -> None:
    """``item.setData(x, y)`` unless it already shows exactly those points; hidden while empty."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    data = item.data
    if len(x) == 0:
        if len(data):
            item.setData(x, y)
        item.setVisible(False)
        return
    if not (len(data) == len(x) and np.array_equal(data["x"], x) and np.array_equal(data["y"], y)):
        item.setData(x, y)
    item.setVisible(True)


def set_text(item: pg.TextItem, text: str, pos: tuple[float, float]) -> None:
    """Show ``text`` at ``pos``; the text is laid out again only when it changed."""
    if item.toPlainText() != text:
        item.setText(text)
    if (item.pos().x(), item.pos().y()) != (float(pos[0]), float(pos[1])):
        item.setPos(float(pos[0]), float(pos[1]))
    item.setVisible(True)
