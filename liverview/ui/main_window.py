"""The main window: phase panes linked through one ViewState, toolbar, background jobs, 3D view."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6 import QtCore, QtGui, QtWidgets

from liverview.core.study import PhaseKind, Study
from liverview.core.view_state import WINDOW_PRESETS, ViewState
from liverview.io.export.project_export import (DEFAULT_SUFFIX, EXPORT_FORMATS, ExportError, ExportResult,
                                                ImportResult, export_annotations, import_deeplesion_csv)
from liverview.io.export.annotation_import import IMPORT_FORMATS, FileImport, ImportFormatError, import_annotations
from liverview.store.records import RecistRecord, StoreError
from liverview.store.study_link import default_project_path, ensure_study, study_key
from liverview.ui.annotation_session import (
    AnnotationSession,
    ask_with_dialog,
    open_project_for_editing,
    read_only_reason,
)
from liverview.ui.browser.one_window import OneWindow
from liverview.ui.detection.liver_outline import LiverOutlineController
from liverview.ui.job_bar import JobBar
from liverview.ui.messages import show_warning
from liverview.ui.pane_grid import PaneGrid
from liverview.ui.panels.dicom_tags_dock import DicomTagsDock
from liverview.ui.panels.lesion_list import LesionListPanel
from liverview.ui.panels.messages_panel import MessagesPanel
from liverview.ui.qt_messages import send_qt_messages_to_the_terminal
from liverview.ui.review.review_controller import ReviewController
from liverview.ui.study_opening import LoadPreview, OpenedStudy, StudyOpener
from liverview.ui.window_settings import WindowSettings
from liverview.ui.workers import Job, JobRunner
from liverview.ui.worklist.worklist_controller import WorklistController

if TYPE_CHECKING:  # SimpleITK loads when a registration starts, not with the window
    from liverview.registration.phase_registration import PhaseRegistration

# (study, problems) or (study, problems, notes): problems are worth a look, notes are quiet "skipped" lines.
StudyLoader = Callable[[list[str]], tuple]


def failure_text(exc: BaseException) -> str:
    """What failed and why, never empty (a bare MemoryError() has no message of its own)."""
    if isinstance(exc, MemoryError):
        return ("not enough memory to load it; close other studies, or lower LIVERVIEW_MAX_IMAGE_BYTES so that "
                "such inputs are refused before loading")
    text = str(exc).strip()
    return text if text else f"{type(exc).__name__} (no details were given)"


def registration_summary(others: int, unaligned: list[str]) -> str:
    """One status line on a finished registration; never says all phases were aligned when some were not."""
    if not unaligned:
        return "Phases registered to the reference phase"
    names = ", ".join(unaligned)
    if len(unaligned) == others:
        return f"No phase could be aligned to the reference phase; left as read (identity): {names}"
    return (f"{others - len(unaligned)} of {others} phase(s) registered to the reference phase; "
            f"not aligned (identity): {names}")


class MainWindow(QtWidgets.QMainWindow):
    def __init__(
        self,
        study_loader: StudyLoader | None = None,
        register_mode: str | None = "rigid",
        cache_dir: Path | None = None,
        project_path: Path | None = None,
        project_root: Path | None = None,
        user: str | None = None,
        settings: QtCore.QSettings | None = None,
    ) -> None:
        super().__init__()
        send_qt_messages_to_the_terminal()  # never into a study read's captured warnings
        self.setWindowTitle("LiverView")
        self.resize(1280, 900)
        self.state = ViewState()
        self.study: Study | None = None
        self.study_loader = study_loader
        self.register_mode = register_mode
        self.cache_dir = cache_dir
        self.runner = JobRunner(max_threads=1)
        self.messages: list[str] = []  # every message shown to the user, newest last
        self.registration_job: Job | None = None
        self.volume_view = None  # the 3D pane, created on first use
        self.project_path = project_path  # None: one project per study under project_root
        self.project_root = project_root
        self.user = user or getpass.getuser()
        # How the window asks a question (take over a stale lock? open a damaged project read-only?).
        self.ask = ask_with_dialog(self)
        self.session: AnnotationSession | None = None
        self.lesion_panel = LesionListPanel()
        self._lesion_dock = QtWidgets.QDockWidget("Lesions", self)
        self._lesion_dock.setObjectName("dock-lesions")
        self._lesion_dock.setWidget(self.lesion_panel)
        self._lesion_dock.setMinimumWidth(380)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self._lesion_dock)

        self.grid = PaneGrid(self.state)
        self.grid.on_phase_kind_changed = self._phase_kind_changed
        self.grid.on_phase_confirmed = self._phase_confirmed
        self.placeholder = QtWidgets.QLabel(
            "Open a DICOM folder or volume files (File menu), drop them here, or start with --demo."
        )
        self.placeholder.setWordWrap(True)  # a long line would set the window's minimum width
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.grid)
        self.setCentralWidget(self.stack)

        self.job_bar = JobBar()
        self.statusBar().addPermanentWidget(self.job_bar)
        # Studies open in the background (progress, Cancel, the first phase shown while the rest loads).
        self.study_opener = StudyOpener(
            self.stack, self.job_bar, lambda: self.study_loader,
            key_for=lambda study: study_key(study, self.project_root),  # hashed on the loader thread
            describe_failure=failure_text, on_opened=self._opened_in_background,
            on_failed=lambda text: self.show_error("Could not open the study", text),
            on_cancelled=lambda: self.notify("Opening cancelled" + (
                f"; {self.study.description or 'the open study'} stays open" if self.study is not None else "")))
        self.messages_panel = MessagesPanel()
        self._messages_dock = QtWidgets.QDockWidget("Messages", self)
        self._messages_dock.setObjectName("dock-messages")
        self._messages_dock.setWidget(self.messages_panel)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self._messages_dock)
        self._messages_dock.hide()
        self.messages_button = QtWidgets.QToolButton()
        self.messages_button.setDefaultAction(self._messages_dock.toggleViewAction())
        self.messages_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.messages_button.setAutoRaise(True)
        self.statusBar().addPermanentWidget(self.messages_button)
        self._messages_dock.visibilityChanged.connect(lambda _v: self._update_messages_button())
        self._update_messages_button()
        # Layout, W/L preset and dialog folders kept between sessions; none given (tests): nothing kept.
        self.kept = WindowSettings(settings) if settings is not None else None
        self._build_actions()
        # Studies browser, CT / Ultrasound tabs, File > Open Recent, drag and drop (liverview/ui/browser/).
        self.one_window = OneWindow(self, settings)
        if self.kept is not None:
            self.kept.restore_layout(self)

    # --- chrome -----------------------------------------------------------------------------
    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_dir = file_menu.addAction("Open DICOM folder...")
        open_dir.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        open_dir.triggered.connect(self._open_folder_dialog)
        file_menu.addAction("Open volume files...").triggered.connect(self._open_files_dialog)
        file_menu.addAction("Open ultrasound image...").triggered.connect(self._open_ultrasound_dialog)
        self.worklist = WorklistController(self, host=self)  # a project of many studies, reviewed across them
        file_menu.addAction("Open project...").triggered.connect(self.worklist.open_dialog)
        file_menu.addSeparator()
        self.export_menu = file_menu.addMenu("Export annotations")
        for fmt, title in EXPORT_FORMATS.items():
            self.export_menu.addAction(title + "...").triggered.connect(
                lambda _=False, f=fmt: self._export_dialog(f))
        self.import_action = file_menu.addAction("Import...")  # DICOM SR / SEG, NIfTI label map, DeepLesion CSV
        self.import_action.triggered.connect(self._import_dialog)
        file_menu.addSeparator()
        file_menu.addAction("Quit").triggered.connect(self.close)

        tools = self.addToolBar("View")
        tools.setObjectName("view-toolbar")
        tools.addWidget(QtWidgets.QLabel(" Window "))
        self.preset_combo = QtWidgets.QComboBox()
        for preset in WINDOW_PRESETS:
            self.preset_combo.addItem(f"{preset.name} ({preset.center:.0f}/{preset.width:.0f})", preset)
        self.preset_combo.addItem("Custom", None)  # shown after a window/level drag; not a choice
        self.preset_combo.model().item(len(WINDOW_PRESETS)).setEnabled(False)
        self.preset_combo.setCurrentIndex(1)
        self.preset_combo.activated.connect(self._apply_preset)
        self.state.subscribe(self._window_changed)
        tools.addWidget(self.preset_combo)
        for n, preset in enumerate(WINDOW_PRESETS, start=1):
            act = QtGui.QAction(f"Preset {preset.name}", self)
            act.setShortcut(QtGui.QKeySequence(str(n)))
            act.triggered.connect(lambda _=False, i=n - 1: self._apply_preset(i))
            self.addAction(act)
        tools.addSeparator()
        tools.addWidget(QtWidgets.QLabel(" Link "))
        self.link_boxes: dict[str, QtWidgets.QCheckBox] = {}
        for name, label in [("slice", "Slice"), ("crosshair", "Crosshair"), ("zoom", "Zoom"), ("pan", "Pan"),
                            ("window", "W/L")]:
            box = QtWidgets.QCheckBox(label)
            box.setChecked(getattr(self.state.links, name))
            box.toggled.connect(lambda on, n=name: setattr(self.state.links, n, on))
            tools.addWidget(box)
            self.link_boxes[name] = box
        tools.addSeparator()
        self.reset_action = tools.addAction("Reset view")
        self.reset_action.setShortcut(QtGui.QKeySequence("Ctrl+R"))
        self.reset_action.triggered.connect(self.grid.reset_views)
        self.register_action = tools.addAction("Register phases")
        self.register_action.triggered.connect(lambda: self.start_registration(self.register_mode or "rigid"))
        tools.addSeparator()
        self.measure_action = tools.addAction("RECIST (M)")
        self.measure_action.setCheckable(True)
        self.measure_action.setShortcut(QtGui.QKeySequence("M"))
        self.measure_action.setToolTip("Left drag draws a long axis; drag an end point to edit")
        self.measure_action.toggled.connect(self._set_measuring)
        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = edit_menu.addAction("Undo")
        self.undo_action.setShortcuts([QtGui.QKeySequence.StandardKey.Undo])
        self.undo_action.triggered.connect(self.undo)
        self.redo_action = edit_menu.addAction("Redo")
        self.redo_action.setShortcuts([QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])
        self.redo_action.triggered.connect(self.redo)
        self.delete_action = edit_menu.addAction("Delete selected lesion")
        self.delete_action.setShortcut(QtGui.QKeySequence.StandardKey.Delete)
        self.delete_action.triggered.connect(self.delete_selected)
        self.view3d_action = tools.addAction("3D view")
        self.view3d_action.setCheckable(True)
        self.view3d_action.toggled.connect(self.show_3d)

        self.view_menu = self.menuBar().addMenu("&View")
        self.tags_dock = DicomTagsDock(self, self.grid, self.state, lambda: self.study)  # hidden until asked
        self.tags_dock.toggle_action.setText("DICOM tags")
        self.view_menu.addAction(self.tags_dock.toggle_action)
        self.view_menu.addAction(self.worklist.show_action)
        self.plugins_menu = self.menuBar().addMenu("&Plugins")
        self._fill_plugins_menu()
        self.review = ReviewController(self, host=self)  # Review menu: detect, import, queue
        self.review.on_past_end = self.worklist.open_next_to_review  # the queue goes on in the next study
        # View > Liver outline; its masks are the detection's, so a study's liver is segmented once
        self.liver_outline = LiverOutlineController(self, self, self.view_menu, self.review.detection.liver_masks)
        # The review and the lesion list share the right column as tabs: stacked, neither had the height
        # its list needs (the selected row ended up under the thumbnail strip).
        self.tabifyDockWidget(self._lesion_dock, self.review.dock)
        help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action = help_menu.addAction("Keyboard shortcuts...")
        self.shortcuts_action.setShortcut(QtGui.QKeySequence.StandardKey.HelpContents)
        self.shortcuts_action.triggered.connect(self.show_shortcuts)

    def _fill_plugins_menu(self) -> None:
        try:
            from liverview.plugin_registry import discover_plugins
        except ImportError:
            self.plugins_menu.addAction("(plugin registry unavailable)").setEnabled(False)
            return
        catalog = discover_plugins()
        for manifest in catalog.plugins:
            sub = self.plugins_menu.addMenu(manifest.display_name)
            for contribution in manifest.contributions:
                sub.addAction(f"{contribution.kind}: {contribution.title}").setEnabled(False)
        for problem in catalog.problems:
            self.plugins_menu.addAction(f"problem: {problem}").setEnabled(False)

    def show_shortcuts(self):
        """Help > Keyboard shortcuts: this window's actions, those of other open LiverView windows (the
        ultrasound workspace), the pane keys and the review keys."""
        from liverview.ui.shortcuts import collect_shortcuts
        from liverview.ui.shortcuts_dialog import show_shortcuts

        others = [w for w in QtWidgets.QApplication.topLevelWidgets()
                  if isinstance(w, QtWidgets.QMainWindow) and w is not self and w.isVisible()]
        return show_shortcuts(self, collect_shortcuts([self, *others]))

    # --- messages ---------------------------------------------------------------------------
    def notify(self, text: str) -> None:
        self.messages.append(text)
        self.messages_panel.add(text)
        self.statusBar().showMessage(text, 10000)

    def inform(self, title: str, lines: list[str], level: str = "note") -> None:
        """What needs no decision (files skipped on purpose, lesions left out of an export): one line in
        the status bar, every line in the Messages panel, no dialog."""
        if not lines:
            return
        first = lines[0] if len(lines[0]) <= 120 else ""  # the first line says the most (the loader puts it there)
        more = f" (+{len(lines) - 1} more, see Messages)" if len(lines) > 1 else ""
        summary = f"{title}: {first}{more}" if first else f"{title} (see Messages)"
        self.messages.append(f"{title}: " + "\n".join(lines))
        for line in lines:
            self.messages_panel.add(f"{title}: {line}", level)
        self.statusBar().showMessage(summary, 15000)
        self._update_messages_button()

    def show_error(self, title: str, text: str) -> None:
        """A clear, non-blocking message; the session and its data stay as they were."""
        self.messages.append(f"{title}: {text}")
        self.messages_panel.add(f"{title}: {text}", "error")
        self._update_messages_button()
        show_warning(self, title, text)

    def _update_messages_button(self) -> None:
        unseen = self.messages_panel.unseen if not self._messages_dock.isVisible() else 0
        self.messages_button.setText(f"Messages ({unseen})" if unseen else "Messages")

    # --- study ------------------------------------------------------------------------------
    def open_paths(self, paths: list[str]) -> bool:
        if self.study_loader is None:
            self.show_error("Cannot open", "no study loader is configured")
            return False
        try:
            study, problems, *rest = self.study_loader(paths)
        except Exception as exc:  # any load failure is shown; the current study stays open
            self.show_error("Could not open the study", failure_text(exc))
            return False
        if not self._one_exam_or_agreed(study):
            return False
        self.open_loaded(study, list(problems), list(rest[0]) if rest else [], None)
        self.one_window.opened_ct(list(paths))  # listed in Open Recent; the CT tab comes to the front
        return True

    def open_paths_in_background(self, paths: list[str]):
        """Open a study without blocking the window: a job with progress and Cancel in the status bar, the first
        phase shown as soon as it is read; the open study stays until the new one is read (or for good when the
        load is cancelled or fails). Returns the Job, or None when no loader is configured."""
        if self.study_loader is None:
            self.show_error("Cannot open", "no study loader is configured")
            return None
        return self.study_opener.open(list(paths))

    def _one_exam_or_agreed(self, study: Study) -> bool:
        """True when the study's phases are one exam, or the reader agrees to link them anyway: series of two
        patients (or two exams) side by side as phases are how a measurement lands on the wrong patient."""
        if not study.not_one_exam:
            return True
        if self.ask("Not one exam", f"{study.not_one_exam[0].upper()}{study.not_one_exam[1:]}.\n\nOpen them as the "
                    "phases of one study anyway? Panes will be linked, and every mark made will be stored with "
                    "this one study.", "Open anyway"):
            return True
        # The reader has just answered: a line, not a second dialog.
        self.inform("Not opened", ["these series are not one exam: open one exam's series at a time",
                                   study.not_one_exam], level="warning")
        return False

    def _opened_in_background(self, opened: OpenedStudy, preview: LoadPreview | None) -> None:
        if not self._one_exam_or_agreed(opened.study):
            return
        self.open_loaded(opened.study, opened.problems, opened.notes, None, key=opened.key)
        if preview is not None:  # where the reader scrolled to while the rest loaded
            pane = next((p for p in self.grid.panes if p.volume is preview.phase.volume), None)
            if pane is not None:
                self.state.set_focus(pane.pane_id, preview.focus(), origin="programmatic")
        self.one_window.opened_ct(opened.paths)

    def open_loaded(self, study: Study, problems: list[str], notes: list[str], study_id: int | None,
                    key: str | None = None) -> None:
        """Show a study read by the loader; ``study_id``: its row in the project, when known (the worklist);
        ``key``: its identity when already computed (off the UI thread)."""
        self.set_study(study, study_id, key)
        # The study is open: nothing here asks for a decision, so no dialog.
        if notes:
            self.inform(f"Skipped {len(notes)} file(s) or series that are not images of this study", notes)
        if problems:
            self.inform("Opened with problems", list(problems), level="warning")

    def set_study(self, study: Study, study_id: int | None = None, key: str | None = None) -> None:
        if self.registration_job is not None:
            self.registration_job.cancel()  # its late signals are ignored: they name the old study
            self.registration_job = None
        self._close_session()
        self.study = study
        self.grid.show_study(study)
        for pane, phase in zip(self.grid.panes, study.phases):
            pane.phase_name = phase.kind.value
        self.stack.setCurrentWidget(self.grid)
        QtWidgets.QApplication.processEvents()
        self.grid.reset_views()
        self._apply_kept_preset()
        names = ", ".join(p.label for p in study.phases)
        self.setWindowTitle(f"LiverView - {study.patient_id or study.description or 'study'} ({names})")
        self.notify(f"Opened {len(study.phases)} phase(s): {names}")
        if self.volume_view is not None:
            self.volume_view.set_volume(study.reference.volume)
        self._open_session(study, study_id, key)
        self.review.study_opened()
        self.worklist.study_opened()
        self.tags_dock.study_opened()
        self.liver_outline.study_opened()
        self._tell_inferred_phases(study)
        if self.register_mode and len(study.phases) > 1:
            self.start_registration(self.register_mode)

    def _tell_inferred_phases(self, study: Study) -> None:
        """One status line per phase whose kind the tags did not give: what was inferred, and where to
        confirm or change it."""
        for n, phase in enumerate(study.phases):
            if phase.kind is PhaseKind.UNKNOWN:
                self.notify(f"Phase of pane {n + 1} is unknown ({phase.kind_reason or 'no tag names it'}): "
                            "set it in the pane header")
            elif not phase.kind_confirmed:
                self.notify(f"Pane {n + 1} taken as {phase.kind.value}, inferred ({phase.kind_reason}): "
                            "confirm or change it in the pane header")

    def _phase_kind_changed(self, index: int, kind: PhaseKind) -> None:
        if self.study is None:
            return
        phase = self.study.phases[index]
        old = phase.kind
        phase.kind = kind
        phase.kind_rule = "reader"
        self._relabel_marks(old, kind)
        self.grid.headers[index].show_inference(kind, phase.kind_rule, "set by the reader")
        self.grid.panes[index].phase_name = kind.value
        self.grid.retitle(self.study)
        self.notify(f"Phase {index + 1} set to {kind.value}")

    def _relabel_marks(self, old: PhaseKind, new: PhaseKind) -> None:
        """Marks measured on a series belong to it: when the reader corrects the series' phase, its RECIST
        marks take the new phase (one undo step), unless another series still has the old phase."""
        if self.session is None or old is new or self.session.project.read_only:
            return
        if any(p.kind is old for p in self.study.phases):
            return  # the name still means another series
        project = self.session.project
        moved = 0
        try:
            with project.undo_group(f"set phase {new.value}"):
                for lesion in project.list_lesions(self.session.study_id):
                    r = lesion.recist
                    if r is not None and r.phase == old.value:
                        project.set_recist(lesion.id, RecistRecord(r.long_axis, r.short_axis, r.key_slice,
                                                                   new.value))
                        moved += 1
        except StoreError as exc:
            self.show_error("Could not move the marks to the new phase", str(exc))
            return
        if moved:
            self.notify(f"{moved} RECIST mark(s) measured on this series now say {new.value}")

    def _phase_confirmed(self, index: int) -> None:
        if self.study is None:
            return
        phase = self.study.phases[index]
        reason = phase.kind_reason
        phase.kind_rule = "reader"
        phase.kind_reason = f"confirmed by the reader ({reason})" if reason else "confirmed by the reader"
        self.grid.headers[index].show_inference(phase.kind, phase.kind_rule, phase.kind_reason)
        self.notify(f"Phase {index + 1} confirmed as {phase.kind.value}")

    def _apply_preset(self, index: int) -> None:
        pane = self.grid.active_pane()
        if pane is None or not 0 <= index < len(WINDOW_PRESETS):
            return
        self.preset_combo.setCurrentIndex(index)
        self.state.apply_preset(pane.pane_id, WINDOW_PRESETS[index])
        if self.kept is not None:
            self.kept.set_preset_name(WINDOW_PRESETS[index].name)

    def _apply_kept_preset(self) -> None:
        """A new study opens in the preset the reader chose last (kept in the settings)."""
        name = self.kept.preset_name() if self.kept is not None else None
        preset = next((p for p in WINDOW_PRESETS if p.name == name), None)
        if preset is not None:
            for pane in self.grid.panes:
                self.state.apply_preset(pane.pane_id, preset)

    def _start_folder(self, kind: str) -> str:
        return self.kept.last_folder(kind) if self.kept is not None else ""

    def _remember_folder(self, kind: str, folder: str | Path) -> None:
        if self.kept is not None:
            self.kept.set_last_folder(kind, folder)

    def _window_changed(self, change) -> None:
        """The preset box names the preset the active pane's window/level matches, else "Custom"."""
        if "window" not in change.fields:
            return
        pane = self.grid.active_pane()
        pane_id = pane.pane_id if pane is not None and pane.pane_id in change.panes else change.source
        view = self.state.panes.get(pane_id) if pane_id else None
        if view is None:
            return
        match = next((n for n, p in enumerate(WINDOW_PRESETS)
                      if abs(p.center - view.window_center) < 0.5 and abs(p.width - view.window_width) < 0.5),
                     len(WINDOW_PRESETS))
        if self.preset_combo.currentIndex() != match:
            self.preset_combo.setCurrentIndex(match)

    def _open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open DICOM folder", self._start_folder("open-dicom"))
        if folder:
            self._remember_folder("open-dicom", Path(folder).parent)  # the next study is likely a sibling
            self.open_paths_in_background([folder])

    def _open_files_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open volumes (one per phase)", self._start_folder("open-volumes"),
            "Volumes (*.nii *.nii.gz *.nrrd *.mha *.mhd);;All (*)"
        )
        if files:
            self._remember_folder("open-volumes", Path(files[0]).parent)
            self.open_paths_in_background(files)

    # --- exports and imports ----------------------------------------------------------------
    def _export_dialog(self, fmt: str) -> None:
        if self.session is None:
            self.show_error("Nothing to export", "open a study first")
            return
        start = self._start_folder("export")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, f"Export {EXPORT_FORMATS[fmt]}", str(Path(start) / f"lesions{DEFAULT_SUFFIX[fmt]}") if start
            else f"lesions{DEFAULT_SUFFIX[fmt]}")
        if path:
            chosen = Path(path)
            self._remember_folder("export", chosen.parent)
            if not chosen.suffix:  # a name typed without one gets the format's; a wrong one is refused with a reason
                chosen = chosen.with_name(chosen.name + DEFAULT_SUFFIX[fmt])
            self.export_annotations(fmt, chosen)

    def export_annotations(self, fmt: str, path: Path) -> ExportResult | None:
        """Write the open study's lesions; what was left out is said, a failure is shown, nothing changes."""
        if self.session is None or self.study is None:
            self.show_error("Nothing to export", "open a study first")
            return None
        try:
            # the SR's observers are the readers recorded with the measurements, not whoever exports
            result = export_annotations(self.session.project, self.session.study_id, self.study, fmt, path)
        except (ExportError, OSError, ValueError) as exc:
            self.show_error("Export failed", str(exc))
            return None
        self.notify(f"Exported {result.written} lesion(s) to {result.path}"
                    + "".join(f"; {note}" for note in result.notes))
        if result.skipped:
            self.inform(f"{len(result.skipped)} item(s) left out of the export", list(result.skipped), "warning")
        return result

    def _import_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Import annotations (DICOM SR / SEG, NIfTI label map, DeepLesion CSV)", self._start_folder("import"),
            "Annotations (*.dcm *.nii *.nii.gz *.csv);;All (*)")
        if files:
            self._remember_folder("import", Path(files[0]).parent)
            self.import_files([Path(f) for f in files])

    def import_files(self, paths: list[Path]) -> list[FileImport]:
        """Import each file into the open study (its format read from its content, one transaction per file);
        one message lists what each file gave and what did not fit."""
        if self.session is None or self.study is None or self.session.project.read_only:
            self.show_error("Cannot import", "open a study whose project is writable first")
            return []
        results, lines = [], []
        for path in paths:
            try:  # reader None: an SR's observers are kept as who measured, else the project's user
                result = import_annotations(self.session.project, self.session.study_id, self.study, path)
            except (ImportFormatError, OSError, ValueError, StoreError) as exc:
                lines.append(f"{path.name}: nothing imported: {exc}")
                continue
            results.append(result)
            lines.append(f"{path.name}: {len(result.added)} lesion(s) imported ({IMPORT_FORMATS[result.format]})"
                         + (f", {len(result.completed)} lesion(s) already here completed (same tracking UID)"
                            if result.completed else ""))
            lines += [f"{path.name}: not imported: {line}" for line in result.skipped]
            lines += [f"{path.name}: note: {line}" for line in result.notes]
        added = sum(len(r.added) for r in results)
        completed = sum(len(r.completed) for r in results)
        left_out = len(lines) - len(results) - sum(len(r.notes) for r in results)
        self.inform(f"Imported {added} lesion(s) from {len(paths)} file(s)"
                    + (f"; completed {completed} lesion(s) already in the study" if completed else "")
                    + (f"; {left_out} item(s) not imported" if left_out else ""), lines,
                    "warning" if left_out else "note")
        return results

    def import_deeplesion_csv(self, path: Path) -> ImportResult | None:
        if self.session is None or self.study is None or self.session.project.read_only:
            self.show_error("Cannot import", "open a study whose project is writable first")
            return None
        try:
            result = import_deeplesion_csv(self.session.project, self.session.study_id, self.study, path)
        except (ExportError, OSError, ValueError, StoreError) as exc:
            self.show_error("Import failed", str(exc))
            return None
        self.notify(f"Imported {len(result.added)} lesion(s) from {path.name}")
        if result.problems:
            self.show_error(f"{len(result.problems)} row(s) not imported", "\n".join(result.problems[:20]))
        return result

    def _open_ultrasound_dialog(self) -> None:
        self.one_window.open_us_dialog()  # in the Ultrasound tab of this window

    # --- annotations ------------------------------------------------------------------------
    def _open_session(self, study: Study, study_id: int | None = None, key: str | None = None) -> None:
        """Open (or create) the study's project; on failure the viewer still works, without edits.
        ``study_id`` names the study's row when the caller knows it (the worklist): no need to identify it;
        ``key``: the study's identity when the background load computed it (no hashing here)."""
        try:
            key = None if study_id is not None else key or study_key(study, self.project_root)
            path = self.project_path or default_project_path(study, self.project_root, key)
            opened = open_project_for_editing(Path(path), self.user, self.ask)
            project, read_only = opened.project, opened.read_only
            for title, text in opened.messages:
                self.show_error(title, text)
            known = study_id is not None and any(s.id == study_id for s in project.list_studies())
            study_id = study_id if known else ensure_study(project, study, key)
        except (StoreError, OSError, ValueError) as exc:
            self.show_error("Annotations unavailable", f"{exc}\nThe images can be read; edits cannot be saved.")
            self._set_editable(False)
            return
        self.session = AnnotationSession(project, study_id, self.grid, self.state, self.lesion_panel,
                                         on_error=lambda msg: self.show_error("Edit not saved", msg))
        self._set_editable(not read_only)
        self.session.set_measuring(self.measure_action.isChecked() and not read_only)
        if read_only:
            self.notify(read_only_reason(project))
        else:
            self.notify(f"Annotations are saved as you make them in {path}")

    def _set_editable(self, editable: bool) -> None:
        """The edit entry points follow the project: a read-only one offers none (each would be refused)."""
        for action in (self.measure_action, self.undo_action, self.redo_action, self.delete_action):
            action.setEnabled(editable)

    def _close_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def _set_measuring(self, on: bool) -> None:
        if self.session is not None:
            self.session.set_measuring(on)

    def _guarded(self, what: str, fn) -> None:
        try:
            fn()
        except StoreError as exc:
            self.show_error(f"Could not {what}", str(exc))

    def undo(self) -> None:
        if self.session is not None:
            self._guarded("undo", self.session.undo)

    def redo(self) -> None:
        if self.session is not None:
            self._guarded("redo", self.session.redo)

    def delete_selected(self) -> None:
        if self.session is not None:
            self._guarded("delete the lesion", self.session.delete_selected)

    # --- registration in the background ---------------------------------------------------------
    def start_registration(self, mode: str) -> Job | None:
        """Register the open study's phases in the background; the job already doing so, if any."""
        study = self.study
        if study is None or len(study.phases) < 2:
            self.notify("Nothing to register: " + ("no study is open" if study is None else
                                                   "the study has a single phase"))
            return None
        if self.registration_job is not None and not self.registration_job.done:
            return self.registration_job  # set_study drops another study's job, so this one is for this study
        from liverview.registration.phase_registration import register_study

        cache = self.cache_dir

        def work(progress, cancelled):
            return register_study(study, mode=mode, progress=progress, cancel=cancelled, cache_dir=cache)

        for n, pane in enumerate(self.grid.panes):
            if n != study.reference_index:
                pane.set_status_text("registering...")
        job = self.runner.start(f"Registering phases ({mode})", work)
        self.registration_job = job
        self.job_bar.track(job)
        job.succeeded.connect(lambda results, s=study: self._registration_done(s, results))
        job.failed.connect(lambda msg, s=study: self._registration_ended(s, "Registration failed", msg))
        job.cancelled.connect(lambda s=study: self._registration_ended(s, "Registration cancelled", ""))
        return job

    def _registration_done(self, study: Study, results: list[PhaseRegistration]) -> None:
        if study is not self.study:
            return  # the user opened another study meanwhile
        unaligned, warnings = [], []
        for result in results:
            index = result.phase_index
            if index == study.reference_index:
                continue
            label = f"pane {index + 1} ({study.phases[index].label})"
            warnings += [f"{label}: {text}" for text in result.warnings]
            if result.identity_fallback:
                # Keep the phase as read: an identity "registered" copy would pass for aligned (same grid).
                self.grid.panes[index].set_status_text("not aligned (identity)")
                unaligned.append(label)
            else:
                self.grid.panes[index].set_volume(result.resampled, status_text="registered")
        if warnings:
            self.inform("Registration warnings", warnings, level="warning")
        self.notify(registration_summary(len(study.phases) - 1, unaligned))

    def _registration_ended(self, study: Study, title: str, message: str) -> None:
        if study is not self.study:
            return  # a job of a study no longer shown: the open study's panes are not its to mark
        for n, pane in enumerate(self.grid.panes):
            if n != study.reference_index:
                pane.set_status_text("not registered")
        if message:
            self.show_error(title, message)
        else:
            self.notify(title)

    # --- 3D ---------------------------------------------------------------------------------
    def show_3d(self, on: bool) -> None:
        if on and self.volume_view is None:
            try:
                from liverview.ui.panes.volume_view import VolumeView
            except Exception as exc:  # VTK missing or no OpenGL: tell, keep the 2D panes
                self.show_error("3D view unavailable", str(exc))
                self.view3d_action.setChecked(False)
                return
            self.volume_view = VolumeView(self.state)
            dock = QtWidgets.QDockWidget("3D", self)
            dock.setObjectName("dock-3d")
            dock.setWidget(self.volume_view)
            # Its own column on the left, full height: beside the review it opened ~50 px tall.
            self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
            self.resizeDocks([dock], [max(360, self.width() // 4)], QtCore.Qt.Orientation.Horizontal)
            self._dock_3d = dock
            if self.study is not None:
                self.volume_view.set_volume(self.study.reference.volume)
            self.review.scene_sync.request()  # proposal boxes and RECIST axes
        if self.volume_view is not None:
            self._dock_3d.setVisible(on)

    # --- lifecycle --------------------------------------------------------------------------
    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802
        if self.kept is not None:
            self.kept.save_layout(self)
        self.one_window.shutdown()
        self.study_opener.shutdown()
        self.runner.cancel_all()
        self.runner.wait(5000)
        self.worklist.shutdown()
        if self.volume_view is not None:
            self.volume_view.shutdown()
        self._close_session()
        super().closeEvent(ev)
