"""`main.py --screenshot PNG`: let pending paints run, grab the window, close it, say where it went."""

from __future__ import annotations

import sys

from PySide6 import QtWidgets


def write_screenshot(app: QtWidgets.QApplication, window: QtWidgets.QWidget, path: str) -> bool:
    """Save ``window`` as an image at ``path`` and close it; False (with a message) when it cannot be written."""
    for _ in range(5):
        app.processEvents()
    ok = window.grab().save(path)
    window.close()
    if not ok:
        print(f"main.py: error: could not write {path}", file=sys.stderr)
    else:
        print(f"Screenshot written to {path}", file=sys.stderr)
    return ok
