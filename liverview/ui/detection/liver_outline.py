"""View > Liver outline: the registry's liver segmenter run in the background on the open CT study, its mask
outlined in every pane and its volume (mL; its area in cm² when the study has one slice) stated in the Messages
panel and in a status-bar label.

A study's mask is computed once: it is kept in a ``LiverMaskCache`` shared with Review > Detect lesions,
so a mask the detector's liver filter already made is drawn at once, and one made here is reused there.
Unchecking the action, or Cancel in its progress bar, stops a running segmentation; nothing is drawn then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from liverview.core.study import PhaseKind, Study
from liverview.core.volume import Volume
from liverview.detection.liver_mask_cache import CachingLiverSegmenter, LiverMaskCache
from liverview.measure.mask_volume import mask_size_text, mask_volume_ml
from liverview.plugin_registry import Contribution, PluginError, discover_plugins
from liverview.ui.detection.detect_action import DetectionUnavailable, detector_inputs
from liverview.ui.job_bar import JobBar
from liverview.ui.panes.mask_outline_overlay import LIVER_COLOR, MaskOutlineOverlay
from liverview.ui.window_services import StudyHost
from liverview.ui.workers import Job, JobRunner

if TYPE_CHECKING:
    from liverview.ui.pane_grid import PaneGrid


class OutlineHost(StudyHost, Protocol):
    """The open study, its panes and the messages (the main window)."""

    @property
    def grid(self) -> PaneGrid: ...


@dataclass(frozen=True)
class LiverMask:
    """A study's liver mask (on the reference grid), its volume and where it came from."""

    mask: Volume
    volume_ml: float
    model: str
    reused: bool  # taken from the cache (made by the detector's liver filter or an earlier outline)


def liver_inputs(study: Study) -> tuple[dict[PhaseKind, Volume], PhaseKind, str]:
    """The volumes the detector is given (so both find the same cached mask), and a note on the phase.
    A multi-phase study whose reference phase is unknown is segmented on the reference alone, taken as
    portal venous: the segmenter finds the liver's intensity from the image, not from the phase name."""
    try:
        return detector_inputs(study)
    except DetectionUnavailable:
        note = "the reference phase is unknown: the liver is segmented on the reference series alone"
        return {PhaseKind.PORTAL_VENOUS: study.reference.volume}, PhaseKind.PORTAL_VENOUS, note


