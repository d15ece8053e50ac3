"""Where the app receives a click segmenter's prediction (us-segment, eval-us, the workspace): the prediction
is checked against what the app then reads, and a plugin's failure is reported naming the plugin. A
third-party plugin may return anything; without this, a wrong mask shape, NaN probabilities or other
class names surface later as a tiny mask file, invalid JSON or a bare "error: cyst"."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from liverview.plugin_api.errors import Cancelled, ModelError, ModelInputError
from liverview.us.prediction import US_CLASS_NAMES

PROB_SLACK = 1e-6  # float32 softmax may land a hair outside [0, 1]


def segmenter_label(segmenter: Any) -> str:
    """How messages name the plugin's segmenter: "click segmenter 'tp_seg'"."""
    return f"click segmenter '{getattr(segmenter, 'name', None) or type(segmenter).__name__}'"


def checked_predict(segmenter: Any, image: np.ndarray, clicks: Sequence[Any], prior: np.ndarray | None = None) -> Any:
    """``segmenter.predict(image, clicks, prior=...)``, checked: a ModelError naming the segmenter when the
    prediction is unusable or predict fails (a ValueError becomes ModelInputError, still a ValueError)."""
    who = segmenter_label(segmenter)
    try:
        pred = segmenter.predict(image, clicks) if prior is None else segmenter.predict(image, clicks, prior=prior)
    except (ModelError, Cancelled):
        raise
    except ValueError as exc:
        raise ModelInputError(f"{who}: {exc}") from exc
    except Exception as exc:  # a plugin's bug: say whose, not only the bare KeyError text
        raise ModelError(f"{who} failed: {type(exc).__name__}: {exc}") from exc
    check_prediction(pred, np.shape(image)[:2], who)
    return pred


def _probability(value: Any) -> bool:
    return (isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
            and math.isfinite(float(value)) and -PROB_SLACK <= float(value) <= 1 + PROB_SLACK)


def check_prediction(pred: Any, frame_shape: tuple[int, ...], who: str) -> None:
    """ModelError naming ``who`` unless ``pred`` has a frame-sized mask, the US classes' probabilities and a
    p(malignant) in [0, 1] (finite), and a finite time."""
    mask = np.asarray(getattr(pred, "mask", None))
    if mask.shape != tuple(frame_shape):
        raise ModelError(f"{who} returned a mask of shape {mask.shape} for a frame of shape {tuple(frame_shape)}")
    probs = getattr(pred, "class_probs", None)
    if not isinstance(probs, dict) or set(probs) != set(US_CLASS_NAMES):
        got = sorted(map(str, probs)) if isinstance(probs, dict) else type(probs).__name__
        raise ModelError(f"{who} returned class probabilities for {got}; expected {', '.join(US_CLASS_NAMES)}")
    bad = {k: v for k, v in probs.items() if not _probability(v)}
    if bad:
        raise ModelError(f"{who} returned class probabilities outside [0, 1] or not finite: {bad}")
    for field in ("malignant_prob", "head_malignant_prob"):
        value = getattr(pred, field, None)
        if (value is not None or field == "malignant_prob") and not _probability(value):
            raise ModelError(f"{who} returned {field} {value!r}: not a finite probability in [0, 1]")
    time_ms = getattr(pred, "time_ms", None)
    if not isinstance(time_ms, (int, float, np.floating)) or not math.isfinite(float(time_ms)):
        raise ModelError(f"{who} returned time_ms {time_ms!r}: not a finite number")
    for field in ("probability", "measured_mask"):  # optional image-sized arrays
        value = getattr(pred, field, None)
        if value is not None and np.shape(value) != tuple(frame_shape):
            raise ModelError(f"{who} returned a {field} of shape {np.shape(value)} for a frame of shape "
                             f"{tuple(frame_shape)}")
