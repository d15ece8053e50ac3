"""Python's cycle collector, run on the GUI thread only.

CPython runs the cycle collector in whichever thread allocates when a threshold is crossed. When that is a
worker thread (ultrasound inference, detection, registration), it may destroy Qt objects left in a
reference cycle (a closed window's widgets) there, while the GUI thread delivers events to them: a
segmentation fault in QApplication::notify. Once the app runs Python in background threads, automatic
collection is switched off and a timer on the GUI thread collects instead, with Python's own thresholds.
"""

from __future__ import annotations

import gc

import shiboken6
from PySide6 import QtCore

CHECK_INTERVAL_MS = 100  # a generation-0 pass costs well under a millisecond

_timer: QtCore.QTimer | None = None


def collect_if_due() -> int | None:
    """Collect the generation Python would collect now (gc.get_count against gc.get_threshold); the
    generation collected, or None when none is due."""
    count0, count1, count2 = gc.get_count()
    threshold0, threshold1, threshold2 = gc.get_threshold()
    if threshold0 == 0 or count0 < threshold0:
        return None
    generation = 2 if count1 >= threshold1 and count2 >= threshold2 else 1 if count1 >= threshold1 else 0
    gc.collect(generation)
    return generation


def collect_garbage_on_the_gui_thread() -> None:
    """Switch automatic collection off for good and collect on a timer of the GUI thread instead.

    Call it on the GUI thread, with a QCoreApplication, before starting a thread that runs Python; calling it
    again does nothing.
    """
    global _timer
    app = QtCore.QCoreApplication.instance()
    if app is None:
        raise RuntimeError("collect_garbage_on_the_gui_thread needs a QApplication")
    if QtCore.QThread.currentThread() is not app.thread():
        raise RuntimeError("collect_garbage_on_the_gui_thread must be called on the GUI thread")
    if collects_on_the_gui_thread():
        return
    gc.disable()  # (again, if the QApplication that held the timer was deleted: a new one gets a new timer)
    _timer = QtCore.QTimer(app)
    _timer.setInterval(CHECK_INTERVAL_MS)
    _timer.timeout.connect(collect_if_due)
    _timer.start()


def collects_on_the_gui_thread() -> bool:
    return _timer is not None and shiboken6.isValid(_timer)
