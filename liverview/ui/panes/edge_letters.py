"""The orientation letters drawn at the middle of a pane's four edges (computed in the core)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from liverview.core.orientation_letters import EdgeLetters

_STYLE = ("color: #ffd24a; background: rgba(0, 0, 0, 120); border-radius: 2px; padding: 0px 2px; "
          "font: bold 12px monospace;")


class EdgeLetterLabels:
    """Four labels on ``view`` (left, right, top, bottom); ``show`` sets their text, ``place`` pins them."""

    def __init__(self, view: QtWidgets.QWidget, avoid: tuple[QtWidgets.QWidget, ...] = ()) -> None:
        self.view = view
        self.avoid = avoid  # e.g. the corner texts: a letter never covers them
        self.labels: dict[str, QtWidgets.QLabel] = {}
        for edge in ("left", "right", "top", "bottom"):
            label = QtWidgets.QLabel(view)
            label.setObjectName(f"edge-{edge}")
            label.setStyleSheet(_STYLE)
            label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.labels[edge] = label

    def show(self, letters: EdgeLetters) -> None:
        for edge, label in self.labels.items():
            text = getattr(letters, edge)
            if label.text() != text:
                label.setText(text)
                label.adjustSize()
        self.place()

    def texts(self) -> EdgeLetters:
        return EdgeLetters(**{edge: label.text() for edge, label in self.labels.items()})

    def place(self) -> None:
        w, h = self.view.width(), self.view.height()
        left, right, top, bottom = (self.labels[e] for e in ("left", "right", "top", "bottom"))
        left.move(2, max((h - left.height()) // 2, 0))
        right.move(max(w - right.width() - 2, 0), max((h - right.height()) // 2, 0))
        top.move(max((w - top.width()) // 2, 0), 2)
        bottom.move(max((w - bottom.width()) // 2, 0), max(h - bottom.height() - 2, 0))
        # a long corner text (a phase name) reaching the middle pushes the letter below / above it
        for other in self.avoid:
            if other.isVisible() and other.text() and top.geometry().intersects(other.geometry()):
                top.move(top.x(), other.geometry().bottom() + 2)
            if other.isVisible() and other.text() and bottom.geometry().intersects(other.geometry()):
                bottom.move(bottom.x(), other.geometry().top() - bottom.height() - 2)
