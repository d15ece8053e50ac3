"""Open a study in the background: a job with progress and Cancel in the status bar, the phase read first shown
in a preview pane at once while the others load, and the study open until then left open; a cancelled or failed
load changes nothing. The loader runs on a thread of its own, so registration of the open study cannot hold
it back."""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, field
from typing import Callable

from PySide6 import QtCore, QtWidgets

from liverview.core.slicing import Orientation, display_frame
from liverview.core.study import Phase, Study
from liverview.core.view_state import WINDOW_PRESETS, PaneView, ViewState
from liverview.io.load_monitor import LoadCancelled, LoadMonitor
from liverview.ui.job_bar import JobBar
from liverview.ui.panes.slice_pane import SlicePane
from liverview.ui.workers import Job, JobCancelled, JobRunner

# Progress share of reading the files; the rest is the study's identity (a hash of volume files' contents).
_READ_SHARE = 0.85


@dataclass
class OpenedStudy:
    """What the background load hands to the window."""

    study: Study
    paths: list[str]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key: str | None = None  # the study's identity, computed off the UI thread; None: the window finds it


class _LoadFailed(Exception):
    """A load failure, its message already written for the user."""


class _Relay(QtCore.QObject):
    """Carries a phase read on the loader thread to the UI thread (queued: the relay lives in the UI thread)."""

    phase_read = QtCore.Signal(object, object)  # (load token, Phase)


class LoadPreview(QtWidgets.QWidget):
    """One pane showing the phase read first (its own view state: the open study's panes are not touched)."""

    PANE_ID = "preview"

    def __init__(self, phase: Phase, title: str, parent=None) -> None:
        super().__init__(parent)
        self.phase = phase
        self.state = ViewState()
        focus = phase.volume.opening_world()
        u, v, _ = display_frame(Orientation.AXIAL)
        preset = WINDOW_PRESETS[1]
        self.state.add_pane(self.PANE_ID, PaneView(
            focus=focus.copy(), orientation=Orientation.AXIAL, center_uv=(float(focus @ u), float(focus @ v)),
            window_center=preset.center, window_width=preset.width))
        self.label = QtWidgets.QLabel(title)
        self.pane = SlicePane(self.PANE_ID, self.state, phase.volume, phase.description or "first phase")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.pane, 1)
        QtCore.QTimer.singleShot(0, self.pane.reset_view)  # fit once the pane has its size

    def focus(self):
        return self.state.panes[self.PANE_ID].focus.copy()

    def close_preview(self) -> None:
        self.pane.close_pane()


def _accepts_monitor(loader: Callable) -> bool:
    try:
        return "monitor" in inspect.signature(loader).parameters
    except (TypeError, ValueError):
        return False


class StudyOpener(QtCore.QObject):
    """Runs one study load at a time; a new one cancels the one in flight (whose results are then ignored)."""

    def __init__(self, stack: QtWidgets.QStackedWidget, job_bar: JobBar, get_loader: Callable[[], Callable],
                 key_for: Callable[[Study], str | None], describe_failure: Callable[[BaseException], str],
                 on_opened: Callable[[OpenedStudy, "LoadPreview | None"], None],
                 on_failed: Callable[[str], None], on_cancelled: Callable[[], None]) -> None:
        super().__init__()
        self.stack = stack
        self.job_bar = job_bar
        self.get_loader = get_loader  # the window's loader at the time of each open (tests replace it)
        self.key_for = key_for
        self.describe_failure = describe_failure
        self.on_opened = on_opened
        self.on_failed = on_failed
        self.on_cancelled = on_cancelled
        self.runner = JobRunner(max_threads=1)
        self.job: Job | None = None
        self.preview: LoadPreview | None = None
        self._token: object | None = None
        self._before: QtWidgets.QWidget | None = None  # the page shown before the preview
        self._relay = _Relay()
        self._relay.phase_read.connect(self._show_preview)

    # --- starting ------------------------------------------------------------------------------
    def open(self, paths: list[str]) -> Job:
        if self.job is not None and not self.job.done:
            self.job.cancel()
        self._drop_preview()
        token = object()
        self._token = token
        loader, relay, key_for, describe = self.get_loader(), self._relay, self.key_for, self.describe_failure
        with_monitor = _accepts_monitor(loader)
        connected = threading.Event()  # a tiny study could be read before the signals below are connected

        def work(progress, cancelled):
            connected.wait()
            monitor = LoadMonitor(lambda f: progress(_READ_SHARE * f), cancelled,
                                  lambda phase: relay.phase_read.emit(token, phase))
            try:
                study, problems, *rest = loader(paths, monitor=monitor) if with_monitor else loader(paths)
            except (LoadCancelled, JobCancelled):
                raise JobCancelled() from None
            except Exception as exc:  # any load failure is shown as the synchronous open showed it
                if cancelled():
                    raise JobCancelled() from None
                raise _LoadFailed(describe(exc)) from exc
            if cancelled():
                raise JobCancelled()
            try:
                key = key_for(study)  # hashing 1 GB of volume files took 1.2 s on the UI thread
            except (OSError, ValueError):
                key = None  # the window finds it (or says why not) when it opens the project
            progress(1.0)
            return OpenedStudy(study, list(paths), list(problems), list(rest[0]) if rest else [], key)

        name = paths[0].rstrip("/").rsplit("/", 1)[-1] if paths else "study"
        job = self.runner.start(f"Opening {name}", work)
        self.job = job
        self.job_bar.track(job)
        job.succeeded.connect(lambda result: self._succeeded(token, result))
        job.failed.connect(lambda message: self._ended(token, message))
        job.cancelled.connect(lambda: self._ended(token, None))
        connected.set()
        return job

    # --- what comes back (UI thread) -------------------------------------------------------------
    def _show_preview(self, token: object, phase: Phase) -> None:
        if token is not self._token or self.preview is not None:
            return
        self._before = self.stack.currentWidget()
        self.preview = LoadPreview(phase, f"{phase.description}: shown while the other phases load...")
        self.stack.addWidget(self.preview)
        self.stack.setCurrentWidget(self.preview)

    def _succeeded(self, token: object, result: OpenedStudy) -> None:
        if token is not self._token:
            return
        preview = self.preview
        self.preview = None
        self.on_opened(result, preview)
        if preview is not None:
            self._remove(preview)

    def _ended(self, token: object, message: str | None) -> None:
        if token is not self._token:
            return
        self._drop_preview()
        if message is None:
            self.on_cancelled()
        else:
            self.on_failed(message)

    def _drop_preview(self) -> None:
        if self.preview is not None:
            preview, self.preview = self.preview, None
            self._remove(preview)

    def _remove(self, preview: LoadPreview) -> None:
        if self.stack.currentWidget() is preview:  # cancelled or failed: back to what was shown before
            before = self._before
            self.stack.setCurrentWidget(before if before is not None and self.stack.indexOf(before) >= 0
                                        else self.stack.widget(0))
        preview.close_preview()
        self.stack.removeWidget(preview)
        preview.deleteLater()

    # --- state ---------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self.job is not None and not self.job.done

    def first_image_shown(self) -> bool:
        """True once the preview pane (or, without one, the study) shows an image."""
        return self.preview is not None and self.preview.pane.image.image is not None

    def shutdown(self) -> None:
        self.runner.cancel_all()
        self.runner.wait(5000)
