"""Qt's own warnings (platform plugin, fonts, widgets) go to the terminal through a copy of stderr taken
when the first window is made.

A study read on a worker thread swaps file descriptor 2 for a file while it runs, to catch what the native
readers (ITK, GDCM) write there as the study's problems (liverview.io.native_warnings). A Qt warning written
by the GUI thread meanwhile became a "problem" of the study being read ("Opened with problems: arterial:
This plugin does not support propagateSizeHints()").
"""

from __future__ import annotations

import os
from typing import TextIO

from PySide6 import QtCore

_terminal: TextIO | None = None


def send_qt_messages_to_the_terminal() -> None:
    """Install the message handler (once; later calls do nothing)."""
    global _terminal
    if _terminal is not None:
        return
    try:
        _terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    except (OSError, ValueError):  # no usable stderr: Qt keeps its default handler
        return
    QtCore.qInstallMessageHandler(_write)


def _write(mode: QtCore.QtMsgType, context: QtCore.QMessageLogContext, message: str) -> None:
    try:
        _terminal.write(message + "\n")
    except (OSError, ValueError, AttributeError):
        pass