class LiverOutlineController:
    """Owns View > Liver outline: one segmentation at a time, the outline overlay and the volume label.

    ``menu`` gets the checkable action; ``masks`` is shared with the detection; ``plugin_dirs`` as for the
    registry (None: the bundled plugins and installed packages)."""

    def __init__(self, window: QtWidgets.QMainWindow, host: OutlineHost, menu: QtWidgets.QMenu,
                 masks: LiverMaskCache, plugin_dirs: list[Path] | None = None) -> None:
        self.host = host
        self.masks = masks
        self.plugin_dirs = plugin_dirs
        self.action = QtGui.QAction("Liver outline", window)
        self.action.setCheckable(True)
        self.action.setEnabled(False)  # until a study is open
        self.action.setToolTip("Outline the liver (liver-segmenter plugin) in every pane and state its volume")
        self.action.toggled.connect(self._toggled)
        menu.addAction(self.action)
        self.label = QtWidgets.QLabel()
        r, g, b = LIVER_COLOR
        self.label.setStyleSheet(f"color: rgb({r}, {g}, {b}); font-weight: bold; padding: 0 6px;")
        self.label.setToolTip("Volume of the liver mask outlined in the panes")
        self.label.hide()
        self.bar = JobBar()  # its own bar: it can run beside a registration or a detection
        window.statusBar().addPermanentWidget(self.label)
        window.statusBar().addPermanentWidget(self.bar)
        self.runner = JobRunner(max_threads=1)
        self.job: Job | None = None
        self.overlay: MaskOutlineOverlay | None = None
        self.shown: LiverMask | None = None
        window.installEventFilter(_CloseWatcher(window, self.runner))

    # --- the action ----------------------------------------------------------------------------
    def study_opened(self) -> None:
        """Called by the window after another study was opened: the old outline and job go; a checked
        action outlines the new study."""
        self._stop()
        self._remove_overlay()
        self.action.setEnabled(self.host.study is not None)
        if self.action.isChecked():
            self.show()

    def _toggled(self, on: bool) -> None:
        if on:
            self.show()
        else:
            self._stop()
            self._remove_overlay()

    def show(self) -> Job | None:
        """Outline the open study's liver: at once from the cache, else from a background job (returned)."""
        study = self.host.study
        if study is None:
            self._give_up("No liver outline", "open a CT study first")
            return None
        if self.job is not None and not self.job.done:
            return self.job
        volumes, reference, note = liver_inputs(study)
        cached = self.masks.get(volumes, reference)
        if cached is not None:
            self._done(study, LiverMask(cached, mask_volume_ml(cached), "", reused=True), note)
            return None
        try:
            contribution = discover_plugins(self.plugin_dirs).resolve("liver-segmenter", None)
            contribution.load()  # an uninstalled module is reported now, not from the worker
        except PluginError as exc:
            self._give_up("Liver outline unavailable", str(exc))
            return None
        masks = self.masks

        def work(progress, cancelled, c: Contribution = contribution) -> LiverMask:
            progress(0.0)
            segmenter = CachingLiverSegmenter(c.create(device="cpu"), masks)
            mask = segmenter.segment(volumes, reference, progress=progress, cancelled=cancelled)
            return LiverMask(mask, mask_volume_ml(mask), segmenter.name, reused=False)

        job = self.runner.start("Segmenting the liver", work)
        self.job = job
        self.bar.track(job)
        job.succeeded.connect(lambda result, s=study, j=job: self._finished(j, s, result, note))
        job.failed.connect(lambda msg, j=job: self._failed(j, msg))
        job.cancelled.connect(lambda j=job: self._cancelled(j))
        self.host.notify("Segmenting the liver in the background..." + (f" ({note})" if note else ""))
        return job

    # --- results -------------------------------------------------------------------------------
    def _finished(self, job: Job, study: Study, result: LiverMask, note: str) -> None:
        if job is not self.job or study is not self.host.study or not self.action.isChecked():
            return  # another study was opened, or the outline turned off, meanwhile
        self._done(study, result, note)

    def _done(self, study: Study, result: LiverMask, note: str) -> None:
        self._remove_overlay()
        if result.volume_ml <= 0:
            self._give_up("No liver outline", "the liver segmenter returned an empty mask")
            return
        self.overlay = MaskOutlineOverlay(self.host.grid.panes, result.mask)
        self.shown = result
        size = mask_size_text(result.mask)
        self.label.setText(f"Liver {size}")
        self.label.show()
        source = "the mask already computed for this study" if result.reused else result.model
        what = "area" if result.mask.array.shape[0] == 1 else "volume"
        self.host.notify(f"Liver {what} {size}, from {source}" + (f"; {note}" if note else ""))

    def _failed(self, job: Job, message: str) -> None:
        if job is self.job:
            self._give_up("Liver outline unavailable", f"could not segment the liver: {message}")

    def _cancelled(self, job: Job) -> None:
        if job is not self.job:
            return
        self.host.notify("Liver segmentation cancelled; no outline drawn")
        self._uncheck()

    def _give_up(self, title: str, text: str) -> None:
        """Say why, draw nothing, and leave the action unchecked so it reads what is shown."""
        self._remove_overlay()
        self.host.show_error(title, text)
        self._uncheck()

    def _uncheck(self) -> None:
        blocked = self.action.blockSignals(True)  # unchecking must not start or stop anything else
        self.action.setChecked(False)
        self.action.blockSignals(blocked)

    def _stop(self) -> None:
        if self.job is not None and not self.job.done:
            self.job.cancel()
        self.job = None

    def _remove_overlay(self) -> None:
        if self.overlay is not None:
            self.overlay.close()
        self.overlay = None
        self.shown = None
        self.label.hide()
        self.label.clear()


class _CloseWatcher(QtCore.QObject):
    """Cancel and wait for a running segmentation when the window closes."""

    def __init__(self, window: QtWidgets.QWidget, runner: JobRunner) -> None:
        super().__init__(window)
        self.runner = runner

    def eventFilter(self, obj: Any, event: QtCore.QEvent) -> bool:  # noqa: N802
        if event.type() == QtCore.QEvent.Type.Close:
            self.runner.cancel_all()
            self.runner.wait(10000)
        return False
