"""How a window tells the user something went wrong: a warning box that does not block, and the status bar."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


def show_warning(window: QtWidgets.QMainWindow, title: str, text: str, status_ms: int = 15000) -> None:
    """Open a non-modal warning over ``window`` and repeat its first line in the status bar."""
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, text, parent=window)
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    window.statusBar().showMessage(f"{title}: {text.splitlines()[0] if text else ''}", status_ms)
