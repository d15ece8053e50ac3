"""One window for CT and ultrasound: the Studies dock (the project's series index), the CT / Ultrasound tabs,
File > Index folder... / Open Recent, and drag and drop of folders and files.

Indexing walks folders in a background job (headers only; liverview/io/study_index.py) and the result is written
to the index project on the UI thread (a Project is used from the thread that opened it). The index project is the
window's project when it has one, else ``library.lvproj`` under $LIVERVIEW_CACHE (or ~/.cache/liverview).
The window is received, never imported: it provides what ``BrowserHost`` lists."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from liverview.cache_root import default_cache_root
from liverview.core.indexed_series import IndexedSeries
from liverview.io.study_index import IndexListing, index_paths, is_ultrasound_file, open_paths_for_ct
from liverview.store.project import Project
from liverview.store.records import StoreError
from liverview.ui.browser.recent_items import RecentItem, RecentItems
from liverview.ui.browser.study_browser import StudyBrowser
from liverview.ui.browser.workspaces import Workspaces
from liverview.ui.ultrasound.us_workspace import IMAGE_FILTER, UsWorkspace

if TYPE_CHECKING:
    from liverview.ui.job_bar import JobBar
    from liverview.ui.workers import JobRunner


class BrowserHost(Protocol):
    """What the main window offers the browser (a QMainWindow with these)."""

    runner: JobRunner
    job_bar: JobBar
    project_path: Path | None
    project_root: Path | None
    user: str
    session: object  # AnnotationSession | None: its .project when it holds the index project

    def open_paths(self, paths: list[str]) -> bool: ...

    def notify(self, text: str) -> None: ...

    def show_error(self, title: str, text: str) -> None: ...

    def inform(self, title: str, lines: list[str], level: str = "note") -> None: ...


def library_path() -> Path:
    return default_cache_root() / "library.lvproj"


class OneWindow(QtCore.QObject):
    def __init__(self, window: QtWidgets.QMainWindow, settings: QtCore.QSettings | None) -> None:
        super().__init__(window)
        self.window = window
        self.host: BrowserHost = window  # type: ignore[assignment]
        self.recent = RecentItems(settings)
        self.settings = settings
        self.us_weights: Path | None = None  # ultrasound segmenter weights (main.py --us-weights); None: the plugin's
        self.workspaces = Workspaces(window, self._make_us, keep_visible=lambda: [self.dock])
        self.browser = StudyBrowser()
        self.browser.on_open = self.open_entries
        self.browser.on_index = self._index_dialog
        self.dock = QtWidgets.QDockWidget("Studies", window)
        self.dock.setObjectName("dock-studies")
        self.dock.setWidget(self.browser)
        self.dock.setMinimumWidth(260)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self._add_file_actions()
        window.setAcceptDrops(True)
        window.installEventFilter(self)
        self.index_job = None
        self.browser.show_entries(self._read_index())
        if not self.browser.entries:
            self.dock.hide()  # room for the panes until something is indexed (View > Studies shows it)

    # --- menus --------------------------------------------------------------------------------
    def _add_file_actions(self) -> None:
        bar = self.window.menuBar()
        file_menu = next(a.menu() for a in bar.actions() if a.text() == "&File")
        before = next((a for a in file_menu.actions() if a.isSeparator()), None)
        self.index_action = QtGui.QAction("Index folder for the Studies browser...", self.window)
        self.index_action.triggered.connect(self._index_dialog)
        self.recent_menu = QtWidgets.QMenu("Open Recent", self.window)
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        file_menu.insertAction(before, self.index_action)
        file_menu.insertMenu(before, self.recent_menu)
        self.fill_recent_menu()
        view_menu = next((a.menu() for a in bar.actions() if a.text() == "&View"), None)
        if view_menu is not None:
            view_menu.addAction(self.dock.toggleViewAction())

    def fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        items = self.recent.items()
        for item in items:
            title = {"CT": "CT", "US": "Ultrasound", "project": "Project"}[item.kind]
            action = menu.addAction(f"{title}: {item.label}")
            action.setToolTip("\n".join(item.paths))
            action.setEnabled(item.exists())  # a moved or deleted study stays listed, greyed
            action.triggered.connect(lambda _=False, i=item: self.open_recent(i))
        if not items:
            menu.addAction("(nothing opened yet)").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list").triggered.connect(self.recent.clear)

    def open_recent(self, item: RecentItem) -> bool:
        if item.kind == "US":
            return self.open_us(item.paths[0])
        if item.kind == "project":
            return self.use_project(Path(item.paths[0]))
        return self.open_ct(list(item.paths))

    # --- the index project ------------------------------------------------------------------------
    def index_project_path(self) -> Path:
        return Path(self.host.project_path) if self.host.project_path else library_path()

    def _session_project(self) -> Project | None:
        """The window's open project when it is the index project (its lock is ours already)."""
        project = getattr(self.host.session, "project", None)
        if project is not None and Path(project.path).resolve() == self.index_project_path().resolve():
            return project
        return None

    def _read_index(self) -> list[IndexedSeries]:
        path = self.index_project_path()
        project = self._session_project()
        if project is not None:
            return project.indexed_series()
        if not path.is_file():
            return []
        try:
            with Project.open(path, self.host.user, read_only=True) as p:
                return p.indexed_series()
        except StoreError as exc:  # an older project opened read-only cannot be upgraded: nothing to show yet
            self.host.notify(f"Studies browser: {path} cannot be read yet ({exc})")
            return []

    def _write_index(self, series: list[IndexedSeries]) -> bool:
        path = self.index_project_path()
        try:
            project = self._session_project()
            if project is not None:
                project.index_series(series)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                opened = Project.open(path, self.host.user) if path.exists() else Project.create(path, self.host.user)
                with opened as p:
                    p.index_series(series)
        except (StoreError, OSError) as exc:
            self.host.show_error("Could not keep the index", f"{path}: {exc}")
            return False
        return True

    def use_project(self, path: Path) -> bool:
        """Make ``path`` the window's project: studies opened from now on are annotated there, and the browser
        shows its index."""
        if not path.is_file():
            self.host.show_error("Cannot open the project", f"{path}: no such file")
            return False
        self.host.project_path = path
        self.browser.show_entries(self._read_index())
        self.recent.add("project", [str(path)], path.name)
        self.host.notify(f"Project {path}: studies opened from now on are annotated there")
        return True

    # --- indexing -------------------------------------------------------------------------------
    def _index_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Index a folder for the Studies browser")
        if folder:
            self.index([folder])

    def index(self, paths: list[str]):
        """Index folders / files in the background; the browser shows them when done. Returns the job."""
        def work(progress, cancelled):
            return index_paths(paths, cancelled=cancelled)

        job = self.host.runner.start(f"Indexing {', '.join(Path(p).name for p in paths)}", work)
        self.host.job_bar.track(job)
        job.succeeded.connect(self._indexed)
        job.failed.connect(lambda msg: self.host.show_error("Indexing failed", msg))
        self.index_job = job
        return job

    def _indexed(self, listing: IndexListing) -> None:
        if listing.series and not self._write_index(listing.series):
            return
        self.browser.show_entries(self._read_index())
        self.dock.show()
        self.fit_dock()
        modalities = sorted({s.modality for s in listing.series})
        self.host.notify(f"Indexed {len(listing.series)} series or image(s) ({', '.join(modalities) or 'none'})")
        if listing.skipped:
            self.host.inform(f"Indexing left out {len(listing.skipped)} item(s)",
                             [f"{p}: {reason}" for p, reason in listing.skipped])

    # --- opening ----------------------------------------------------------------------------------
    def open_entries(self, entries: list[IndexedSeries]) -> bool:
        """The browser's double-click: CT series open as one study in the viewer, a US image in its tab."""
        us = [e for e in entries if e.modality == "US"]
        if us:
            return self.open_us(us[0].files[0])
        return self.open_ct(open_paths_for_ct(entries, self.browser.entries),
                            label=entries[0].study_description if entries else "")

    def open_ct(self, paths: list[str], label: str = "") -> bool:
        self.workspaces.show_ct()
        if not self.host.open_paths(paths):
            return False
        self.recent.add("CT", paths, label)
        return True

    def opened_ct(self, paths: list[str]) -> None:
        """A study was opened some other way (File > Open, the command line): list it, show its tab."""
        self.workspaces.show_ct()
        self.recent.add("CT", paths)

    def open_us(self, path: str | Path) -> bool:
        if not self.workspaces.open_us(path):
            return False
        self.recent.add("US", [str(path)])
        return True

    def open_us_dialog(self) -> bool:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open ultrasound image", "", IMAGE_FILTER)
        return self.open_us(path) if path else False

    def open_dropped(self, paths: list[str]) -> bool:
        """Open what was dropped (or named on the command line) and add it to the browser: ultrasound images in
        the ultrasound tab (the first one), everything else as one CT study."""
        try:
            us = [p for p in paths if is_ultrasound_file(p)]
        except OSError as exc:
            self.host.show_error("Cannot open", str(exc))
            return False
        ct = [p for p in paths if p not in us]
        opened = True
        if ct:
            opened = self.open_ct(ct)
        if us:
            opened = self.open_us(us[0]) and opened
        self.index(paths)  # a path that is not there is said by the job
        return opened

    # --- drag and drop ----------------------------------------------------------------------------
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if watched is self.window and event.type() == QtCore.QEvent.Type.Close:
            self.workspaces.show_ct()  # the layout kept on close is the CT one (its docks and toolbar shown)
        if watched is self.window and event.type() in (QtCore.QEvent.Type.DragEnter, QtCore.QEvent.Type.DragMove):
            if _local_paths(event.mimeData()):
                event.acceptProposedAction()
                return True
        if watched is self.window and event.type() == QtCore.QEvent.Type.Drop:
            paths = _local_paths(event.mimeData())
            if paths:
                event.acceptProposedAction()
                self.open_dropped(paths)
                return True
        return False

    def fit_dock(self) -> None:
        """Widen the Studies dock to its names (at most a third of the window)."""
        width = min(self.browser.wanted_width(), max(320, self.window.width() // 3))
        self.window.resizeDocks([self.dock], [width], QtCore.Qt.Orientation.Horizontal)

    def _make_us(self) -> UsWorkspace:
        return UsWorkspace(project_root=self.host.project_root, user=self.host.user, weights=self.us_weights,
                           settings=self.settings)

    def shutdown(self) -> None:
        if self.index_job is not None and not self.index_job.done:
            self.index_job.cancel()
        self.workspaces.shutdown()


def _local_paths(mime: QtCore.QMimeData | None) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]
