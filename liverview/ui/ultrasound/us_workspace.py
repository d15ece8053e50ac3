"""The ultrasound workspace: segment and classify a lesion with clicks, and save it to the project.

Left click = foreground, right click = background, left drag = box (1 foreground + 4 background clicks),
Ctrl+Z = take back the last click (or box), Esc = clear, Ctrl+S = save. Every interaction asks the
segmenter for a new mask in a background thread that always runs the newest request; the UI never
waits for it, and a result overtaken by a newer interaction is dropped (request ids, see
liverview.annotate.us_session). The mask is shown as soon as it exists; its exact measurements
(area, RECIST long/short diameters: up to a few hundred ms for a large lesion) follow from a second
background thread, so they never delay the mask. The segmenter is found through the plugin registry.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.annotate.us_segmenter import described_contribution, load_us_segmenter, us_segmenter_contributions
from liverview.annotate.us_session import PredictionRequest, UsSession, UsSessionError
from liverview.io.export.us_export import (
    US_DEFAULT_SUFFIX, US_EXPORT_FORMATS, ExportError, ExportResult, export_us_annotations, find_us_study,
)
from liverview.measure.recist import EmptyMaskError
from liverview.plugin_registry import discover_plugins
from liverview.store.project import Project, ProjectLockedError
from liverview.store.records import LesionRecord, StoreError
from liverview.store.ultrasound import (
    UsLesionResult,
    default_us_project_path,
    ensure_us_study,
    save_us_lesion,
    us_recist,
)
from liverview.ui.messages import show_warning
from liverview.ui.ultrasound.class_bars import ClassProbabilityBars
from liverview.ui.ultrasound.class_choice import ClassChoice
from liverview.ui.ultrasound.latest_worker import LatestOnlyWorker
from liverview.ui.ultrasound.us_canvas import MaskOverlay, UsCanvas, mask_overlay
from liverview.us.checked_prediction import checked_predict
from liverview.us.clicks import BOX_CLICK_COUNT, Click, box_of_clicks
from liverview.us.local_correction import correct_shown_mask
from liverview.us.image import UsImage, UsImageError, load_us_image
from liverview.us.measure import MaskMeasurement

BOX_FIT_KEY = "ultrasound/box_fit"  # QSettings key of the "Box = lesion edges" choice
IMAGE_FILTER = "Ultrasound images (*.dcm *.dicom *.png *.jpg *.jpeg *.bmp);;All files (*)"
HELP = ("Left click: lesion (foreground)   Right click: background   Drag: box to the lesion's edges\n"
        "Ctrl+Z: undo last click   Esc: new lesion   Ctrl+S: save (asks for the class; again: update)")


@dataclass(frozen=True)
class _Work:
    """What the background thread gets: the request, the pixels of its frame, the pixel size."""

    session: UsSession  # results of an image closed meanwhile are dropped by identity
    request: PredictionRequest
    frame: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None
    submitted_at: float  # perf_counter() when the user's interaction arrived
    model_loading: bool  # the segmenter was not loaded yet when the user asked: the wait includes it
    box_fit: bool = True  # a box's mask is fitted to the box (its sides drawn at the lesion's edges)


@dataclass(frozen=True)
class UsResult:
    """A finished prediction with everything the UI shows, computed off the UI thread."""

    prediction: Any  # the segmenter's UsPrediction (mask, class_probs, malignant_prob, time_ms)
    overlay: MaskOverlay | None  # None for an empty mask
    frame_index: int
    submitted_at: float
    model_name: str
    session: UsSession
    model_loading: bool = False
    clicks: tuple[Click, ...] = ()  # the clicks it was segmented from
    label_mode: str = "four-class"  # "benign-malignant": the model knows no lesion class
    corrected_mask: np.ndarray | None = field(default=None, compare=False, repr=False)  # see mask

    @property
    def mask(self) -> np.ndarray:
        """The lesion mask shown (the session hands it to the next interaction as its prior): the
        segmenter's, or, for a correction, the shown mask corrected as liverview.us.local_correction says."""
        return np.asarray(self.prediction.mask if self.corrected_mask is None else self.corrected_mask, bool)

    @property
    def class_probs(self) -> dict[str, float]:
        """The lesion-class probabilities, empty when the model was trained without classes."""
        return dict(self.prediction.class_probs) if self.label_mode == "four-class" else {}


