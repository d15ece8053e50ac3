"""The inference thread runs only the newest request: a request waiting is replaced, results come back on
the UI thread with their id, and errors are reported, not raised."""

import threading

import pytest
from PySide6 import QtCore, QtWidgets

from liverview.ui.ultrasound.latest_worker import LatestOnlyWorker

pytestmark = pytest.mark.gui


def test_requests_overtaken_while_one_runs_are_skipped_and_the_newest_runs(qtbot):
    gate = threading.Event()
    ran: list[int] = []

    def work(n: int) -> int:
        ran.append(n)
        if n == 1:
            gate.wait(10)  # the first request is still running while the next three arrive
        return n * 10

    worker = LatestOnlyWorker(work)
    got: list[tuple[int, int, bool]] = []
    worker.finished.connect(
        lambda rid, result: got.append((rid, result, QtCore.QThread.currentThread() is QtWidgets.QApplication.instance().thread())))
    worker.submit(1, 1)
    qtbot.waitUntil(lambda: ran == [1])
    for n in (2, 3, 4):
        worker.submit(n, n)
    assert worker.busy
    gate.set()
    assert worker.wait_idle(10)
    qtbot.waitUntil(lambda: len(got) == 2)
    assert ran == [1, 4] and worker.skipped == 2
    assert got == [(1, 10, True), (4, 40, True)]  # delivered on the UI thread
    worker.shutdown()


def test_an_error_is_reported_with_its_request_id_and_the_worker_keeps_serving(qtbot):
    def work(n: int) -> int:
        if n < 0:
            raise ValueError("negative input")
        return n

    worker = LatestOnlyWorker(work)
    with qtbot.waitSignal(worker.failed) as failed:
        worker.submit(7, -1)
    assert failed.args == [7, "negative input"]
    with qtbot.waitSignal(worker.finished) as done:
        worker.submit(8, 5)
    assert done.args == [8, 5]
    worker.shutdown()
    worker.submit(9, 1)  # after shutdown: ignored, no thread left to run it
    assert not worker.busy
