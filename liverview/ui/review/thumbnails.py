"""Small axial / coronal / sagittal views of the current proposal, each with its box drawn."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.core.slicing import Orientation, extract_slice, missing_in_cut, slice_geometry
from liverview.core.volume import Volume
from liverview.store.records import ProposalRecord
from liverview.ui.panes.windowing import GreyMapper, hatch

THUMB_PX = 150
MARGIN = 0.6  # context around the box, as a fraction of its size on each side


def proposal_centre(proposal: ProposalRecord, volume: Volume) -> np.ndarray:
    """Centre of the box in x, y, on the proposal's key slice in z (the point every pane is brought to); a key
    slice missing from the series gives way to the nearest slice that was acquired, which the reader can judge."""
    lo, hi = np.asarray(proposal.box.min_ijk, float), np.asarray(proposal.box.max_ijk, float)
    centre = (lo + hi) / 2
    if proposal.key_slice is not None:
        centre[2] = proposal.key_slice
    if volume.missing_slices:
        centre[2] = volume.nearest_acquired_slice(centre[2])
    return volume.index_to_world(centre)


class TriPlanarThumbnails(QtWidgets.QWidget):
    """Three labels showing crops around the box through its centre, windowed like the panes."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.labels: dict[Orientation, QtWidgets.QLabel] = {}
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        for o in Orientation:
            label = QtWidgets.QLabel()
            label.setFixedSize(THUMB_PX, THUMB_PX)
            label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet("background: black; color: #aaa;")
            label.setToolTip(f"{o.value} view of the proposal")
            layout.addWidget(label)
            self.labels[o] = label
        self._grey = GreyMapper()
        self.window = (60.0, 160.0)
        self.shown_id: int | None = None  # the proposal shown, None when cleared
        self.clear()

    def clear(self) -> None:
        self.shown_id = None
        for o, label in self.labels.items():
            label.clear()
            label.setText(o.value)

    def show_proposal(self, proposal: ProposalRecord | None, volume: Volume | None,
                      window: tuple[float, float] | None = None) -> None:
        if window is not None:
            self.window = window
        if proposal is None or volume is None or not proposal.box.has_voxels:
            self.clear()
            return
        centre = proposal_centre(proposal, volume)
        corners = np.array([[x, y, z] for x in proposal.box.min_mm[0:1] + proposal.box.max_mm[0:1]
                            for y in (proposal.box.min_mm[1], proposal.box.max_mm[1])
                            for z in (proposal.box.min_mm[2], proposal.box.max_mm[2])])
        for o, label in self.labels.items():
            label.setPixmap(self._render(volume, o, centre, corners))
        self.shown_id = proposal.id

    def _render(self, volume: Volume, orientation: Orientation, centre: np.ndarray,
                corners: np.ndarray) -> QtGui.QPixmap:
        g = slice_geometry(volume, orientation)
        s = g.nearest_slice(centre)
        if s is None:
            s = int(np.clip(np.rint(g.slice_of_world(centre)), 0, g.slice_count - 1))
        ijk = volume.world_to_index(corners)
        cols, rows, _ = g.index_to_pixel(ijk)
        c0, c1, r0, r1 = cols.min() + 0.5, cols.max() - 0.5, rows.min() + 0.5, rows.max() - 0.5
        mc, mr = max((c1 - c0) * MARGIN, 8.0), max((r1 - r0) * MARGIN, 8.0)
        n_rows, n_cols = g.image_shape
        a0, a1 = int(max(np.floor(c0 - mc), 0)), int(min(np.ceil(c1 + mc), n_cols - 1))
        b0, b1 = int(max(np.floor(r0 - mr), 0)), int(min(np.ceil(r1 + mr), n_rows - 1))
        cut = extract_slice(volume, g, s)[b0:b1 + 1, a0:a1 + 1]
        grey = self._grey(np.ascontiguousarray(cut), *self.window)
        missing = missing_in_cut(volume, g, s)
        if missing is not None:
            grey = hatch(grey, missing[b0:b1 + 1, a0:a1 + 1])  # filled voxels are never shown as data
        grey = np.ascontiguousarray(grey)
        h, w = grey.shape
        image = QtGui.QImage(grey.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8).copy()
        sx, sy = volume.spacing[g.col_axis], volume.spacing[g.row_axis]
        scale = min(THUMB_PX / (w * sx), THUMB_PX / (h * sy))  # screen px per mm
        out_w, out_h = max(int(w * sx * scale), 1), max(int(h * sy * scale), 1)
        pix = QtGui.QPixmap.fromImage(image.scaled(out_w, out_h, QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                                                   QtCore.Qt.TransformationMode.SmoothTransformation))
        painter = QtGui.QPainter(pix)
        painter.setPen(QtGui.QPen(QtGui.QColor(255, 255, 0), 1.5))
        kx, ky = out_w / w, out_h / h
        painter.drawRect(QtCore.QRectF((c0 - 0.5 - a0 + 0.5) * kx, (r0 - 0.5 - b0 + 0.5) * ky,
                                       (c1 - c0 + 1) * kx, (r1 - r0 + 1) * ky))
        painter.setPen(QtGui.QColor(230, 230, 230))
        painter.drawText(3, 12, orientation.value[0].upper())
        painter.end()
        return pix
