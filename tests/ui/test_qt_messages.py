"""Qt's warnings reach the terminal, never the warnings a study read captures from stderr (they were shown as
the study's problems: "Opened with problems: arterial: This plugin does not support propagateSizeHints()")."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


def test_a_qt_warning_during_a_study_read_is_not_a_problem_of_the_study_but_reaches_the_terminal():
    code = """
from PySide6 import QtCore, QtWidgets
from liverview.io.native_warnings import captured_native_output
from liverview.ui.qt_messages import send_qt_messages_to_the_terminal
app = QtWidgets.QApplication([])
before = []
with captured_native_output(before):
    QtCore.qWarning("qt-says-before")
send_qt_messages_to_the_terminal()
after = []
with captured_native_output(after):
    QtCore.qWarning("qt-says-after")
print(before, after)
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.stdout.strip() == "['qt-says-before'] []"  # Qt's default handler was captured, ours is not
    assert "qt-says-after" in run.stderr  # it still reaches the terminal
