"""Load the study the review will go to next while the reader works on this one, so the switch finds its
volumes in memory. Reading files runs on a worker thread of its own (liverview.ui.workers), never on the UI
thread and never behind a registration; only the paths go in (the project is read on the UI thread).
One study is kept at a time: asking for another drops the one loaded before."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from PySide6 import QtCore

from liverview.core.study import Study
from liverview.ui.workers import Job, JobCancelled, JobRunner

# paths -> (study, problems) or (study, problems, notes), as the window's study loader
Loader = Callable[[list[str]], tuple]


@dataclass
class LoadedStudy:
    """A study read in the background: what the loader gave, for the window to open."""

    study_id: int
    study: Study
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class StudyPreloader(QtCore.QObject):
    """``ready(study_id)`` once the asked study is in memory; ``failed(study_id, message)`` when it cannot be."""

    ready = QtCore.Signal(int)
    failed = QtCore.Signal(int, str)

    def __init__(self, loader: Loader) -> None:
        super().__init__()
        self.loader = loader
        self.runner = JobRunner(max_threads=1)
        self.study_id: int | None = None  # the study asked for last
        self._job: Job | None = None
        self._loaded: LoadedStudy | None = None

    def preload(self, study_id: int, paths: list[str]) -> None:
        """Start reading ``paths`` as study ``study_id`` (nothing new when it is loaded or loading already)."""
        if study_id == self.study_id and (self._loaded is not None or self._job is not None):
            return
        self.cancel()
        self.study_id = study_id
        loader = self.loader

        def work(progress, cancelled):
            if cancelled():
                raise JobCancelled()
            study, problems, *rest = loader(list(paths))
            return LoadedStudy(study_id, study, list(problems), list(rest[0]) if rest else [])

        job = self.runner.start(f"Loading the next study ({study_id})", work)
        self._job = job
        job.succeeded.connect(lambda result, j=job: self._done(j, result))
        job.failed.connect(lambda message, j=job, sid=study_id: self._failed(j, sid, message))

    def _done(self, job: Job, result: LoadedStudy) -> None:
        if job is not self._job:
            return  # asked for another study meanwhile
        self._job = None
        self._loaded = result
        self.ready.emit(result.study_id)

    def _failed(self, job: Job, study_id: int, message: str) -> None:
        if job is self._job:
            self._job = None
            self.study_id = None
            self.failed.emit(study_id, message)

    def is_ready(self, study_id: int) -> bool:
        return self._loaded is not None and self._loaded.study_id == study_id

    def take(self, study_id: int) -> LoadedStudy | None:
        """The loaded study if it is ``study_id`` (handed over once: the window owns it then), else None."""
        if not self.is_ready(study_id):
            return None
        loaded, self._loaded, self.study_id = self._loaded, None, None
        return loaded

    def cancel(self) -> None:
        """Forget the study asked for (a load in flight finishes on its thread and is dropped)."""
        if self._job is not None:
            self._job.cancel()
        self._job = None
        self._loaded = None
        self.study_id = None

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the load in flight ended (tests, exit)."""
        return self.runner.wait(timeout_ms)
