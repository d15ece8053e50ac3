"""Run long work (registration, detection, export) off the UI thread, with progress and cancel.

The work function never touches widgets: it gets ``progress(fraction)`` and ``cancelled() -> bool``
and returns a result; Qt signals carry progress and the result back to the UI thread.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6 import QtCore

from liverview.ui.gui_thread_gc import collect_garbage_on_the_gui_thread

WorkFn = Callable[[Callable[[float], None], Callable[[], bool]], Any]


class JobCancelled(Exception):
    """Raised by work that noticed a cancel request."""


class Job(QtCore.QObject):
    """Handle of one background task. Signals arrive on the UI thread."""

    progress = QtCore.Signal(float)
    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()
    ended = QtCore.Signal()  # after any of the three above

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self._cancel = threading.Event()
        self.done = False

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()


class _Runnable(QtCore.QRunnable):
    def __init__(self, job: Job, fn: WorkFn) -> None:
        super().__init__()
        self.job = job
        self.fn = fn
        self.setAutoDelete(True)

    def run(self) -> None:
        job = self.job
        try:
            result = self.fn(job.progress.emit, job.is_cancelled)
        except JobCancelled:
            job.cancelled.emit()
        except Exception as exc:  # reported to the user, never swallowed
            if job.is_cancelled():
                job.cancelled.emit()
            else:
                detail = traceback.format_exc(limit=3)
                job.failed.emit(f"{exc}\n\n{detail}" if not str(exc) else str(exc))
        else:
            if job.is_cancelled():
                job.cancelled.emit()
            else:
                job.succeeded.emit(result)
        job.ended.emit()


class JobRunner(QtCore.QObject):
    """Starts jobs on a private thread pool and keeps them alive until they end."""

    job_started = QtCore.Signal(object)

    def __init__(self, max_threads: int = 1) -> None:
        super().__init__()
        collect_garbage_on_the_gui_thread()  # the pool's threads run Python
        self.pool = QtCore.QThreadPool()
        self.pool.setMaxThreadCount(max_threads)
        self.active: list[Job] = []

    def start(self, title: str, fn: WorkFn) -> Job:
        job = Job(title)
        self.active.append(job)
        job.ended.connect(lambda: self._forget(job))
        self.pool.start(_Runnable(job, fn))
        self.job_started.emit(job)
        return job

    def _forget(self, job: Job) -> None:
        job.done = True
        if job in self.active:
            self.active.remove(job)

    def cancel_all(self) -> None:
        for job in list(self.active):
            job.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until every job ended (for exit, tests and --screenshot)."""
        ok = self.pool.waitForDone(timeout_ms)
        QtCore.QCoreApplication.processEvents()
        return ok
