"""Evaluate a click segmenter (liverview.plugin_api.ClickSegmenter) on lesion records: Jaccard, 4-class and
benign/malignant metrics, and, from the very same box, three baselines that never look at a model: the
ellipse inscribed in the box, the filled box, and OpenCV GrabCut. A model earns its place only by
beating the ellipse a reader could drag by hand. The clicks needed after a box get the same baseline: the
ellipse in the box, then the same corrections (liverview.us.local_correction), no model."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from liverview.metrics.classification import accuracy, auroc_interval, binary_auroc, one_vs_rest_auroc, youden_point
from liverview.metrics.calibration import expected_calibration_error
from liverview.metrics.refinement import RefinementTrace, refine, refine_from_box
from liverview.metrics.segmentation import jaccard_index
from liverview.plugin_api.protocols import ClickSegmenter
from liverview.us.checked_prediction import checked_predict
from liverview.us.click_simulation import DEFAULT_READER, ReaderBox, centre_click, eval_box, margin_corrected_box
from liverview.us.clicks import box_to_clicks, ellipse_in_box, filled_box
from liverview.us.lesion_dataset import LoadedLesion
from liverview.us.local_correction import correct_shown_mask
from liverview.us.malignancy import lesion_features
from liverview.us.prediction import US_CLASS_NAMES as CLASS_NAMES

MODES = ("one-click", "two-click")


@dataclass
class LesionResult:
    key: str
    label: str
    jaccard: float
    class_probs: list[float]
    malignant_prob: float
    time_ms: float
    ellipse_jaccard: float | None = None  # baselines from the same box (two-click mode only)
    margin_ellipse_jaccard: float | None = None  # the ellipse in the box less the simulated reader's mean margin
    box_jaccard: float | None = None
    grabcut_jaccard: float | None = None
    grabcut_empty: bool = False
    noc85: int | None = None  # refinement from no click (liverview.metrics.refinement)
    noc90: int | None = None
    refinement_ious: list[float] | None = None
    box_noc85: int | None = None  # the same clicks after the mode's box, which counts 2 (two-click mode only)
    box_noc90: int | None = None
    box_refinement_ious: list[float] | None = None
    # the trivial baseline of the same flow: the ellipse inscribed in the box, then the same corrections (no model)
    ellipse_box_noc85: int | None = None
    ellipse_box_noc90: int | None = None
    # measured on the predicted mask, with the class head's own score (liverview.us.malignancy); None: empty mask
    features: dict[str, float] | None = None


@dataclass
class EvalReport:
    mode: str
    n: int
    jaccard_mean: float
    jaccard_median: float
    time_ms_median: float
    ellipse_jaccard_mean: float | None = None
    margin_ellipse_jaccard_mean: float | None = None
    box_jaccard_mean: float | None = None
    grabcut_jaccard_mean: float | None = None
    grabcut_empty: int | None = None  # lesions where GrabCut collapsed to an empty mask
    noc85_mean: float | None = None
    noc90_mean: float | None = None
    refinement_clicks_improving: tuple[int, int] | None = None  # (clicks that raised IoU, extra clicks made)
    box_noc85_mean: float | None = None  # corrective clicks after a box, the box counted as 2 clicks
    box_noc90_mean: float | None = None
    box_refinement_clicks_improving: tuple[int, int] | None = None
    ellipse_box_noc85_mean: float | None = None  # the same after the ellipse inscribed in the box (no model)
    ellipse_box_noc90_mean: float | None = None
    bm_ece: float | None = None  # expected calibration error of p(malignant), 10 bins
    four_class_accuracy: float | None = None
    four_class_auroc: float | None = None
    per_class_auroc: dict[str, float | None] | None = None
    bm_auroc: float | None = None
    bm_auroc_ci95: tuple[float, float] | None = None  # stratified percentile bootstrap (classification.auroc_interval)
    bm_threshold: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None
    notes: list[str] = field(default_factory=list)


def grabcut_from_box(image: np.ndarray, box: tuple[float, float, float, float], iterations: int = 5) -> np.ndarray:
    """OpenCV GrabCut initialised with the box (outside = background), on the grey image as BGR."""
    img = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    h, w = image.shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0 = max(x0, 0), max(y0, 0)
    rect = (x0, y0, max(min(x1, w - 1) - x0, 1), max(min(y1, h - 1) - y0, 1))
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(img, mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def lesion_seed(key: str) -> int:
    """A per-lesion seed from the whole key (CRC-32): lesions whose file names end alike get different
    box errors (BUSI masks are all called mask.png in their folders)."""
    return zlib.crc32(key.encode("utf-8")) % (2 ** 31)


def evaluate_lesions(segmenter: ClickSegmenter, lesions: list[LoadedLesion], mode: str,
                     grabcut: bool = False, noc: bool = False,
                     progress: Callable[[float], None] | None = None,
                     reader: ReaderBox = DEFAULT_READER) -> tuple[EvalReport, list[LesionResult]]:
    """Every lesion with the mode's simulated clicks (and the box baselines in two-click mode, boxes drawn
    by ``reader``); with ``noc``, also the corrective-click simulation from no click (NoC@85 / NoC@90,
    capped at 20) and, in two-click mode, the same simulation after the box (the box counting 2 clicks), each
    correction answered as the workspace answers it (liverview.us.local_correction).
    ``progress`` hears the share of lesions done."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    results = []
    for lz in lesions:
        img = lz.image.astype(np.float32)
        box = eval_box(lz.mask, lesion_seed(lz.record.key), reader)
        clicks = box_to_clicks(*box) if mode == "two-click" else [centre_click(lz.mask)]
        pred = checked_predict(segmenter, img, clicks)
        r = LesionResult(lz.record.key, lz.record.label, jaccard_index(pred.mask, lz.mask),
                         [pred.class_probs[c] for c in CLASS_NAMES], pred.malignant_prob, pred.time_ms)
        measured = getattr(pred, "feature_mask", pred.mask)  # a plugin's prediction may predate the field
        if measured.any():
            head = getattr(pred, "head_malignant_prob", None)
            r.features = lesion_features(img, measured, pred.malignant_prob if head is None else head)
        if mode == "two-click":
            r.ellipse_jaccard = jaccard_index(ellipse_in_box(lz.mask.shape, box), lz.mask)
            r.margin_ellipse_jaccard = jaccard_index(ellipse_in_box(lz.mask.shape, margin_corrected_box(box, reader)), lz.mask)
            r.box_jaccard = jaccard_index(filled_box(lz.mask.shape, box), lz.mask)
        if grabcut:
            gc = grabcut_from_box(img, box)
            r.grabcut_jaccard, r.grabcut_empty = jaccard_index(gc, lz.mask), not gc.any()
        if noc:
            box_edges = bool(getattr(segmenter, "box_fit", False))

            def predict(clicks, prev, im=img):  # as the workspace answers a click (liverview.us.local_correction)
                mask = checked_predict(segmenter, im, list(clicks), prior=prev).mask
                return correct_shown_mask(mask, prev, clicks, box_edges=box_edges)
            trace = refine(predict, lz.mask)
            r.noc85, r.noc90, r.refinement_ious = trace.noc(0.85), trace.noc(0.90), trace.ious
            if mode == "two-click":
                trace = refine_from_box(predict, lz.mask, clicks)
                r.box_noc85, r.box_noc90, r.box_refinement_ious = trace.noc(0.85), trace.noc(0.90), trace.ious

                def ellipse_then_corrections(clicks, prev, shape=lz.mask.shape):  # the box's ellipse, no model
                    return correct_shown_mask(ellipse_in_box(shape, box), prev, clicks, box_edges=box_edges)
                trace = refine_from_box(ellipse_then_corrections, lz.mask, clicks)
                r.ellipse_box_noc85, r.ellipse_box_noc90 = trace.noc(0.85), trace.noc(0.90)
        results.append(r)
        if progress is not None:
            progress(len(results) / len(lesions))
    return summarise(mode, results, segmenter.label_mode), results


