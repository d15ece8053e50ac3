"""File > Open project: the worklist of a project of many studies, and the review that runs across them.

A double-click opens a study from its phases' files as the project records them. While a study is open, the
next study of the worklist (in the table's order, as sorted and filtered) that has proposals to review is read
in the background; going past the last proposal (N on it, or a decision on it) opens that study from memory.
Decisions are stored as always, one committed edit each, in the one project file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, TypeVar

from PySide6 import QtCore, QtWidgets

from liverview.store.migrations import SchemaError
from liverview.store.project import Project
from liverview.store.records import StoreChange, StoreError
from liverview.store.scan_methods import ScanRecord
from liverview.store.worklist import WorklistRow, next_to_review
from liverview.ui.worklist.study_preloader import Loader, LoadedStudy, StudyPreloader
from liverview.ui.worklist.worklist_dock import WorklistPanel

if TYPE_CHECKING:
    from liverview.core.study import Study
    from liverview.ui.annotation_session import AnnotationSession

T = TypeVar("T")


class WorklistHost(Protocol):
    """What the worklist uses of the main window: where studies' annotations go, how studies are read and
    opened, and the messages."""

    project_path: Path | None
    user: str
    study_loader: Loader | None

    @property
    def session(self) -> AnnotationSession | None: ...

    def open_loaded(self, study: Study, problems: list[str], notes: list[str], study_id: int | None) -> None: ...

    def notify(self, text: str) -> None: ...

    def show_error(self, title: str, text: str) -> None: ...


class WorklistController:
    """Owns the worklist dock, the project it lists and the background load of the next study."""

    def __init__(self, window: QtWidgets.QMainWindow, host: WorklistHost) -> None:
        self.window = window
        self.host = host
        self.panel = WorklistPanel()
        self.panel.on_open = self.open_study
        self.dock = QtWidgets.QDockWidget("Worklist", window)
        self.dock.setObjectName("dock-worklist")
        self.dock.setWidget(self.panel)
        self.dock.setMinimumWidth(580)  # patient, date, phases and the three counts without scrolling
        window.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.dock.hide()  # until a project is opened
        self.show_action = self.dock.toggleViewAction()
        self.show_action.setText("Worklist")
        self.preloader = StudyPreloader(self._load)
        self.preloader.ready.connect(self._preloaded)
        self.preloader.failed.connect(self._preload_failed)
        self.project_path: Path | None = None
        self.rows: list[WorklistRow] = []
        self.current_id: int | None = None  # the open study, when it is one of the worklist's
        self.next_row: WorklistRow | None = None  # where the review goes after the open study
        self.last_switch_s: float | None = None  # how long the last switch to the next study took
        self._unsubscribe: Callable[[], None] = lambda: None
        self._refresh_pending = False

    # --- the project ---------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open project", "",
                                                        "LiverView projects (*.lvproj);;All (*)")
        if path:
            self.open_project(Path(path))

    def open_project(self, path: Path) -> bool:
        """List the project's studies; studies opened from now on keep their annotations in it."""
        path = Path(path)
        previous = self.project_path
        self.project_path = path
        try:
            rows, failed = self._read_worklist()
        except (StoreError, OSError) as exc:
            self.project_path = previous
            self.host.show_error("Could not open the project", str(exc))
            return False
        self.host.project_path = path
        self.rows, self.current_id = rows, None
        self._detach()
        self.panel.show_rows(rows, None, failed)
        self.dock.show()
        self.dock.raise_()
        pending = sum(r.to_review for r in rows)
        unscanned = f"; {len(failed)} could not be scanned (named in the worklist)" if failed else ""
        self.host.notify(f"Project {path.name}: {len(rows)} studies, {pending} proposals to review{unscanned} "
                         "(double-click a study in the worklist to open it)")
        self._plan_next()
        return True

    def _read(self, fn: Callable[[Project], T]) -> T:
        """``fn(project)`` on the worklist's project: the open session's when it is that project, else a
        read-only look (an older schema is upgraded by opening it for editing once)."""
        session = self.host.session
        if session is not None and not session.project.closed and self._is_ours(session.project.path):
            return fn(session.project)
        try:
            with Project.open(self.project_path, self.host.user, read_only=True) as project:
                return fn(project)
        except SchemaError:
            with Project.open(self.project_path, self.host.user) as project:
                return fn(project)

    def _read_worklist(self) -> tuple[list[WorklistRow], list[ScanRecord]]:
        """The rows, and the studies whose scan failed (they have no row)."""
        return self._read(lambda project: (project.worklist(), project.failed_scans()))

    def _is_ours(self, path: Path) -> bool:
        return self.project_path is not None and Path(path).resolve() == self.project_path.resolve()

    def refresh(self, plan_next: bool = True) -> None:
        """Read the rows again (one query) and show them; the next study follows the new counts (unless the
        caller plans it itself: said once, not twice)."""
        if self.project_path is None:
            return
        try:
            self.rows, failed = self._read_worklist()
        except (StoreError, OSError) as exc:
            self.host.show_error("Worklist not updated", str(exc))
            return
        self.panel.show_rows(self.rows, self.current_id, failed)
        if plan_next:
            self._plan_next(quiet=True)

    def _paths(self, study_id: int) -> list[str]:
        """The files of the study's phases as the project records them (a DICOM folder once)."""
        phases = self._read(lambda project: project.list_phases(study_id))
        return list(dict.fromkeys(p.source_path for p in phases))

    def _row(self, study_id: int) -> WorklistRow | None:
        return next((r for r in self.rows if r.study_id == study_id), None)

    # --- opening studies ------------------------------------------------------------------------------
    def _load(self, paths: list[str]) -> tuple:
        loader = self.host.study_loader
        if loader is None:
            raise RuntimeError("no study loader is configured")
        return loader(paths)

    def open_study(self, study_id: int) -> bool:
        """Open a study of the worklist: from memory when it was loaded ahead, else from its files now."""
        row = self._row(study_id)
        label = row.label if row is not None else f"study {study_id}"
        loaded = self.preloader.take(study_id)
        if loaded is None:
            try:
                paths = self._paths(study_id)
                if not paths:
                    raise RuntimeError("the project records no files for it")
                study, problems, *rest = self._load(paths)
            except Exception as exc:  # any load failure is shown; the open study stays
                self.host.show_error("Could not open the study", f"{label}: {str(exc).strip() or type(exc).__name__}")
                return False
            loaded = LoadedStudy(study_id, study, list(problems), list(rest[0]) if rest else [])
        self.host.open_loaded(loaded.study, loaded.problems, loaded.notes, study_id)
        return True

    def study_opened(self) -> None:
        """Called by the window once a study and its session are open: mark it, follow its decisions and
        load the next study to review."""
        self._detach()
        session = self.host.session
        if self.project_path is None or session is None or not self._is_ours(session.project.path):
            self.current_id = None
            return
        self.current_id = session.study_id
        self._unsubscribe = session.project.subscribe(self._on_store_change)
        self.refresh(plan_next=False)
        self._plan_next()

    def _detach(self) -> None:
        self._unsubscribe()
        self._unsubscribe = lambda: None

    # --- the review across studies ----------------------------------------------------------------------
    def _plan_next(self, quiet: bool = False) -> None:
        """Choose the study after the open one and start reading it; say which it is."""
        nxt = next_to_review(self.panel.ordered_rows(), self.current_id)
        changed = (nxt is None) != (self.next_row is None) or (
            nxt is not None and self.next_row is not None and nxt.study_id != self.next_row.study_id)
        self.next_row = nxt
        if nxt is None:
            self.preloader.cancel()
            self.panel.show_next("Next: no other study has proposals to review")
            if changed or not quiet:
                self.host.notify("Worklist: no other study has proposals to review")
            return
        self.panel.show_next(f"Next: {nxt.label} ({nxt.to_review} to review)"
                             + (" - ready" if self.preloader.is_ready(nxt.study_id) else " - loading..."))
        if changed or not quiet:
            self.host.notify(f"Next in the worklist: {nxt.label} ({nxt.to_review} proposals to review), "
                             "loading in the background")
        try:
            paths = self._paths(nxt.study_id)
        except (StoreError, OSError) as exc:
            self.host.show_error("Cannot load the next study", str(exc))
            return
        if paths:
            self.preloader.preload(nxt.study_id, paths)

    def _preloaded(self, study_id: int) -> None:
        row = self._row(study_id)
        if row is not None and self.next_row is not None and self.next_row.study_id == study_id:
            self.panel.show_next(f"Next: {row.label} ({row.to_review} to review) - ready")

    def _preload_failed(self, study_id: int, message: str) -> None:
        row = self._row(study_id)
        self.panel.show_next(f"Next: {row.label if row else study_id} - cannot be read")
        self.host.show_error("Cannot load the next study", f"{row.label if row else study_id}: {message}")

    def open_next_to_review(self) -> bool:
        """Past the last proposal of the open study: open the next study to review (False: none, stay)."""
        if self.project_path is None or self.current_id is None:
            return False
        nxt = next_to_review(self.panel.ordered_rows(), self.current_id)
        if nxt is None:
            self.host.notify("End of the worklist: no other study has proposals to review")
            return False
        start = time.perf_counter()
        if not self.open_study(nxt.study_id):
            return False
        self.last_switch_s = time.perf_counter() - start
        self.host.notify(f"Opened the next study of the worklist: {nxt.label} ({self.last_switch_s:.2f} s)")
        return True

    def _on_store_change(self, change: StoreChange) -> None:
        """Decisions change the counts: refresh once the edits of this event have landed."""
        if change.entity in ("proposal", "study") or "decide" in change.action:
            if not self._refresh_pending:
                self._refresh_pending = True
                QtCore.QTimer.singleShot(0, self._deferred_refresh)

    def _deferred_refresh(self) -> None:
        self._refresh_pending = False
        self.refresh()

    def shutdown(self) -> None:
        self._detach()
        self.preloader.cancel()
        self.preloader.wait(5000)