def click_count_text(clicks: Sequence[Click]) -> str:
    """What the reader did, in their terms: a box (the five clicks it stands for are not the reader's) and clicks."""
    box = box_of_clicks(list(clicks[:BOX_CLICK_COUNT])) is not None
    rest = list(clicks[BOX_CLICK_COUNT:] if box else clicks)
    fg = sum(c.positive for c in rest)
    counted = f"{fg} foreground, {len(rest) - fg} background"
    if box:
        return f"Box + clicks: {counted}" if rest else "Box"
    return f"Clicks: {counted}"


class UsWorkspace(QtWidgets.QMainWindow):
    """A window on one ultrasound image or cine. Give ``segmenter`` (anything with ``predict(image,
    clicks)`` and ``name``) or let it be loaded from the plugin registry on the first click."""

    mask_shown = QtCore.Signal(float)  # click -> mask on screen, ms
    lesion_saved = QtCore.Signal(object)  # LesionRecord

    def __init__(self, segmenter: Any = None, project: Project | None = None, project_path: Path | None = None,
                 project_root: Path | None = None, user: str | None = None, device: str = "auto",
                 weights: Path | None = None, plugin_dirs: list[Path] | None = None,
                 settings: QtCore.QSettings | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("LiverView - ultrasound")
        self._settings = settings  # keeps the reader's box habit ("Box = lesion edges") between sessions
        self.resize(1200, 780)
        self.image: UsImage | None = None
        self.session: UsSession | None = None
        self.messages: list[str] = []  # every message shown to the user, newest last
        self.latencies_ms: list[float] = []  # click -> mask shown, one per displayed result
        self.inference_ms: list[float] = []
        self.dropped_results = 0  # results that arrived after a newer interaction
        self.saved_lesions: list[LesionRecord] = []
        self._lesion_id: int | None = None  # the lesion these clicks were saved as: saving again updates it
        self._confirm_armed = False  # Ctrl+S asked the reader to confirm the class; the next one saves
        self.measurement: MaskMeasurement | None = None  # of the mask shown, once measured
        self._segmenter = segmenter
        self._caller_segmenter = segmenter is not None  # given by the caller, not from the registry
        self.plugin_dirs = plugin_dirs  # None: the app's plugins folder and installed plugins

        self._weights = weights
        self._choice = 0  # which US segmenter of the registry (the model combo)
        self._device = device
        self._segmenter_error_shown = False
        self._shared_project = project  # owned by the caller: never closed here
        self._own_project: Project | None = None
        self._project_path = project_path
        self._project_root = project_root
        self.user = user or getpass.getuser()
        self.worker = LatestOnlyWorker(self._predict, name="us-inference")
        self.worker.finished.connect(self._on_result)
        self.worker.failed.connect(self._on_failure)
        self.measure_worker = LatestOnlyWorker(_measure, name="us-measure")
        self.measure_worker.finished.connect(self._on_measured)
        self.measure_worker.failed.connect(self._on_measure_failure)
        self._build()

    # --- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.canvas = UsCanvas()
        self.canvas.clicked = self.click
        self.canvas.box_started = self._box_started
        self.canvas.box_moved = self._box_moved
        self.canvas.box_finished = self._box_finished
        self.frame_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.frame_slider.setMinimum(0)
        self.frame_slider.valueChanged.connect(self.set_frame)
        self.frame_label = QtWidgets.QLabel()
        frame_row = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(frame_row)
        row.setContentsMargins(4, 0, 4, 0)
        row.addWidget(QtWidgets.QLabel("Frame"))
        row.addWidget(self.frame_slider, 1)
        row.addWidget(self.frame_label)
        self.frame_row = frame_row
        self.placeholder = QtWidgets.QLabel(
            "Open an ultrasound image (DICOM US, PNG, JPEG, BMP) from the File menu, or drop it here.")
        self.placeholder.setWordWrap(True)  # a long line would set the window's minimum width
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        centre = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.placeholder)
        column.addWidget(self.canvas, 1)
        column.addWidget(frame_row)
        self.setCentralWidget(centre)

        side = QtWidgets.QWidget()
        side.setMinimumWidth(300)
        panel = QtWidgets.QVBoxLayout(side)
        panel.addWidget(QtWidgets.QLabel("Model"))
        self.model_combo = QtWidgets.QComboBox()
        self.model_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(20)
        self.model_info = QtWidgets.QLabel()  # the active model's validated figures, from its card
        self.model_info.setWordWrap(True)
        self.model_info.setStyleSheet("color: #555; font-size: 11px;")
        self.model_info.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self._fill_models()
        self.model_combo.currentIndexChanged.connect(self.choose_model)
        panel.addWidget(self.model_combo)
        panel.addWidget(self.model_info)
        self.box_fit_check = QtWidgets.QCheckBox("Box = lesion edges (contour fills the box)")
        kept = self._settings.value(BOX_FIT_KEY, True, type=bool) if self._settings is not None else True
        self.box_fit_check.setChecked(bool(kept))
        self.box_fit_check.setToolTip("On: a dragged box is read as the lesion's extent and the contour is fitted "
                                      "to touch its four sides. Off: for a box drawn with room around the lesion, "
                                      "the contour is left as the model draws it.")
        self.box_fit_check.toggled.connect(self.set_box_fit)
        panel.addWidget(self.box_fit_check)
        box = QtWidgets.QGroupBox("Class probability")
        box_layout = QtWidgets.QVBoxLayout(box)
        box_layout.addWidget(bars := ClassProbabilityBars())
        self.class_bars = bars
        self.class_note = QtWidgets.QLabel()  # how far the class scores can be trusted
        self.class_note.setWordWrap(True)
        self.class_note.setStyleSheet("color: #555; font-size: 11px;")
        box_layout.addWidget(self.class_note)
        panel.addWidget(box)
        self.class_choice = ClassChoice()  # what is saved: the reader's class, the model's preselected
        self.class_combo = self.class_choice.combo
        self.class_choice.on_changed = self._update_save_button
        panel.addWidget(self.class_choice)
        # the decision right under the class it saves: on a short window it stays in view, the measurements scroll
        self.save_button = QtWidgets.QPushButton("Save lesion (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        panel.addWidget(self.save_button)
        self._show_model_info()
        measure_box = QtWidgets.QGroupBox("Measurements")
        self.measure_label = QtWidgets.QLabel("-")
        self.measure_label.setWordWrap(True)
        self.measure_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        # room for all four lines from the start, so the panel neither clips nor jumps as results come
        self.measure_label.setMinimumHeight(self.measure_label.fontMetrics().lineSpacing() * 4 + 4)
        self.measure_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        QtWidgets.QVBoxLayout(measure_box).addWidget(self.measure_label)
        panel.addWidget(measure_box)
        self.units_label = QtWidgets.QLabel()
        self.units_label.setWordWrap(True)
        # its text comes with the image; the scroll area sizes the panel by minimum heights, which a wrapped label
        # does not raise by itself, so without room reserved the layout squeezed it under the measurements
        self.units_label.setMinimumHeight(self.units_label.fontMetrics().lineSpacing() * 3 + 4)
        self.units_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        panel.addWidget(self.units_label)
        self.clicks_label = QtWidgets.QLabel()
        panel.addWidget(self.clicks_label)
        help_label = QtWidgets.QLabel(HELP.replace("   ", "\n"))
        help_label.setStyleSheet("color: #888;")
        panel.addWidget(help_label)
        panel.addStretch(1)
        dock = QtWidgets.QDockWidget("Lesion", self)
        dock.setObjectName("dock-us-lesion")
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        # scrolled rather than squeezed: on a short window the layout would otherwise shrink the class bars and
        # their note until the text overlaps
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(side)
        scroll.setMinimumWidth(side.minimumWidth() + scroll.verticalScrollBar().sizeHint().width())
        dock.setWidget(scroll)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)

        self.latency_label = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.latency_label)

        file_menu = self.menuBar().addMenu("&File")
        open_action = file_menu.addAction("Open ultrasound image...")
        open_action.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._open_dialog)
        self.save_action = file_menu.addAction("Save lesion")
        self.save_action.setShortcut(QtGui.QKeySequence("Ctrl+S"))
        self.save_action.triggered.connect(self.save_key)
        self.export_action = file_menu.addAction("Export lesions...")
        self.export_action.triggered.connect(lambda: self.export_lesions())
        file_menu.addSeparator()
        file_menu.addAction("Close").triggered.connect(self.close)
        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = edit_menu.addAction("Undo last click")
        self.undo_action.setShortcut(QtGui.QKeySequence("Ctrl+Z"))
        self.undo_action.triggered.connect(self.undo)
        self.clear_action = edit_menu.addAction("Clear clicks")
        self.clear_action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Escape))
        self.clear_action.triggered.connect(self.clear)
        self._show_image_widgets(False)
        self._update_side()

    def _show_image_widgets(self, on: bool) -> None:
        self.placeholder.setVisible(not on)
        self.canvas.setVisible(on)
        self.frame_row.setVisible(on and self.image is not None and self.image.n_frames > 1)

    # --- messages --------------------------------------------------------------------------------
    def notify(self, text: str) -> None:
        self.messages.append(text)
        self.statusBar().showMessage(text, 15000)

    def show_error(self, title: str, text: str) -> None:
        """A clear, non-blocking message; what is on screen stays as it was."""
        self.messages.append(f"{title}: {text}")
        show_warning(self, title, text, status_ms=20000)

    # --- images ----------------------------------------------------------------------------------
    def open_image(self, path: str | Path) -> bool:
        """Load and show an image; on failure say why and keep the current image."""
        try:
            image = load_us_image(path)
        except UsImageError as exc:
            self.show_error("Could not open the ultrasound image", str(exc))
            return False
        except Exception as exc:  # a decoder or OS error we did not foresee: still no crash
            self.show_error("Could not open the ultrasound image", f"{path}: {exc}")
            return False
        self.set_image(image)
        return True

    def set_image(self, image: UsImage) -> None:
        if self._own_project is not None and self._project_path is None:
            self._own_project.close()  # per-image projects: the next image has its own
            self._own_project = None
        self.worker.discard_pending()
        self.image = image
        self._new_lesion()
        f, h, w = image.frames.shape
        self.session = UsSession((h, w), n_frames=f)
        self.frame_slider.blockSignals(True)
        self.frame_slider.setMaximum(f - 1)
        self.frame_slider.setValue(0)
        self.frame_slider.blockSignals(False)
        self.canvas.set_frame(image.frame(0), reset_view=True)
        self.canvas.set_mask_overlay(None)
        self.canvas.set_clicks(())
        self.canvas.set_box(None)
        self._show_image_widgets(True)
        name = Path(image.source).name or image.source
        self.setWindowTitle(f"LiverView - ultrasound - {name}")
        if image.pixel_spacing_mm is None:
            self.units_label.setText("Units: pixels. The file states no pixel size (no DICOM ultrasound "
                                     "region calibration), so lengths are in px and areas in px².")
        else:
            sy, sx = image.pixel_spacing_mm
            self.units_label.setText(f"Units: mm (pixel {sx:.3f} x {sy:.3f} mm from the DICOM ultrasound regions).")
        self._update_side()
        self.notify(f"Opened {name}: {w} x {h} px, {f} frame(s)")
        self.worker.submit(self.session.latest_request_id, image.frame(0))  # warm-up; a click replaces it

    def _open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open ultrasound image", "", IMAGE_FILTER)
        if path:
            self.open_image(path)

    # --- interactions ----------------------------------------------------------------------------
    def click(self, x: float, y: float, positive: bool) -> None:
        if self.session is None:
            return
        t0 = time.perf_counter()
        try:
            request = self.session.add_click(x, y, positive)
        except UsSessionError:
            return  # a click beside the image means nothing
        self._after_interaction(request, t0)

    def place_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """The box interaction without a mouse (demo, scripts)."""
        self._box_started(x0, y0)
        self._box_finished(x1, y1)

    def _box_started(self, x: float, y: float) -> None:
        if self.session is None:
            return
        try:
            self.session.begin_box(x, y)
        except UsSessionError:
            return
        self._draw_box()

    def _box_moved(self, x: float, y: float) -> None:
        if self.session is not None and self.session.box is not None:
            self.session.update_box(x, y)
            self._draw_box()

    def _box_finished(self, x: float, y: float) -> None:
        if self.session is None:
            return
        t0 = time.perf_counter()
        try:
            request = self.session.finish_box(x, y)
        except UsSessionError:
            request = None
        self.canvas.set_box(None)
        if request is not None:
            self._after_interaction(request, t0)

    def _draw_box(self) -> None:
        b = self.session.box if self.session is not None else None
        self.canvas.set_box(None if b is None else (b.x0, b.y0, b.x1, b.y1))

    def undo(self) -> None:
        if self.session is None or not self.session.undo():
            return
        self.canvas.set_box(None)
        request = self.session.current_request()
        if request is None:
            self.worker.discard_pending()
            self._show_no_mask()
        else:
            self._after_interaction(request, time.perf_counter())
        self._update_side()

    def clear(self) -> None:
        if self.session is None:
            return
        self._new_lesion()
        self.session.clear()
        self.worker.discard_pending()
        self.canvas.set_box(None)
        self._show_no_mask()
        self._update_side()

    def set_frame(self, index: int) -> None:
        if self.session is None or self.image is None:
            return
        t0 = time.perf_counter()
        request = self.session.set_frame(int(index))
        self.canvas.set_frame(self.image.frame(self.session.frame_index))
        self.frame_label.setText(f"{self.session.frame_index + 1} / {self.image.n_frames}")
        if self.frame_slider.value() != self.session.frame_index:
            self.frame_slider.blockSignals(True)
            self.frame_slider.setValue(self.session.frame_index)
            self.frame_slider.blockSignals(False)
        if request is not None:
            self._after_interaction(request, t0)
        else:
            self._show_no_mask()

    def _after_interaction(self, request: PredictionRequest, t0: float) -> None:
        self.canvas.set_clicks(request.clicks)
        frame = self.image.frame(request.frame_index)
        self.worker.submit(request.request_id, _Work(self.session, request, frame, self.image.pixel_spacing_mm, t0,
                                                     self._segmenter is None, self.box_fit_check.isChecked()))
        self._update_side(busy=True)

    # --- background prediction -------------------------------------------------------------------
    def _predict(self, work: _Work | np.ndarray) -> UsResult | None:
        """Runs on the worker thread: segmenter and overlay, never a widget. Given a bare frame, it only
        loads the segmenter and runs it once (warm-up), so the user's first click is not the slow one."""
        choice = self._choice
        segmenter = self._segmenter
        if segmenter is None:
            segmenter = load_us_segmenter(device=self._device, catalog=self._catalog(), weights=self._weights,
                                          choice=choice)
            if choice == self._choice:  # not switched to another model meanwhile
                self._segmenter = segmenter
        if isinstance(work, np.ndarray):
            h, w = work.shape
            checked_predict(segmenter, work, [Click(w / 2, h / 2, True)])
            return None
        if hasattr(segmenter, "box_fit"):  # one worker thread: no other prediction runs meanwhile
            segmenter.box_fit = work.box_fit
        request = work.request
        prediction = checked_predict(segmenter, work.frame, list(request.clicks), prior=request.prior)
        mask = np.asarray(prediction.mask, bool)
        corrected = None
        if request.corrections:  # a correction nudges the contour shown through the click (local_correction)
            corrected = correct_shown_mask(mask, request.prior, request.clicks, work.box_fit, request.corrections)
            mask = corrected
        return UsResult(prediction, mask_overlay(mask), request.frame_index,
                        work.submitted_at, str(getattr(segmenter, "name", type(segmenter).__name__)), work.session,
                        work.model_loading, request.clicks, str(getattr(segmenter, "label_mode", "four-class")),
                        corrected)

    def _on_result(self, request_id: int, result: UsResult | None) -> None:
        if result is None:
            return  # the warm-up
        if result.session is not self.session or not self.session.accept(request_id, result):
            self.dropped_results += 1
            return
        self.canvas.set_mask_overlay(result.overlay)
        p = result.prediction
        if result.mask.any():
            self.class_bars.set_probabilities(result.class_probs, getattr(p, "malignant_prob", None))
            note = getattr(p, "malignancy_note", "")
            self.class_bars.setToolTip(f"Malignant: {note}" if note else "")
            if not self.class_choice.chosen:
                self._confirm_armed = False  # a new suggestion: Ctrl+S asks again
            self.class_choice.suggest(result.class_probs)
        else:  # e.g. a background click on the box's centre: no lesion shown, so no class scores for one
            self.class_bars.clear()
            self.class_bars.setToolTip("")
        self.measurement = None
        self.measure_label.setText("measuring...")
        self.measure_worker.submit(request_id, (result.session, result.mask, self.image.pixel_spacing_mm,
                                                result.frame_index))
        latency = (time.perf_counter() - result.submitted_at) * 1000.0
        self.latencies_ms.append(latency)
        self.inference_ms.append(float(getattr(p, "time_ms", float("nan"))))
        loading = " (with model load)" if result.model_loading else ""
        # short: the status bar's message (what to do next) must not be cut by it; the model is named in the panel
        self.latency_label.setText(f"inference {self.inference_ms[-1]:.0f} ms, click to mask {latency:.0f} ms{loading}")
        self.latency_label.setToolTip(f"{result.model_name}: time from the click to the mask on screen")
        self._update_side()
        self.mask_shown.emit(latency)

    # --- models ----------------------------------------------------------------------------------
    def _catalog(self):
        return None if self.plugin_dirs is None else discover_plugins(self.plugin_dirs, False)

    def _fill_models(self) -> None:
        combo = self.model_combo
        combo.blockSignals(True)
        combo.clear()
        if self._segmenter is not None:  # given by the caller
            combo.addItem(str(getattr(self._segmenter, "name", "segmenter")))
            combo.setEnabled(False)
        else:
            titles = [c.title for c in us_segmenter_contributions(self._catalog())]
            combo.addItems(titles or ["(no ultrasound segmenter found)"])
            for i, title in enumerate(titles):
                combo.setItemData(i, title, QtCore.Qt.ItemDataRole.ToolTipRole)
            combo.setEnabled(len(titles) > 1)
        combo.blockSignals(False)

    def _show_model_info(self) -> None:
        """The active model's validated figures and the notes on its class scores (its validation JSON);
        without one, or with ``--us-weights`` that no model ships, say that there are no validated figures."""
        figures: dict = {}
        weights_note = ""
        if not self._caller_segmenter:
            found = us_segmenter_contributions(self._catalog())
            described = described_contribution(found, self._choice, self._weights)
            figures = described.validated_figures() if described is not None else {}
            if self._weights is not None:
                shipped = f"the weights of '{described.name}'" if described is not None else "no model's shipped weights"
                weights_note = f"Weights: {Path(self._weights).name} ({shipped})"
        lines = [str(x) for x in figures.get("figures", [])]
        text = "\n".join(lines) if lines else "No validated figures for this model (see its card)."
        self.model_info.setText("\n".join(x for x in (weights_note, text) if x))
        notes = figures.get("notes", {}) if isinstance(figures.get("notes"), dict) else {}
        self.class_note.setText("\n".join(str(notes[k]) for k in ("malignancy", "four_class") if notes.get(k))
                                or "Class scores not validated on real images.")
        # only a card that says so ("malignancy_validated": true) gets the red, unqualified malignancy bar
        self.class_bars.set_malignancy_validated(figures.get("malignancy_validated") is True)

    def set_box_fit(self, on: bool) -> None:
        """Read a dragged box as the lesion's edges (fit the contour to it) or not; the clicks shown are
        segmented again when they are a box alone."""
        if self.box_fit_check.isChecked() != bool(on):
            self.box_fit_check.setChecked(bool(on))  # toggled() calls back here
            return
        if self._settings is not None:
            self._settings.setValue(BOX_FIT_KEY, bool(on))
        if self.session is None or self.image is None or box_of_clicks(self.session.clicks) is None:
            return
        request = self.session.renew_request()
        if request is not None:
            self._after_interaction(request, time.perf_counter())

    def choose_model(self, index: int) -> None:
        """Segment with the registry's US segmenter number ``index`` from the next request on; the
        clicks shown are segmented again with it."""
        if index < 0 or index == self._choice:
            return
        self._choice = index
        self._segmenter = None  # loaded on the worker thread by the next request
        self._segmenter_error_shown = False
        self._show_model_info()
        if self.session is None or self.image is None:
            return
        request = self.session.renew_request()
        if request is None:
            self.worker.submit(self.session.latest_request_id, self.image.frame(self.session.frame_index))
        else:
            self._after_interaction(request, time.perf_counter())

    def _on_measured(self, request_id: int, answer: _Measured) -> None:
        if answer.session is not self.session or self.session.prediction_id != request_id:
            return  # the mask it measured is no longer shown
        self.measurement = answer.measurement
        self.measure_label.setText(_describe(answer.measurement))
        self.canvas.set_axes(answer.axes_px)

    def _on_measure_failure(self, request_id: int, message: str) -> None:
        if self.session is not None and self.session.prediction_id == request_id:
            self.measure_label.setText(f"Cannot measure this mask: {message}")

    def _on_failure(self, request_id: int, message: str) -> None:
        if self.session is None or request_id != self.session.latest_request_id:
            return  # an error of a request the user already moved past
        self._update_side()
        if not self._segmenter_error_shown:
            self._segmenter_error_shown = True
            self.show_error("Segmentation failed", message)
        else:
            self.messages.append(f"Segmentation failed: {message}")
            self.statusBar().showMessage(f"Segmentation failed: {message.splitlines()[0]}", 20000)

    def _show_no_mask(self) -> None:
        self.measure_worker.discard_pending()
        self.measurement = None
        self.canvas.set_mask_overlay(None)
        self.canvas.set_clicks(self.session.clicks if self.session is not None else ())
        self.class_bars.clear()
        self.measure_label.setText("-")

    def _update_side(self, busy: bool = False) -> None:
        s = self.session
        self.clicks_label.setText(f"{click_count_text(s.clicks if s is not None else ())}  "
                                  f"{'segmenting...' if busy or self.worker.busy else ''}".rstrip())
        self.save_button.setEnabled(s is not None and s.prediction is not None and bool(s.prediction.mask.any()))
        if self.image is not None and self.image.n_frames > 1 and s is not None:
            self.frame_label.setText(f"{s.frame_index + 1} / {self.image.n_frames}")

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait for the background prediction and its measurements and show them (tests, screenshots)."""
        ok = self.worker.wait_idle(timeout_s)
        QtWidgets.QApplication.processEvents()  # delivers the mask, which asks for its measurements
        ok = self.measure_worker.wait_idle(timeout_s) and ok
        QtWidgets.QApplication.processEvents()
        return ok

    # --- saving ----------------------------------------------------------------------------------
    def project_file(self) -> Path | None:
        if self._shared_project is not None:
            return self._shared_project.path
        if self._project_path is not None:
            return Path(self._project_path)
        if self.image is None:
            return None
        return default_us_project_path(self.image.source, self._project_root)

    def _project(self) -> Project:
        if self._shared_project is not None:
            return self._shared_project
        if self._own_project is None:
            path = self.project_file()
            if path.exists():
                self._own_project = Project.open(path, self.user)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._own_project = Project.create(path, self.user)
        return self._own_project

    def _new_lesion(self) -> None:
        """Clicks from now on make another lesion: the next save adds one, with a class to choose."""
        self._lesion_id = None
        self._confirm_armed = False
        self.class_choice.reset()

    def _update_save_button(self) -> None:
        verb = "Update lesion" if self._lesion_id is not None else "Save lesion"
        self.save_button.setText(f"{verb} as {self.class_choice.current_class} (Ctrl+S)")

    def save_key(self) -> LesionRecord | None:
        """Ctrl+S: save once the class is the reader's. The first press with only the model's suggestion
        asks for it (the list gets the focus); picking a class, or a second Ctrl+S, confirms."""
        s = self.session
        if s is None or s.prediction is None or self.class_choice.chosen or self._confirm_armed:
            if s is not None and s.prediction is not None:
                self.class_choice.confirm()
            return self.save()
        self._confirm_armed = True
        self.class_combo.setFocus()
        probs = s.prediction.class_probs
        cls = self.class_choice.current_class
        said = f"{cls} ({100 * float(probs[cls]):.0f} %)" if cls in probs else cls
        self.notify(f"Choose the lesion's class before saving: the model suggests {said}. "
                    f"Press Ctrl+S again to save it as {cls}, or pick another class")
        return None

    def save(self, lesion_class: str | None = None) -> LesionRecord | None:
        """Save the mask shown, the class chosen (``lesion_class``, else the one selected in the list) and
        its RECIST axes; saving again after more clicks updates the same lesion."""
        s, image = self.session, self.image
        if s is None or image is None:
            self.notify("Open an ultrasound image first")
            return None
        result: UsResult | None = s.prediction
        if result is None:
            self.notify("Nothing to save yet: click on the lesion, or drag a box around it")
            return None
        if not s.has_current_prediction:
            self.wait_idle(30.0)  # the newest clicks are being segmented: save what they give
            result = s.prediction if s.has_current_prediction else None
            if result is None:
                self.show_error("Lesion not saved", "the segmentation of your last clicks did not finish")
                return None
        p = result.prediction
        lesion_result = UsLesionResult(result.mask, result.frame_index, result.class_probs,
                                       getattr(p, "malignant_prob", None), result.model_name)
        cls = lesion_class or self.class_choice.current_class
        try:
            project = self._project()
            study_id = ensure_us_study(project, image.source, image.pixel_spacing_mm)
            lesion = save_us_lesion(project, study_id, lesion_result, image.pixel_spacing_mm, lesion_class=cls,
                                    lesion_id=self._lesion_id)
        except EmptyMaskError:
            self.show_error("Lesion not saved", "the mask is empty: add foreground clicks on the lesion")
            return None
        except ProjectLockedError as exc:
            self.show_error("Lesion not saved", str(exc))
            return None
        except (StoreError, OSError, ValueError) as exc:
            self.show_error("Lesion not saved", f"{exc}\nThe segmentation stays on screen; try again.")
            return None
        updated = lesion.id == self._lesion_id
        self._lesion_id = lesion.id
        self._confirm_armed = False
        if updated:
            self.saved_lesions = [x for x in self.saved_lesions if x.id != lesion.id]
        self.saved_lesions.append(lesion)
        self._update_save_button()
        r = lesion.recist
        units = image.units
        self.notify(f"{'Updated' if updated else 'Saved'} lesion {lesion.id} ({lesion.lesion_class}, long axis "
                    f"{r.long_mm:.1f} {units}) in {project.path}")
        self.lesion_saved.emit(lesion)
        return lesion

    def export_lesions(self, fmt: str | None = None, path: str | Path | None = None) -> ExportResult | None:
        """File > Export lesions...: write the lesions saved on this image (JSON, NIfTI labels, label PNG);
        without ``path`` a save dialog asks for the file, its filter choosing the format."""
        if self.image is None:
            self.notify("Open an ultrasound image first")
            return None
        if path is None:
            filters = {f"{d} (*{US_DEFAULT_SUFFIX[k]})": k for k, d in US_EXPORT_FORMATS.items()}
            path, chosen = QtWidgets.QFileDialog.getSaveFileName(self, "Export lesions", "", ";;".join(filters))
            if not path:
                return None
            fmt = fmt or filters.get(chosen, "json")
        try:
            project = self._project() if self._own_project or self._shared_project or self.project_file().exists() \
                else None
            study_id = None if project is None else find_us_study(project, self.image.source)
            if study_id is None:
                raise ExportError("no lesion is saved on this image yet: save one first (Ctrl+S)")
            result = export_us_annotations(project, study_id, self.image, fmt or "json", path)
        except (ExportError, StoreError, OSError) as exc:
            self.show_error("Lesions not exported", str(exc))
            return None
        left = f"; left out: {'; '.join(result.skipped)}" if result.skipped else ""
        self.notify(f"Exported {result.written} lesion(s) to {result.path}{left}")
        return result

    # --- lifecycle -------------------------------------------------------------------------------
    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802
        self.worker.shutdown(10.0)
        self.measure_worker.shutdown(10.0)
        if self._own_project is not None:
            self._own_project.close()
            self._own_project = None
        super().closeEvent(ev)


@dataclass(frozen=True)
class _Measured:
    session: UsSession
    measurement: MaskMeasurement | None  # None when the mask is empty
    axes_px: tuple[tuple[tuple[float, float], tuple[float, float]], ...]  # RECIST long, short (image pixels)


def _measure(job: tuple[UsSession, np.ndarray, tuple[float, float] | None, int]) -> _Measured:
    """Runs on the measuring thread: area and the exact RECIST axes of a mask, as they will be saved."""
    session, mask, spacing, frame_index = job
    try:
        recist = us_recist(mask, spacing, frame_index)
    except EmptyMaskError:
        return _Measured(session, None, ())
    sy, sx = spacing if spacing is not None else (1.0, 1.0)
    measurement = MaskMeasurement(area=float(mask.sum()) * sx * sy, long_diameter=recist.long_axis_mm,
                                  short_diameter=float(recist.short_axis_mm or 0.0),
                                  units="mm" if spacing is not None else "px")
    axes = [recist.long_axis] + ([recist.short_axis] if recist.short_axis is not None else [])
    to_px = (lambda p: (p[0] / sx, p[1] / sy))
    return _Measured(session, measurement, tuple((to_px(a), to_px(b)) for a, b in axes))


def _describe(m: MaskMeasurement | None) -> str:
    if m is None:
        return "The mask is empty."
    u = m.units
    text = (f"Area: {m.area:.1f} {u}²\nLong diameter: {m.long_diameter:.1f} {u}\n"
            f"Short diameter: {m.short_diameter:.1f} {u}")
    return text if u == "mm" else text + "\n(pixels: the image has no pixel size)"


def open_ultrasound_dialog(parent: QtWidgets.QWidget, project_root: Path | None = None,
                           segmenter: Any = None) -> UsWorkspace | None:
    """File > Open ultrasound image...: choose a file and open it in a new workspace window."""
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "Open ultrasound image", "", IMAGE_FILTER)
    if not path:
        return None
    workspace = UsWorkspace(segmenter=segmenter, project_root=project_root, parent=parent)
    workspace.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    workspace.show()
    workspace.open_image(path)
    return workspace