def summarise(mode: str, results: list[LesionResult], label_mode: str) -> EvalReport:
    jac = np.array([r.jaccard for r in results])
    rep = EvalReport(mode, len(results), float(jac.mean()), float(np.median(jac)),
                     float(np.median([r.time_ms for r in results])))
    if results and results[0].ellipse_jaccard is not None:
        rep.ellipse_jaccard_mean = float(np.mean([r.ellipse_jaccard for r in results]))
        rep.margin_ellipse_jaccard_mean = float(np.mean([r.margin_ellipse_jaccard for r in results]))
        rep.box_jaccard_mean = float(np.mean([r.box_jaccard for r in results]))
    if results and results[0].noc85 is not None:
        rep.noc85_mean, rep.noc90_mean, rep.refinement_clicks_improving = _noc_summary(
            [r.noc85 for r in results], [r.noc90 for r in results], [r.refinement_ious for r in results])
    if results and results[0].box_noc85 is not None:
        rep.box_noc85_mean, rep.box_noc90_mean, rep.box_refinement_clicks_improving = _noc_summary(
            [r.box_noc85 for r in results], [r.box_noc90 for r in results], [r.box_refinement_ious for r in results])
    if results and results[0].ellipse_box_noc85 is not None:
        rep.ellipse_box_noc85_mean = float(np.mean([r.ellipse_box_noc85 for r in results]))
        rep.ellipse_box_noc90_mean = float(np.mean([r.ellipse_box_noc90 for r in results]))
    if results and results[0].grabcut_jaccard is not None:
        rep.grabcut_jaccard_mean = float(np.mean([r.grabcut_jaccard for r in results]))
        rep.grabcut_empty = sum(r.grabcut_empty for r in results)
    four = [r for r in results if r.label in CLASS_NAMES]
    if four and len(four) == len(results) and label_mode == "four-class":
        y = [CLASS_NAMES.index(r.label) for r in four]
        p = np.array([r.class_probs for r in four])
        rep.four_class_accuracy = accuracy(y, p.argmax(1).tolist())
        try:
            rep.four_class_auroc, per = one_vs_rest_auroc(y, p)
            rep.per_class_auroc = dict(zip(CLASS_NAMES, per))
        except ValueError as exc:
            rep.notes.append(f"4-class AUROC not computable: {exc}")
    else:
        rep.notes.append("4-class head not evaluable here: the labels (or the model) are benign/malignant only")
    mal = [r.label in ("metastasis", "hcc", "malignant") for r in results]
    try:
        rep.bm_auroc = binary_auroc(mal, [r.malignant_prob for r in results])
        rep.bm_auroc_ci95 = auroc_interval(mal, [r.malignant_prob for r in results])
        op = youden_point(mal, [r.malignant_prob for r in results])
        rep.bm_threshold, rep.sensitivity, rep.specificity = op.threshold, op.sensitivity, op.specificity
        rep.bm_ece = expected_calibration_error([r.malignant_prob for r in results], mal)
    except ValueError as exc:
        rep.notes.append(f"benign/malignant AUROC not computable: {exc}")
    return rep


def _noc_summary(noc85: list, noc90: list, ious: list) -> tuple[float, float, tuple[int, int]]:
    """Mean NoC@85, mean NoC@90, and (clicks that raised IoU, clicks after the first step) over all lesions."""
    steps = [RefinementTrace(t or []).improvements for t in ious]
    return float(np.mean(noc85)), float(np.mean(noc90)), (sum(a for a, _ in steps), sum(b for _, b in steps))


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
