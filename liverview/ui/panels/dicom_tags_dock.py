"""View > DICOM tags: a dock showing the tags of the file behind the active pane's current slice.

It follows the shared view state (slice steps, clicks) and the active pane; it reads only while shown,
and reads a file once per change of file (the header only, never the pixels)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6 import QtCore, QtWidgets

from liverview.core.study import Study
from liverview.core.view_state import ViewChange, ViewState
from liverview.io.dicom_tags import TagReadError, TagRow, read_tags, slice_source
from liverview.ui.pane_grid import PaneGrid
from liverview.ui.panels.dicom_tags_panel import DicomTagsPanel


class DicomTagsDock:
    def __init__(self, window: QtWidgets.QMainWindow, grid: PaneGrid, state: ViewState,
                 study: Callable[[], Study | None]) -> None:
        self.grid = grid
        self.study = study
        self.panel = DicomTagsPanel()
        self.dock = QtWidgets.QDockWidget("DICOM tags", window)
        self.dock.setObjectName("dock-dicom-tags")
        self.dock.setWidget(self.panel)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.toggle_action = self.dock.toggleViewAction()
        self._shown: tuple[Path | None, str] | None = None  # what the panel shows now (file, note)
        self._timer = QtCore.QTimer(self.dock)  # a wheel spin asks many times: read once it settles
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.refresh)
        self.dock.visibilityChanged.connect(lambda visible: visible and self.request())
        self._unsubscribe = state.subscribe(self._on_view_change)

    def study_opened(self) -> None:
        """Follow the new panes: a pane that takes the focus becomes the one whose tags are shown."""
        for pane in self.grid.panes:
            chained = pane.activated
            pane.activated = lambda pane_id, chained=chained: (chained(pane_id), self.request())
        self._shown = None
        self.request()

    def request(self) -> None:
        if self.dock.isVisible():
            self._timer.start()

    def _on_view_change(self, change: ViewChange) -> None:
        if change.fields & {"focus", "orientation"}:
            self.request()

    def refresh(self) -> None:
        """Show the tags of the active pane's current slice's file, or a note saying why there are none."""
        study, pane = self.study(), self.grid.active_pane()
        if study is None or pane is None:
            self._show(None, "No study is open.")
            return
        index = self.grid.panes.index(pane)
        phase = study.phases[index]
        source = slice_source(phase, pane.pane_view.focus)
        if source.path is None:
            self._show(None, f"{pane.title}: {source.note}")
            return
        self._show(source.path, f"{pane.title}, slice {source.slice_index + 1} of {len(phase.slice_files)}: "
                                f"{source.path}")

    def _show(self, path: Path | None, text: str) -> None:
        if self._shown == (path, text):
            return  # same file, same words: keep the table, its filter and scroll position
        self._shown = (path, text)
        if path is None:
            self.panel.show_note(text)
            return
        try:
            rows: list[TagRow] = read_tags(path)
        except TagReadError as exc:
            self.panel.show_note(str(exc))
            return
        self.panel.show_tags(text, rows)
