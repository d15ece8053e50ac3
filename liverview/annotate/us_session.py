"""Click segmentation of an ultrasound image as a user does it, without Qt.

The session holds what the user has said so far on one image: the clicks (foreground / background,
in image pixels), a box being dragged, the frame of a cine shown, and the prediction on screen.
Every change that needs a new prediction returns a :class:`PredictionRequest` with a rising id;
a result is accepted only for the newest id, so a slow background prediction that finishes after
the user clicked again (or cleared, or changed frame) never overwrites the newer state.

Undo takes back the last *interaction*: one click, or the five clicks a box became.

Each interaction remembers the mask it corrects (the prediction shown when it was made, RITM's previous
mask); its requests carry that mask as ``prior``, so a model that refines a mask refines the one the user saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liverview.us.clicks import Click, box_to_clicks

MIN_BOX_PX = 3.0  # a drag smaller than this on either side is a click, not a box


class UsSessionError(ValueError):
    """An interaction the session cannot take (click outside the image, frame out of range)."""


@dataclass(frozen=True)
class PredictionRequest:
    """What the segmenter must run on: the frame and the clicks, tagged with the request id; ``prior`` is
    the mask shown before the newest interaction (None: no mask was shown). ``corrections``: how many of the
    newest clicks were made one at a time on ``prior`` as shown on this frame by the model asked now (more than
    one when the reader clicked again before the mask came back), so the answer is ``prior`` corrected by them
    (liverview.us.local_correction); 0 after a frame or model change, whose answer is a fresh look at all
    the clicks."""

    request_id: int
    frame_index: int
    clicks: tuple[Click, ...]
    prior: np.ndarray | None = field(default=None, compare=False, repr=False)
    corrections: int = 0


@dataclass(frozen=True)
class Box:
    """A box in image pixels (x = column, y = row), corners as the user dragged them."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return abs(self.x1 - self.x0)

    @property
    def height(self) -> float:
        return abs(self.y1 - self.y0)


