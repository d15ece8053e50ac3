"""The main window's two workspaces as tabs, "CT" (the multi-phase viewer) and "Ultrasound" (the ultrasound
workspace, embedded instead of a window of its own).

The ultrasound workspace is created on first use (it looks up its segmenter then). Its File/Edit actions move
into an "Ultrasound" menu of the main window. Shortcuts: both workspaces use Ctrl+O and Ctrl+Z; two enabled
actions with one key in one window make Qt fire neither, so the tab shown owns the key: the other side's
actions with a clashing key are disabled while it is hidden, and restored as they were when it comes back.
The CT docks (lesions, review, tags) and toolbar are hidden beside the ultrasound workspace, which has its own
panel, and shown again as they were when the CT tab returns."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from liverview.ui.ultrasound.us_workspace import UsWorkspace

US_HINT = ("Open an ultrasound image (DICOM US, PNG, JPEG, BMP): double-click it in the Studies browser, "
           "use File > Open ultrasound image..., or drop it on the window.")


def _keys(action: QtGui.QAction) -> set[str]:
    return {k.toString() for k in action.shortcuts() if not k.isEmpty()}


class Workspaces:
    """Puts ``window``'s central widget under a "CT" tab beside an "Ultrasound" tab."""

    def __init__(self, window: QtWidgets.QMainWindow, make_us: Callable[[], UsWorkspace],
                 keep_visible: Callable[[], list[QtWidgets.QWidget]] = list) -> None:
        self.window = window
        self.keep_visible = keep_visible  # docks that serve both tabs (the Studies browser)
        self._hidden_ct: list[QtWidgets.QWidget] = []  # CT docks and toolbars hidden while the US tab shows
        self.make_us = make_us
        self.us: UsWorkspace | None = None
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setObjectName("workspace-tabs")
        self.tabs.setDocumentMode(True)
        ct = window.takeCentralWidget()  # kept alive: the tab takes it over
        self.ct_index = self.tabs.addTab(ct, "CT")
        self.us_holder = QtWidgets.QStackedWidget()
        self.us_hint = QtWidgets.QLabel(US_HINT)
        self.us_hint.setWordWrap(True)
        self.us_hint.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.us_holder.addWidget(self.us_hint)
        self.us_index = self.tabs.addTab(self.us_holder, "Ultrasound")
        window.setCentralWidget(self.tabs)
        self.us_menu = QtWidgets.QMenu("&Ultrasound", window)
        self.us_menu.menuAction().setVisible(False)
        help_action = next((a for a in window.menuBar().actions() if a.text() == "&Help"), None)
        window.menuBar().insertMenu(help_action, self.us_menu) if help_action else window.menuBar().addMenu(self.us_menu)
        self._us_actions: list[QtGui.QAction] = []
        self._silenced: dict[QtGui.QAction, bool] = {}  # CT actions disabled while the US tab is shown
        self.tabs.currentChanged.connect(lambda _i: self._sync())

    @property
    def showing_us(self) -> bool:
        return self.tabs.currentIndex() == self.us_index

    def show_ct(self) -> None:
        self.tabs.setCurrentIndex(self.ct_index)

    def show_us(self) -> UsWorkspace:
        """Bring the ultrasound tab to the front (its workspace created if need be)."""
        us = self.ultrasound()
        self.tabs.setCurrentIndex(self.us_index)
        return us

    def ultrasound(self) -> UsWorkspace:
        """The embedded ultrasound workspace, created the first time it is needed."""
        if self.us is None:
            us = self.make_us()
            us.setWindowFlags(QtCore.Qt.WindowType.Widget)  # a child of the tab, not a window of its own
            us.menuBar().hide()
            for menu_action in us.menuBar().actions():
                menu = menu_action.menu()
                for action in menu.actions() if menu is not None else []:
                    if action.isSeparator() or action.text() == "Close":
                        continue  # closing would only hide the embedded workspace
                    self.us_menu.addAction(action)
                    self._us_actions.append(action)
            self.us_holder.addWidget(us)
            self.us_holder.setCurrentWidget(us)
            self.us = us
            self._sync()
        return self.us

    def open_us(self, path: str | Path) -> bool:
        """Show the ultrasound tab with this image; False (the workspace said why) when it cannot be read."""
        return self.show_us().open_image(path)

    def _sync(self) -> None:
        self._sync_actions()
        self._sync_chrome()

    def _sync_chrome(self) -> None:
        if self.showing_us and not self._hidden_ct:
            keep = set(self.keep_visible())
            bars = [w for w in self.window.findChildren(QtWidgets.QToolBar) if w.parent() is self.window]
            docks = [w for w in self.window.findChildren(QtWidgets.QDockWidget) if w.parent() is self.window]
            # hiding the front dock of a tab group brings the next one forward: repeat until none shows
            while shown := [w for w in [*docks, *bars] if w.isVisible() and w not in keep
                            and w.objectName() != "dock-messages"]:
                for w in shown:
                    w.hide()
                self._hidden_ct += shown
        elif not self.showing_us:
            for w in reversed(self._hidden_ct):  # the one that was in front comes back in front
                w.show()
            self._hidden_ct = []

    def _sync_actions(self) -> None:
        us_on = self.showing_us
        self.us_menu.menuAction().setVisible(us_on and self.us is not None)
        for action in self._us_actions:
            action.setEnabled(us_on)
        if us_on:
            us_keys = set().union(*(_keys(a) for a in self._us_actions)) if self._us_actions else set()
            own = set(self._us_actions)
            for action in self.window.findChildren(QtGui.QAction):
                if action in own or action in self._silenced or not (_keys(action) & us_keys):
                    continue
                self._silenced[action] = action.isEnabled()
                action.setEnabled(False)
        else:
            for action, was_enabled in self._silenced.items():
                action.setEnabled(was_enabled)
            self._silenced.clear()

    def shutdown(self) -> None:
        if self.us is not None:
            self.us.close()  # stops its background threads and closes its project
