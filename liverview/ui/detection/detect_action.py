"""Review > Detect lesions: the detector plugin found through the registry, run off the UI thread with a
progress bar and Cancel; its proposals are stored in the project and shown in the review dock (sorted
by score) and as boxes in every pane.

The detector is the registry's default ``detector`` contribution, or the one chosen in Review > Detector;
it is created through ``Contribution.create`` and follows ``liverview.plugin_api.LesionDetector``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from PySide6 import QtCore, QtGui, QtWidgets

from liverview.core.study import PhaseKind, Study
from liverview.detection.liver_filter import readable_proposals
from liverview.detection.liver_mask_cache import CachingLiverSegmenter, LiverMaskCache
from liverview.detection.proposals import ProposalSet
from liverview.plugin_registry import Contribution, ContributionNotFoundError, PluginError, discover_plugins
from liverview.review.proposal_import import ProposalGridError, ProposalImport, records_from_set
from liverview.ui.annotation_session import read_only_reason
from liverview.ui.job_bar import JobBar
from liverview.ui.window_services import StudyHost
from liverview.ui.workers import Job, JobRunner

AddProposals = Callable[[ProposalImport, str], int]  # (proposals, where they came from) -> how many were added


class DetectionUnavailable(RuntimeError):
    """No detector plugin can be used; the message says why and what to install."""


def find_detector(plugin_dirs: list[Path] | None = None, name: str | None = None) -> Contribution:
    """The registry's detector called ``name``, or its default detector."""
    try:
        return discover_plugins(plugin_dirs).resolve("detector", name)
    except ContributionNotFoundError as exc:
        raise DetectionUnavailable(str(exc)) from None


def detector_names(plugin_dirs: list[Path] | None = None) -> list[tuple[str, str, bool]]:
    """(name, title, is default) of every detector the registry offers, the default first."""
    catalog = discover_plugins(plugin_dirs)
    found = catalog.contributions("detector")
    if not found:
        return []
    default = catalog.resolve("detector").name
    rows = [(c.name, c.title, c.name == default) for c in found]
    return sorted(rows, key=lambda r: not r[2])


def detector_inputs(study: Study) -> tuple[dict[PhaseKind, Any], PhaseKind, str]:
    """One volume per known phase (the first of each kind), the reference phase's kind, and a line saying
    which phase the detector is given when the reader has not confirmed it (empty when confirmed).

    A single series of unknown phase is given as portal venous, the usual single-phase liver CT; in a
    study of several phases an unknown reference cannot be guessed: DetectionUnavailable says where to
    set it."""
    ref = study.reference
    if ref.kind is PhaseKind.UNKNOWN:
        if len(study.phases) > 1:
            raise DetectionUnavailable(
                f"the contrast phase of the reference series ('{ref.description or ref.label}') is unknown: "
                "set it in the list at the top of its pane, then Detect again")
        note = (f"the phase of this series is unknown ({ref.kind_reason or 'no tag names it'}): detecting on it "
                "as portal venous; set the phase in the pane header and Detect again if it is another")
        return {PhaseKind.PORTAL_VENOUS: ref.volume}, PhaseKind.PORTAL_VENOUS, note
    volumes: dict[PhaseKind, Any] = {}
    for phase in study.phases:
        if phase.kind is not PhaseKind.UNKNOWN:
            volumes.setdefault(phase.kind, phase.volume)
    unsure = [p for p in study.phases if p.kind is not PhaseKind.UNKNOWN and not p.kind_confirmed]
    note = ""
    if unsure:
        said = "; ".join(f"{p.kind.value} inferred ({p.kind_reason})" for p in unsure)
        note = f"detecting on {', '.join(k.value for k in volumes)}: {said}; confirm or change it in the pane header"
    return volumes, ref.kind, note


