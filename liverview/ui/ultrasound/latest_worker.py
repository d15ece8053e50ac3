"""One background thread that always runs the newest request and skips the ones overtaken meanwhile.

Clicks can come faster than a prediction finishes; queueing every one would make the mask lag further
and further behind. Here a new request replaces the one waiting (not the one running), so at most one
runs and one waits. Results come back as Qt signals, delivered on the UI thread; the request id travels
with them so the receiver can still drop a result that a newer interaction made stale.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable

from PySide6 import QtCore

from liverview.ui.gui_thread_gc import collect_garbage_on_the_gui_thread


class LatestOnlyWorker(QtCore.QObject):
    """Runs ``fn(payload)`` off the UI thread for the newest submitted request only."""

    finished = QtCore.Signal(int, object)  # request id, fn's result
    failed = QtCore.Signal(int, str)  # request id, message for the user

    def __init__(self, fn: Callable[[Any], Any], name: str = "latest-only-worker") -> None:
        super().__init__()
        collect_garbage_on_the_gui_thread()  # the thread runs Python
        self._fn = fn
        self._cond = threading.Condition()
        self._pending: tuple[int, Any] | None = None
        self._running: int | None = None
        self._stopped = False
        self.skipped = 0  # requests replaced before they ran
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, request_id: int, payload: Any) -> None:
        with self._cond:
            if self._stopped:
                return
            if self._pending is not None:
                self.skipped += 1
            self._pending = (request_id, payload)
            self._cond.notify_all()

    def discard_pending(self) -> None:
        """Forget the request waiting to run (the one running finishes; its result is still sent)."""
        with self._cond:
            self._pending = None
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._pending is not None or self._running is not None

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until nothing runs or waits (tests, screenshots). Results are still to be delivered:
        process Qt events afterwards."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending is not None or self._running is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def shutdown(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                request_id, payload = self._pending
                self._pending = None
                self._running = request_id
            try:
                result = self._fn(payload)
            except Exception as exc:  # shown to the user; the worker keeps serving
                message = str(exc) or traceback.format_exc(limit=3)
                if not self._stopped:
                    self.failed.emit(request_id, message)
            else:
                if not self._stopped:
                    self.finished.emit(request_id, result)
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()
