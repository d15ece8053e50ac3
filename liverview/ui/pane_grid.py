"""The grid of phase panes: one SlicePane per phase, each with a header to set phase and orientation."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PySide6 import QtCore, QtWidgets

from liverview.core.slicing import Orientation, display_frame
from liverview.core.study import PHASE_ORDER, PhaseKind, Study
from liverview.core.view_state import PaneView, ViewChange, ViewState, WINDOW_PRESETS
from liverview.ui.panes.slice_pane import SlicePane


def pane_id_for(index: int) -> str:
    return f"phase{index}"


class PaneHeader(QtWidgets.QWidget):
    """Phase kind and orientation of one pane. A phase read from the image (or guessed from the order
    of the series) is marked as inferred until the reader confirms it (one click on Confirm) or picks
    another in the list; an unknown phase asks to be set."""

    def __init__(self, kind: PhaseKind, orientation: Orientation, parent=None, rule: str = "",
                 reason: str = "") -> None:
        super().__init__(parent)
        self.phase_combo = QtWidgets.QComboBox()
        for k in [*PHASE_ORDER, PhaseKind.UNKNOWN]:
            self.phase_combo.addItem(k.value, k)
        self.phase_combo.setCurrentIndex(self.phase_combo.findData(kind))
        self.confirm_button = QtWidgets.QToolButton()
        self.confirm_button.setText("Confirm")
        self.confirm_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.orientation_combo = QtWidgets.QComboBox()
        for o in Orientation:
            self.orientation_combo.addItem(o.value, o)
        self.orientation_combo.setCurrentIndex(self.orientation_combo.findData(orientation))
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(2, 0, 2, 0)
        layout.addWidget(self.phase_combo)
        layout.addWidget(self.confirm_button)
        layout.addStretch(1)
        layout.addWidget(self.orientation_combo)
        self.show_inference(kind, rule, reason)

    def show_inference(self, kind: PhaseKind, rule: str, reason: str) -> None:
        """Mark the phase as confirmed, inferred (with why, and the Confirm button) or unknown."""
        confirmed = rule in ("", "keyword", "contrast-timing", "reader")
        unknown = kind is PhaseKind.UNKNOWN
        if unknown:
            tip = "The contrast phase of this series is unknown: set it here" + (f" ({reason})" if reason else "")
            style = "QComboBox { color: #c00000; font-weight: bold; }"
        elif confirmed:
            tip = "Contrast phase of this series" + (f": {reason}" if reason else "") + "; change it here"
            style = ""
        else:
            tip = f"Inferred contrast phase ({reason}): confirm it, or pick the right one here"
            style = "QComboBox { color: #b06000; font-style: italic; }"
        self.phase_combo.setToolTip(tip)
        self.phase_combo.setStyleSheet(style)
        self.confirm_button.setToolTip(f"Confirm {kind.value} ({reason})")
        self.confirm_button.setVisible(not confirmed and not unknown)


class PaneGrid(QtWidgets.QWidget):
    """Lays out the phase panes and keeps the pane <-> phase bookkeeping."""

    def __init__(self, state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.panes: list[SlicePane] = []
        self.headers: list[PaneHeader] = []
        self.active_pane_id: str | None = None
        self.on_phase_kind_changed: Callable[[int, PhaseKind], None] = lambda i, k: None
        self.on_phase_confirmed: Callable[[int], None] = lambda i: None
        self._layout = QtWidgets.QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        unsubscribe = state.subscribe(self._follow_orientation)
        self.destroyed.connect(lambda *_: unsubscribe())

    def _follow_orientation(self, change: ViewChange) -> None:
        """A pane's orientation changed by code (a tool, a test, a layout) shows in its header's list too."""
        if "orientation" not in change.fields:
            return
        for pane, header in zip(self.panes, self.headers):
            if pane.pane_id in change.panes:
                combo = header.orientation_combo
                with QtCore.QSignalBlocker(combo):
                    combo.setCurrentIndex(combo.findData(pane.pane_view.orientation))

    def clear(self) -> None:
        for pane in self.panes:
            pane.close_pane()
            self.state.remove_pane(pane.pane_id)
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.panes.clear()
        self.headers.clear()
        # The hovered point belongs to the panes just removed: new panes must not read out HU/mm there.
        self.state.set_cursor(None, None)

    def show_study(self, study: Study) -> None:
        self.clear()
        ref = study.reference.volume
        focus = ref.opening_world()
        preset = WINDOW_PRESETS[1]
        cols = 2 if len(study.phases) in (2, 4) else min(len(study.phases), 3)
        cols = max(cols, 1)
        for n, phase in enumerate(study.phases):
            pid = pane_id_for(n)
            u, v, _ = display_frame(Orientation.AXIAL)
            self.state.add_pane(
                pid,
                PaneView(
                    focus=focus.copy(),
                    orientation=Orientation.AXIAL,
                    center_uv=(float(focus @ u), float(focus @ v)),
                    window_center=preset.center,
                    window_width=preset.width,
                ),
            )
            pane = SlicePane(pid, self.state, phase.volume, self._title(study, n))
            pane.activated = self._set_active
            header = PaneHeader(phase.kind, Orientation.AXIAL, rule=phase.kind_rule, reason=phase.kind_reason)
            header.orientation_combo.currentIndexChanged.connect(
                lambda _i, p=pane, h=header: p.set_orientation(Orientation(h.orientation_combo.currentData()))
            )
            header.phase_combo.currentIndexChanged.connect(
                lambda _i, idx=n, h=header: self.on_phase_kind_changed(idx, PhaseKind(h.phase_combo.currentData()))
            )
            header.confirm_button.clicked.connect(lambda _=False, idx=n: self.on_phase_confirmed(idx))
            box = QtWidgets.QWidget()
            box_layout = QtWidgets.QVBoxLayout(box)
            box_layout.setContentsMargins(0, 0, 0, 0)
            box_layout.setSpacing(0)
            box_layout.addWidget(header)
            box_layout.addWidget(pane, 1)
            self._layout.addWidget(box, n // cols, n % cols)
            self.panes.append(pane)
            self.headers.append(header)
        rows = math.ceil(len(study.phases) / cols)
        for r in range(rows):
            self._layout.setRowStretch(r, 1)
        for c in range(cols):
            self._layout.setColumnStretch(c, 1)
        self.active_pane_id = self.panes[0].pane_id if self.panes else None

    @staticmethod
    def _title(study: Study, index: int) -> str:
        phase = study.phases[index]
        ref = " (reference)" if index == study.reference_index else ""
        return f"{phase.label}{ref}"

    def retitle(self, study: Study) -> None:
        for n, pane in enumerate(self.panes):
            pane.title = self._title(study, n)
            pane.redraw_all()

    def _set_active(self, pane_id: str) -> None:
        self.active_pane_id = pane_id

    def pane(self, pane_id: str) -> SlicePane:
        for p in self.panes:
            if p.pane_id == pane_id:
                return p
        raise KeyError(pane_id)

    def active_pane(self) -> SlicePane | None:
        """The pane last used, or None (none yet, or the panes are being rebuilt for another study)."""
        if self.active_pane_id is None:
            return None
        try:
            return self.pane(self.active_pane_id)
        except KeyError:
            return None

    def reset_views(self) -> None:
        """Fit every pane (zoom is linked, so the smallest fit wins) and centre the focus."""
        if not self.panes:
            return
        first = self.panes[0]
        zoom = min(p.fit_zoom() for p in self.panes)
        center = first.volume.opening_world()
        self.state.set_focus(first.pane_id, center, origin="programmatic")
        for p in self.panes:
            self.state.set_zoom(p.pane_id, zoom, origin="programmatic")
            self.state.set_center(p.pane_id, p.geometry.scene_of_world(center), origin="programmatic")

    def focus_world(self) -> np.ndarray | None:
        return None if not self.panes else self.panes[0].pane_view.focus.copy()