class DetectionController:
    """Starts one detection at a time for the open study; results go to ``add_proposals`` (the review).

    ``window`` holds the progress bar in its status bar and cancels a running detection as it closes;
    ``host`` gives the open study and tells the user; ``action`` (Detect lesions) is off while one runs.
    """

    def __init__(self, window: QtWidgets.QMainWindow, host: StudyHost, add_proposals: AddProposals,
                 action: QtGui.QAction, plugin_dirs: list[Path] | None = None) -> None:
        self.host = host
        self.add_proposals = add_proposals
        self.action = action
        self.plugin_dirs = plugin_dirs
        self.model_name: str | None = None  # None: the registry's default detector
        self.last_notes: list[str] = []  # what the liver filter and the cap dropped, shown after a run
        self.run_note = ""  # which phase the running detection was given when the reader has not confirmed it
        self.runner = JobRunner(max_threads=1)
        self.job: Job | None = None
        self.bar = JobBar()  # its own bar: a detection can run beside a registration
        window.statusBar().addPermanentWidget(self.bar)
        self.last_result: ProposalSet | None = None
        self.factory_override: Callable[..., Any] | None = None  # tests: a detector factory to use instead
        # Liver masks by study, shared with View > Liver outline: the filter reuses one drawn there and keeps its own
        self.liver_masks = LiverMaskCache()
        window.installEventFilter(_CloseWatcher(window, self))

    def start(self) -> Job | None:
        study = self.host.study
        if study is None:
            self.host.show_error("Nothing to detect on", "open a study first")
            return None
        if self.host.session is None:
            self.host.show_error("Cannot store detections", "the study's project is not open; "
                                 "detections could not be saved")
            return None
        if self.host.session.project.read_only:  # refuse before the run, not when storing its results
            self.host.show_error("Cannot store detections", read_only_reason(self.host.session.project))
            return None
        if self.job is not None and not self.job.done:
            return self.job
        try:
            if self.factory_override is not None:
                make = self.factory_override
            else:
                contribution = find_detector(self.plugin_dirs, self.model_name)
                if contribution.weights is not None and not contribution.weights.is_file():
                    raise DetectionUnavailable(
                        f"the weights of '{contribution.title}' ({contribution.plugin}) are not there yet: "
                        f"{contribution.weights}. Train them (see its model card) or import "
                        "proposals from a file (Review > Import proposals).")
                contribution.load()  # an uninstalled module is reported now, not from the worker

                def make(device: str = "auto", c: Contribution = contribution) -> Any:
                    return c.create(device=device)
            volumes, reference, phase_note = detector_inputs(study)
        except (DetectionUnavailable, PluginError) as exc:
            self.host.show_error("Lesion detection unavailable", str(exc))
            return None

        def work(progress, cancelled):
            progress(0.0)
            detector = make(device="auto")
            if cancelled():
                return None
            result = detector.detect(volumes, reference, progress=progress, cancelled=cancelled)
            name = str(getattr(detector, "name", "") or "detector")
            result = result if result.model else dataclasses.replace(result, model=name)
            result, notes = readable_proposals(result, volumes, reference, self._liver_segmenter())
            self.last_notes = notes
            return result

        job = self.runner.start("Detecting lesions", work)
        self.job = job
        self.bar.track(job)
        self.action.setEnabled(False)
        job.succeeded.connect(lambda result, s=study: self._done(s, result))
        job.failed.connect(lambda msg: self.host.show_error("Lesion detection failed", msg))
        job.cancelled.connect(lambda: self.host.notify("Lesion detection cancelled; nothing was stored"))
        job.ended.connect(self._ended)
        self.run_note = phase_note
        self.host.notify("Detecting lesions in the background..." + (f" ({phase_note})" if phase_note else ""))
        return job

    def _liver_segmenter(self) -> Any:
        """The registry's liver segmenter, or None (then proposals are not filtered, and a note says so)."""
        try:
            segmenter = discover_plugins(self.plugin_dirs).resolve("liver-segmenter").create(device="cpu")
            return CachingLiverSegmenter(segmenter, self.liver_masks)
        except PluginError as exc:
            self.last_notes = [f"no liver segmenter: {exc}"]
            return None

    def fill_model_menu(self, menu: QtWidgets.QMenu) -> None:
        """One checkable entry per detector of the registry; the checked one runs on Detect lesions."""
        menu.clear()
        group = QtGui.QActionGroup(menu)
        rows = detector_names(self.plugin_dirs)
        for name, title, is_default in rows:
            action = menu.addAction(f"{title} ({name})" + (" - default" if is_default else ""))
            action.setCheckable(True)
            action.setChecked(name == self.model_name or (self.model_name is None and is_default))
            action.setData(name)
            group.addAction(action)
            action.triggered.connect(lambda _=False, n=name: self.choose_model(n))
        if not rows:
            menu.addAction("(no detector installed)").setEnabled(False)

    def choose_model(self, name: str | None) -> None:
        self.model_name = name
        self.host.notify(f"Detect lesions will use the detector '{name or 'default'}'")

    def _ended(self) -> None:
        self.action.setEnabled(True)

    def _done(self, study: Study, result: ProposalSet | None) -> None:
        if result is None or study is not self.host.study:
            return  # cancelled at the start, or the user opened another study meanwhile
        self.last_result = result
        try:
            imported = records_from_set(result, study.reference.volume, source=f"detector {result.model}")
        except ProposalGridError as exc:
            self.host.show_error("Detections do not fit the study", str(exc))
            return
        added = self.add_proposals(imported, "the detector")
        notes = self.last_notes + ([self.run_note] if self.run_note else [])
        if added == 0 and not imported.records:
            self.host.notify(f"The detector ({result.model}) found no lesion"
                             + (f" ({'; '.join(notes)})" if notes else ""))
        elif notes:
            self.host.notify("; ".join(notes))


class _CloseWatcher(QtCore.QObject):
    """Cancel and wait for a running detection when the window closes."""

    def __init__(self, window: QtWidgets.QWidget, controller: DetectionController) -> None:
        super().__init__(window)
        self.controller = controller

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QtCore.QEvent.Type.Close:
            self.controller.runner.cancel_all()
            self.controller.runner.wait(10000)
        return False
