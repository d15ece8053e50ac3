"""Garbage left in reference cycles is collected on the GUI thread, never in a worker thread that happens to
allocate: collecting there destroyed Qt objects while the GUI thread delivered their events (the test suite
died with SIGSEGV in QApplication::notify while the ultrasound net ran in its worker)."""

import gc
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from liverview.ui.gui_thread_gc import collect_if_due, collects_on_the_gui_thread
from liverview.ui.ultrasound.latest_worker import LatestOnlyWorker
from liverview.ui.workers import JobRunner

pytestmark = pytest.mark.gui


class _Cyclic:
    """An object in a reference cycle that notes the thread its collection ran in."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen
        self.me = self

    def __del__(self) -> None:
        self.seen.append(threading.current_thread().name)


def _allocate_like_inference(_payload=None) -> int:
    # many container objects, as torch and numpy code makes: far past gen-0 threshold (700) several times
    return len([[i] for i in range(50_000)])


def _leave_garbage_cycle() -> list[str]:
    # counts from zero (they fall below it when older objects are freed, which puts Python's next collection off)
    gc.collect()
    seen: list[str] = []
    _Cyclic(seen)
    return seen


def _collected_by_the_gui_timer(qtbot, seen: list[str]) -> None:
    """The cycle is collected on the GUI thread: while the worker allocated (the timer fires meanwhile), or
    once enough objects stay for Python to collect (twice the generation-0 threshold: frees elsewhere lower
    the count)."""
    if not seen:
        keep = [[i] for i in range(2 * gc.get_threshold()[0])]
        qtbot.waitUntil(lambda: bool(seen), timeout=5000)
        del keep
    assert seen == [threading.main_thread().name]  # never the worker's thread


def test_a_cycle_is_collected_on_the_gui_thread_while_the_ultrasound_worker_allocates(qtbot):
    worker = LatestOnlyWorker(_allocate_like_inference, name="allocating-worker")
    assert collects_on_the_gui_thread() and not gc.isenabled()
    seen = _leave_garbage_cycle()
    with qtbot.waitSignal(worker.finished):
        worker.submit(1, None)
    _collected_by_the_gui_timer(qtbot, seen)
    worker.shutdown()


def test_a_cycle_is_collected_on_the_gui_thread_while_a_background_job_allocates(qtbot):
    runner = JobRunner()
    seen = _leave_garbage_cycle()
    job = runner.start("allocate", lambda progress, cancelled: _allocate_like_inference())
    with qtbot.waitSignal(job.ended):
        pass
    _collected_by_the_gui_timer(qtbot, seen)
    assert runner.wait(5000)


def test_collect_if_due_collects_what_python_would_and_nothing_before(qtbot):
    LatestOnlyWorker(lambda p: p).shutdown()  # switches automatic collection off, if nothing did before
    seen = _leave_garbage_cycle()
    assert collect_if_due() is None  # counts were just reset
    keep = [[i] for i in range(gc.get_threshold()[0])]  # crosses the generation-0 threshold
    assert not seen  # nothing collects by itself
    assert collect_if_due() == 0 and seen == [threading.main_thread().name]
    del keep


def test_a_new_application_gets_a_new_timer_in_a_fresh_process():
    """An application deleted with the timer it held leaves none behind: the next one starts its own."""
    code = """
import gc
from PySide6 import QtWidgets
from liverview.ui import gui_thread_gc as g
app = QtWidgets.QApplication([])
g.collect_garbage_on_the_gui_thread()
assert g.collects_on_the_gui_thread() and not gc.isenabled()
app.shutdown(); del app
assert not g.collects_on_the_gui_thread()  # its timer went with it
app = QtWidgets.QApplication([])
g.collect_garbage_on_the_gui_thread()
assert g.collects_on_the_gui_thread() and g._timer.isActive()
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.stdout.strip() == "ok", run.stderr
