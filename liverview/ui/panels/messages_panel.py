"""The messages panel: every note, warning and error of the session, newest last, with its time.

Notes that need no decision (files skipped on purpose, what a detection run dropped, the phase it used)
land here and in the status bar instead of a dialog; the panel is opened from the status bar button.
"""

from __future__ import annotations

import time

from PySide6 import QtCore, QtGui, QtWidgets

LEVELS = ("info", "note", "warning", "error")
_COLOURS = {"info": None, "note": None, "warning": QtGui.QColor(170, 110, 0), "error": QtGui.QColor(190, 30, 30)}
MAX_ROWS = 2000


class MessagesPanel(QtWidgets.QWidget):
    """A read-only list of messages; ``unseen`` counts warnings and errors added while it was hidden."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.list = QtWidgets.QListWidget()
        self.list.setWordWrap(True)
        self.list.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        clear = QtWidgets.QPushButton("Clear")
        clear.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        clear.clicked.connect(self.clear)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.list, 1)
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        row.addWidget(clear)
        layout.addLayout(row)
        self.unseen = 0

    def add(self, text: str, level: str = "info") -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown message level {level!r}: use one of {', '.join(LEVELS)}")
        stamp = time.strftime("%H:%M:%S")
        item = QtWidgets.QListWidgetItem(f"{stamp}  {level if level != 'info' else ''}  {text}".replace("   ", " "))
        colour = _COLOURS[level]
        if colour is not None:
            item.setForeground(colour)
        self.list.addItem(item)
        while self.list.count() > MAX_ROWS:
            self.list.takeItem(0)
        self.list.scrollToBottom()
        if level in ("warning", "error") and not self.isVisible():
            self.unseen += 1

    def texts(self) -> list[str]:
        return [self.list.item(n).text() for n in range(self.list.count())]

    def clear(self) -> None:
        self.list.clear()
        self.unseen = 0

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        self.unseen = 0
