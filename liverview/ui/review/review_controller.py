"""The review of a study's proposals in the main window: Review menu, dock, keys, panes brought to each
proposal, decisions stored at once.

Keys (anywhere in the window but a text field, only while the review dock is shown, so panes keep
their own keys otherwise):
A accept, R reject, E edit (RECIST tool on, the auto-proposed RECIST made a lesion linked to the
proposal), F flag, N / P next / previous, U undo. Arrows, PgUp/PgDn, Home/End stay with the panes.
One decision is one undo step: E, and the adjustments of the lesion it made until the reader moves on,
are undone by one U (or Ctrl+Z) together, so undo never leaves a lesion without its decision.
Past the last proposal (N on it, or a decision on it) the worklist, when a project of many studies is open,
opens the next study with proposals to review (``on_past_end``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6 import QtCore, QtWidgets

from liverview.core.volume import Volume
from liverview.detection.proposals import ProposalFormatError
from liverview.review.auto_recist import AutoRecist, AutoRecistError, auto_recist_best
from liverview.review.detection_runs import plan_run
from liverview.review.proposal_import import ProposalGridError, ProposalImport, import_proposals_file
from liverview.review.review_queue import QueueFilter, ReviewQueue
from liverview.store.records import BoxRecord, ProposalRecord, RecistRecord, StoreChange, StoreError
from liverview.ui.detection.detect_action import DetectionController
from liverview.ui.review.proposal_overlay import ProposalOverlay
from liverview.ui.review.review_keys import ReviewKeys
from liverview.ui.review.review_panel import ReviewPanel
from liverview.ui.review.thumbnails import proposal_centre
from liverview.ui.review.volume_overlay_sync import VolumeOverlaySync
from liverview.ui.window_services import ReviewHost

MIN_FIELD_MM = 80.0  # Zoom to the box shows at least this much anatomy across the smallest pane
REVIEW_KEYS = {"A": "accept", "R": "reject", "E": "edit", "F": "flag", "N": "next", "P": "previous", "U": "undo"}


class ReviewController:
    """Owns the review dock and, per open study, the queue and the proposal overlay.

    ``window`` takes the dock, the Review menu and the keys and parents the dialogs; ``host`` gives the
    open study, the panes and the messages (the main window is both).
    """

    def __init__(self, window: QtWidgets.QMainWindow, host: ReviewHost) -> None:
        self.window = window
        self.host = host
        self.panel = ReviewPanel()
        self.dock = QtWidgets.QDockWidget("Review proposals", window)
        self.dock.setObjectName("dock-review")
        self.dock.setWidget(self.panel)
        self.dock.setMinimumWidth(480)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.queue: ReviewQueue | None = None
        self.overlay: ProposalOverlay | None = None
        self._session = None
        self._unsubscribe = lambda: None
        self._busy = False
        self._recists: dict[int, tuple[str, AutoRecist]] = {}  # proposal id -> (phase, proposed RECIST)
        self._refresh_pending = False
        self._go_to_after_refresh: int | None = None  # a proposal an undo/redo from the Edit menu touched
        # Going past the last proposal (N on it, or a decision on it): the host may open the next study of a
        # worklist and return True; False keeps the reader on this study's last proposal.
        self.on_past_end: Callable[[], bool] = lambda: False
        self.scene_sync = VolumeOverlaySync(host, self._current_id)  # boxes and RECIST axes in the 3D view

        menu = window.menuBar().addMenu("&Review")
        self.menu = menu
        self.detect_action = menu.addAction("Detect lesions")
        self.import_action = menu.addAction("Import proposals (JSON / CSV)...")
        self.import_action.triggered.connect(self._import_dialog)
        self.show_action = self.dock.toggleViewAction()
        self.show_action.setText("Review queue")
        menu.addAction(self.show_action)
        # Application-level: they work wherever the focus is in the window (a filter spin box too).
        self.keys = ReviewKeys(window, REVIEW_KEYS, self.act, enabled=self.dock.isVisible)
        self.panel.on_action = self.act
        self.panel.on_row_chosen = self._row_chosen
        self.panel.on_filter_changed = self._filter_changed

        self.detection = DetectionController(window, host, self.add_imported, self.detect_action)
        self.detect_action.triggered.connect(self.detection.start)
        self.detector_menu = QtWidgets.QMenu("Detector", menu)  # filled when opened: plugins may change
        self.detector_menu.aboutToShow.connect(lambda: self.detection.fill_model_menu(self.detector_menu))
        menu.insertMenu(self.import_action, self.detector_menu)

    # --- per study ---------------------------------------------------------------------------------
    def study_opened(self) -> None:
        """Called by the window once a study and its project session are open: a fresh queue."""
        self._detach()
        self.scene_sync.request()
        session = self.host.session
        if session is None or self.host.study is None:
            self.panel.show_queue([], None, _empty_progress())
            return
        self._session = session
        self.queue = ReviewQueue(session.project, session.study_id, self.panel.current_filter())
        self.overlay = ProposalOverlay(self.host.grid.panes)
        self._unsubscribe = session.project.subscribe(self._on_store_change)
        # The panel describes this study's current proposal (never the last study's); the panes go to it
        # only while the reader is reviewing (dock shown), else the study opens as it would without proposals.
        self._show_current(centre=self.dock.isVisible())
        if self.queue.items:
            self.host.notify(f"{len(self.queue.items)} lesion proposals; {self.queue.progress()} "
                             "(Review > Review queue)")

    def _detach(self) -> None:
        self._unsubscribe()
        self._unsubscribe = lambda: None
        if self.overlay is not None:
            self.overlay.close()
        self.overlay = None
        self.queue = None
        self._session = None
        self._recists.clear()

    def _live(self) -> bool:
        """A queue of the session that is open now (a closed project is never touched)."""
        if self.queue is not None and self._session is not self.host.session:
            self._detach()
        return self.queue is not None

    def _current_id(self) -> int | None:
        """The proposal under review, if any."""
        q = self.queue
        return None if q is None or q.current is None else q.current.id

    @property
    def reference(self) -> Volume | None:
        study = self.host.study
        return None if study is None else study.reference.volume

    # --- proposals in -------------------------------------------------------------------------------
    def _import_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Import lesion proposals", "", "Proposals (*.json *.csv);;All (*)")
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> int:
        """Add the proposals of a proposals.json / CSV file to the study; returns how many were added."""
        if not self._live() or self.reference is None:
            self.host.show_error("Cannot import proposals", "open a study first (with a writable project)")
            return 0
        try:
            imported = import_proposals_file(path, self.reference)
        except (OSError, ProposalFormatError, ProposalGridError, ValueError) as exc:
            self.host.show_error("Could not import the proposals", str(exc))
            return 0
        return self.add_imported(imported, path.name)

    def add_imported(self, imported: ProposalImport, source: str) -> int:
        """Store a new run's proposals: they replace the pending ones of the previous run (decided ones
        stay, and a lesion already decided is not proposed again); the status bar says what happened."""
        if not self._live():
            return 0
        project, study_id = self.queue.project, self.queue.study_id
        plan = plan_run(project.list_proposals(study_id), imported.records)
        try:
            self._busy = True
            saved, removed = project.replace_pending_proposals(study_id, plan.fresh, keep=plan.keep)
        except StoreError as exc:
            self.host.show_error("Could not store the proposals", str(exc))
            return 0
        finally:
            self._busy = False
        for pid in removed:  # ids may be used again by the new run's proposals
            self._recists.pop(pid, None)
        self.refresh(centre=False)
        self.queue.go_to_resume_point()
        self.dock.show()
        self.dock.raise_()  # a tab beside the lesion list: bring it to the front
        self._show_current()
        text = plan.describe(f"{source} ({imported.model})")
        if imported.problems:
            self.host.show_error(f"Imported {text}; {len(imported.problems)} left out",
                                 "\n".join(imported.problems[:30]))
        else:
            self.host.notify(f"Imported {text}")
        return len(saved)

    # --- keys and buttons ---------------------------------------------------------------------------
    def act(self, action: str) -> None:
        if not self._live():
            return
        handlers = {"accept": lambda: self._decide("accepted"), "reject": lambda: self._decide("rejected"),
                    "flag": lambda: self._decide("flagged"), "edit": self.edit, "next": self.next,
                    "previous": self.previous, "undo": self.undo}
        try:
            handlers[action]()
        except StoreError as exc:  # read-only project, conflict: tell, keep the queue as it is
            self.host.show_error(f"Could not {action}", str(exc))
            self.refresh(centre=False)

    def next(self) -> None:
        self._end_decision()
        if self._at_end() and self.on_past_end():
            self._show_current()  # the next study's queue, at its first proposal to review
            return
        self.queue.next()
        self._show_current()

    def _at_end(self) -> bool:
        """The current proposal is the queue's last (or the queue is empty)."""
        q = self.queue
        return q is not None and (q.index is None or q.index >= len(q.items) - 1)

    def previous(self) -> None:
        self._end_decision()
        self.queue.previous()
        self._show_current()

    def _end_decision(self) -> None:
        """The reader moves on: later edits are undo steps of their own."""
        if self.queue is not None:
            self.queue.project.end_undo_group()

    def _decide(self, decision: str) -> None:
        if self.queue.current is None:
            return
        self._end_decision()
        was_last = self._at_end()
        self._busy = True
        try:
            self.queue.decide(decision)
        finally:
            self._busy = False
        self._show_current()
        if was_last and self.on_past_end():  # the decision (stored already) moved past the last proposal
            self._show_current()

    def undo(self) -> None:
        """Undo the last step: a decision (E with the lesion it made and its adjustments is one), or a
        lesion edit made outside the review."""
        self._busy = True
        try:
            change = self.queue.undo()
        finally:
            self._busy = False
        if change is None:
            self.host.notify("Nothing to undo")
        elif change.action == "undo:review-edit":
            self.host.notify(f"Undid the edit of proposal {change.entity_id} and the lesion made from it")
        self._show_current()

    def edit(self) -> None:
        """Make the auto-proposed RECIST a lesion linked to the proposal ('edited') and switch the RECIST
        tool on to adjust it; a proposal already edited selects its lesion again."""
        p = self.queue.current
        session = self.host.session
        if p is None or session is None:
            return
        lesion_id = p.lesion_id
        live = {lesion.id for lesion in session.project.list_lesions(self.queue.study_id)}
        if lesion_id is None or lesion_id not in live:
            phase, proposed = self.recist_for(p)
            box = BoxRecord("3d", p.box.min_mm, p.box.max_mm, p.box.min_ijk, p.box.max_ijk)
            self._busy = True
            try:
                # One decision, one undo step: the lesion, the 'edited' decision and, until the reader moves
                # on, every adjustment of that lesion.
                with session.project.undo_group("review-edit", anchor=("proposal", p.id), keep_open=True):
                    lesion = session.project.add_lesion(
                        self.queue.study_id, p.lesion_class, notes=f"from proposal {p.id} ({p.source_model}), "
                        f"RECIST proposed by {proposed.method}",
                        recist=RecistRecord.from_measurement(proposed.measurement, phase), box=box)
                    self.queue.edited(lesion.id)
            finally:
                self._busy = False
            lesion_id = lesion.id
        self.host.measure_action.setChecked(True)
        session.tool.select(lesion_id)
        self._show_current()

    # --- showing ------------------------------------------------------------------------------------
    def refresh(self, centre: bool = True) -> None:
        """Reload the queue from the project and show it."""
        if not self._live():
            return
        self.queue.reload()
        if centre:
            self._show_current()
        else:
            self._show_list()

    def _show_list(self, redraw: bool = True) -> None:
        q = self.queue
        self.panel.show_queue(q.items, q.index, q.progress())
        self.scene_sync.request()  # the current proposal or the list may have changed
        if self.overlay is not None:
            current = q.current
            self.overlay.set_state(q.items, None if current is None else current.id, redraw=redraw)

    def _show_current(self, centre: bool = True) -> None:
        """The list, the boxes in the panes, the current proposal's description and thumbnails, and (with
        ``centre``) every pane centred on its key slice."""
        q = self.queue
        if q is None:
            return
        p = q.current
        ref = self.reference
        if p is None or ref is None:
            self._show_list()
            self.panel.thumbnails.show_proposal(None, None)
            self.panel.recist_label.setText("")
            return
        self._show_list(redraw=False)
        cached = self._recists.get(p.id)
        shows_recist = p.lesion_id is None
        self.overlay.set_state(recist=cached[1].measurement if cached and shows_recist else None, redraw=False)
        if centre:
            self.centre_on(p)  # panes whose slice changes draw the overlay as they redraw
        self.overlay.redraw_all()  # the others (same slice) now; none is drawn twice
        self._describe(p, cached)
        # Thumbnails and the RECIST proposal come right after, from the event loop: the panes first.
        QtCore.QTimer.singleShot(0, lambda pid=p.id: self._after_navigation(pid))

    def _after_navigation(self, proposal_id: int) -> None:
        q = self.queue
        if q is None or q.current is None or q.current.id != proposal_id:
            return  # the reviewer has moved on
        pane = self.host.grid.active_pane() or (self.host.grid.panes[0] if self.host.grid.panes else None)
        window = None if pane is None else (pane.pane_view.window_center, pane.pane_view.window_width)
        self.panel.thumbnails.show_proposal(q.current, self.reference, window)
        if proposal_id not in self._recists:
            self._propose_later(proposal_id)

    def centre_on(self, p: ProposalRecord) -> None:
        ref = self.reference
        if ref is None:
            return
        point = proposal_centre(p, ref)
        state = self.host.state
        state.centre_on(point)
        if self.panel.zoom_box.isChecked() and self.host.grid.panes:
            state.set_zoom(self.host.grid.panes[0].pane_id, self.box_zoom(p), origin="programmatic")

    def box_zoom(self, p: ProposalRecord, fraction: float = 1 / 3) -> float:
        """Pixels per mm at which the box's largest side spans ``fraction`` of the smallest pane, while the
        pane still shows at least MIN_FIELD_MM of anatomy (a small lesion is judged by its surroundings),
        and never less than the zoom that fits the whole volume."""
        panes = self.host.grid.panes
        size_mm = max(max(b - a for a, b in zip(p.box.min_mm, p.box.max_mm)), 1.0)
        side_px = max(min(min(pane.viewbox.width(), pane.viewbox.height()) for pane in panes), 50.0)
        field_mm = max(size_mm / fraction, MIN_FIELD_MM)
        return max(side_px / field_mm, min(pane.fit_zoom() for pane in panes))

    def _describe(self, p: ProposalRecord, cached: tuple[str, AutoRecist] | None) -> None:
        text = f"Proposal {p.id}: score {p.score:.3f}, {p.lesion_class}, {p.status}, slice " \
               f"{'' if p.key_slice is None else p.key_slice + 1}, model {p.source_model}"
        lesion = self._linked_lesion(p)
        if lesion is not None and lesion.recist is not None:
            r = lesion.recist
            short = f" x {r.short_mm:.1f}" if r.short_mm is not None else ""
            text += f"\nLesion {lesion.id}: RECIST {r.long_mm:.1f}{short} mm ({r.phase}), as measured now"
        elif cached is not None:
            phase, r = cached
            m = r.measurement
            how = "segmented" if r.method == "segmented" else "box ellipse: no clear lesion edge, adjust it"
            text += f"\nProposed RECIST {m.long_axis_mm:.1f} x {m.short_axis_mm:.1f} mm ({phase}, {how})"
        self.panel.recist_label.setText(text)

    def _linked_lesion(self, p: ProposalRecord):
        """The live lesion made from the proposal (E), or None."""
        if p.lesion_id is None or self._session is None:
            return None
        try:
            lesion = self._session.project.get_lesion(p.lesion_id)
        except StoreError:
            return None
        return None if lesion.deleted else lesion

    def _propose_later(self, proposal_id: int) -> None:
        q = self.queue
        if q is None or q.current is None or q.current.id != proposal_id:
            return  # the reviewer has moved on
        try:
            self.recist_for(q.current)
        except (AutoRecistError, ValueError) as exc:
            self.panel.recist_label.setText(f"No RECIST proposed: {exc}")
            return
        p = q.current
        cached = self._recists[p.id]
        if self.overlay is not None and p.lesion_id is None:
            self.overlay.set_recist(cached[1].measurement)
        self._describe(p, cached)

    def recist_for(self, p: ProposalRecord) -> tuple[str, AutoRecist]:
        """The RECIST proposed from the image in the box (cached): from the phases on the reference grid
        (the reference, and registered copies), the one with the clearest lesion."""
        if p.id in self._recists:
            return self._recists[p.id]
        study = self.host.study
        ref = study.reference.volume
        candidates: list[tuple[str, Volume]] = [(study.reference.kind.value, ref)]
        for n, pane in enumerate(self.host.grid.panes):
            # Only phases registered onto the reference grid: an unregistered phase is off by the breathing.
            if n != study.reference_index and n < len(study.phases) and pane.status_text == "registered" \
                    and pane.volume.same_grid(ref):
                candidates.append((study.phases[n].kind.value, pane.volume))
        key = p.key_slice if p.key_slice is not None else (p.box.min_ijk[2] + p.box.max_ijk[2]) // 2
        best, result = auto_recist_best([v for _, v in candidates], (p.box.min_ijk, p.box.max_ijk), key)
        self._recists[p.id] = (candidates[best][0], result)
        return self._recists[p.id]

    # --- panel callbacks ----------------------------------------------------------------------------
    def _row_chosen(self, index: int) -> None:
        if self._live():
            self._end_decision()
            self.queue.go_to(index)
            self._show_current()

    def _filter_changed(self, new_filter: QueueFilter) -> None:
        if self._live():
            self.queue.set_filter(new_filter)
            self._show_current()

    def _on_store_change(self, change: StoreChange) -> None:
        """Edits made elsewhere (Ctrl+Z in the Edit menu, a detection finishing) reach the list."""
        self.scene_sync.request()  # lesion edits too: their RECIST axes are drawn in 3D
        if self._busy:
            return
        current = self.queue.current if self.queue is not None else None
        if change.entity == "lesion" and current is not None and current.lesion_id == change.entity_id:
            self._describe(current, self._recists.get(current.id))  # its RECIST was adjusted
        if change.action.startswith(("undo:", "redo:")) and change.entity == "proposal" \
                and change.entity_id is not None:
            # Ctrl+Z / Edit > Redo on a decision: the queue goes to the proposal it touched, as U does.
            self._go_to_after_refresh = change.entity_id
        if self._refresh_pending:
            return
        if change.entity in ("proposal", "study") or change.action.startswith(("undo:decide", "redo:decide")):
            self._refresh_pending = True
            QtCore.QTimer.singleShot(0, self._deferred_refresh)

    def _deferred_refresh(self) -> None:
        self._refresh_pending = False
        target, self._go_to_after_refresh = self._go_to_after_refresh, None
        if not self._live():
            return
        if target is None:
            self.refresh(centre=False)
            return
        self.queue.reload()
        self.queue.go_to_id(target)
        self._show_current(centre=self.dock.isVisible())


def _empty_progress():
    from liverview.review.review_queue import ReviewProgress

    return ReviewProgress(0, 0, 0)