class UsSession:
    """Interaction state of one ultrasound image (all frames share the clicks; see set_frame)."""

    def __init__(self, image_shape: tuple[int, int], n_frames: int = 1) -> None:
        h, w = int(image_shape[0]), int(image_shape[1])
        if h < 2 or w < 2 or n_frames < 1:
            raise UsSessionError(f"an image of {h}x{w} pixels and {n_frames} frame(s) cannot be annotated")
        self.shape = (h, w)
        self.n_frames = int(n_frames)
        self.frame_index = 0
        self._groups: list[tuple[Click, ...]] = []  # one entry per interaction, for undo
        self._priors: list[np.ndarray | None] = []  # per interaction: the mask shown when it was made
        self._made_on: list[tuple[int, int]] = []  # per interaction: (frame, model epoch) it was made on
        self._model_epoch = 0  # counts model changes (renew_request)
        self.box: Box | None = None  # the box being dragged, None when no drag is in progress
        self._issued = 0  # id of the newest request handed out
        self.prediction: Any = None  # the accepted result of request ``prediction_id``
        self.prediction_id: int | None = None

    # --- what is there ---------------------------------------------------------------------------
    @property
    def clicks(self) -> tuple[Click, ...]:
        return tuple(c for group in self._groups for c in group)

    @property
    def latest_request_id(self) -> int:
        return self._issued

    @property
    def has_current_prediction(self) -> bool:
        """True when the prediction shown belongs to the clicks and frame shown now."""
        return self.prediction is not None and self.prediction_id == self._issued

    def contains(self, x: float, y: float) -> bool:
        h, w = self.shape
        return bool(np.isfinite(x) and np.isfinite(y) and -0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5)

    # --- interactions ----------------------------------------------------------------------------
    def add_click(self, x: float, y: float, positive: bool) -> PredictionRequest:
        """A foreground (left) or background (right) click at image pixel (x, y)."""
        if not self.contains(x, y):
            raise UsSessionError(f"the click ({x:.1f}, {y:.1f}) lies outside the {self.shape[1]}x{self.shape[0]} image")
        self._add_group((Click(float(x), float(y), bool(positive)),))
        return self._request()

    def begin_box(self, x: float, y: float) -> None:
        x, y = self._clamp(x, y)
        self.box = Box(x, y, x, y)

    def update_box(self, x: float, y: float) -> Box | None:
        if self.box is None:
            return None
        x, y = self._clamp(x, y)
        self.box = Box(self.box.x0, self.box.y0, x, y)
        return self.box

    def finish_box(self, x: float, y: float) -> PredictionRequest | None:
        """End the drag: the box becomes 1 foreground + 4 background clicks. A drag too small to be a
        box is a foreground click at its start. None when no drag was in progress."""
        box = self.update_box(x, y)
        self.box = None
        if box is None:
            return None
        if box.width < MIN_BOX_PX or box.height < MIN_BOX_PX:
            return self.add_click(box.x0, box.y0, True)
        self._add_group(tuple(box_to_clicks(box.x0, box.y0, box.x1, box.y1)))
        return self._request()

    def cancel_box(self) -> None:
        self.box = None

    def undo(self) -> bool:
        """Take back the last interaction; False when there was none. Ask :meth:`current_request`
        for the prediction of the clicks left (None when no click is left: the mask goes)."""
        self.box = None
        if not self._groups:
            return False
        self._groups.pop()
        self._priors.pop()
        self._made_on.pop()
        self._issued += 1
        if not self._groups:
            self._drop_prediction()
        return True

    def clear(self) -> None:
        """Forget every click and the mask; any prediction still running is ignored when it lands."""
        self._groups.clear()
        self._priors.clear()
        self._made_on.clear()
        self.box = None
        self._issued += 1
        self._drop_prediction()

    def set_frame(self, index: int) -> PredictionRequest | None:
        """Show another frame of a cine. The clicks stay (a lesion moves little between frames) and a
        new prediction is asked for on the new frame; None when there is no click to predict from."""
        if not 0 <= int(index) < self.n_frames:
            raise UsSessionError(f"frame {index} is outside 0..{self.n_frames - 1}")
        if int(index) == self.frame_index:
            return None
        self.frame_index = int(index)
        self.box = None
        if not self._groups:
            self._issued += 1
            self._drop_prediction()
            return None
        return self._request()

    # --- results ---------------------------------------------------------------------------------
    def accept(self, request_id: int, prediction: Any) -> bool:
        """Keep a finished prediction if it answers the newest request; False (and nothing changes)
        for a stale one."""
        if request_id != self._issued or not self._groups:
            return False
        self.prediction = prediction
        self.prediction_id = request_id
        return True

    def renew_request(self) -> PredictionRequest | None:
        """Ask again for the same clicks and frame (another model was chosen): results of the earlier
        requests become stale. None without clicks."""
        self._model_epoch += 1
        if not self._groups:
            self._issued += 1
            return None
        return self._request()

    def current_request(self) -> PredictionRequest | None:
        """The newest request again (e.g. to retry after an error), or None without clicks."""
        if not self._groups:
            return None
        return self._request_now()

    # --- helpers ---------------------------------------------------------------------------------
    def _add_group(self, clicks: tuple[Click, ...]) -> None:
        """A new interaction; it corrects the mask on screen, or, while that is still being computed, the
        mask the pending prediction started from."""
        shown = getattr(self.prediction, "mask", None) if self.has_current_prediction else None
        prior = shown if shown is not None else (self._priors[-1] if self._priors else None)
        self._groups.append(clicks)
        self._priors.append(None if prior is None else np.asarray(prior, bool))
        self._made_on.append((self.frame_index, self._model_epoch))

    def _request(self) -> PredictionRequest:
        self._issued += 1
        return self._request_now()

    def _request_now(self) -> PredictionRequest:
        shown, now = self._priors[-1], (self.frame_index, self._model_epoch)
        corrections = 0
        if shown is not None:  # the newest single clicks made on that very mask, on this frame, by this model
            for group, prior, made_on in zip(self._groups[:0:-1], self._priors[:0:-1], self._made_on[:0:-1]):
                if len(group) != 1 or prior is not shown or made_on != now:
                    break
                corrections += 1
        return PredictionRequest(self._issued, self.frame_index, self.clicks, shown, corrections)

    def _drop_prediction(self) -> None:
        self.prediction = None
        self.prediction_id = None

    def _clamp(self, x: float, y: float) -> tuple[float, float]:
        if not (np.isfinite(x) and np.isfinite(y)):
            raise UsSessionError(f"box corner ({x}, {y}) is not a finite point")
        h, w = self.shape
        return float(min(max(x, 0.0), w - 1.0)), float(min(max(y, 0.0), h - 1.0))

