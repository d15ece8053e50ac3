"""Segment and classify one ultrasound lesion from clicks: the API the US workspace and CLI call.

The net runs on a square crop placed from the clicks (see :mod:`plugins.us_clickseg.crop`), resized to
the net's fixed input; its mask is pasted back at native resolution, so a click costs the same on any
image size.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from scipy import ndimage

from liverview.ml.device import resolve_device as pick_device
from liverview.plugin_api.errors import ModelError, WeightsMissingError
from liverview.us.box_fit import BOX_SHAPES, fit_box_shape
from liverview.us.click_guarantee import honour_clicks
from liverview.us.clicks import Click, box_of_clicks, filled_box, interaction_prior
from liverview.us.malignancy import MalignancyModel, lesion_features
from liverview.us.prediction import UsPrediction
from .crop import net_input, paste_back
from .model import CLASS_NAMES, MALIGNANT_CLASSES, JointSegClsNet, NetConfig

# the fitted contour of a box drawn to the lesion's edges (liverview.us.box_fit.fit_box_shape)
DEFAULT_BOX_SHAPE = "blend"
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "us_clickseg" / "us_clickseg.pt"


class UsModelError(ModelError):
    """Weights missing or not a us_clickseg checkpoint."""


class UsWeightsMissingError(UsModelError, WeightsMissingError):
    """No weights file where one was asked for."""



def _keep_clicked_components(mask: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
    """Drop islands: keep the components under a foreground click (the largest when none is hit).

    Works on the bounding box of the mask only, so the cost does not grow with the image size.
    """
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return mask
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    labels, n = ndimage.label(mask[r0:r1, c0:c1])
    if n <= 1:
        return mask
    h, w = labels.shape
    hit = {int(labels[int(round(c.y)) - r0, int(round(c.x)) - c0]) for c in clicks
           if c.positive and 0 <= round(c.y) - r0 < h and 0 <= round(c.x) - c0 < w}
    hit.discard(0)
    if not hit:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        hit = {int(sizes.argmax())}
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = np.isin(labels, sorted(hit))
    return out


class UsSegmenter:
    """A loaded network; call :meth:`predict` once per interaction (clicks so far, in image pixels)."""

    def __init__(self, net: JointSegClsNet, device: torch.device, name: str, label_mode: str = "four-class",
                 meta: dict | None = None, honour_clicks: bool = True, box_fit: bool = True,
                 box_shape: str = DEFAULT_BOX_SHAPE):
        self.net = net.to(device).eval()
        # repair the mask around clicks the net left wrong (liverview.us.click_guarantee); off: the net's mask as is
        self.honour_clicks = honour_clicks
        # a box is drawn to the lesion's edges: its mask is fitted to it (liverview.us.box_fit); off for loose boxes
        self.box_fit = box_fit
        # how a box's mask becomes the fitted contour: "net" stretches the net's shape, "ellipse" takes its tilt only
        if box_shape not in BOX_SHAPES:
            raise ValueError(f"box_shape must be one of {BOX_SHAPES}, got {box_shape!r}")
        self.box_shape = box_shape
        self.device = device
        self.name = name
        self.label_mode = label_mode  # "four-class", or "benign-malignant" when only that was trained
        self.meta = meta or {}
        # Platt scaling of p(malignant) fitted on held-out real images (liverview cv-us), when trained with it
        platt = self.meta.get("malignancy_platt") or {}
        self.malignancy_calibration = (float(platt["a"]), float(platt["b"])) if {"a", "b"} <= set(platt) else None
        # or the head's score combined with measured lesion features (liverview.us.malignancy), fitted the same way
        stored = self.meta.get("malignancy_model")
        self.malignancy_model = MalignancyModel.from_dict(stored) if stored else None
        self.input_size = net.config.input_size
        self._forward = self._frozen_for_cpu() if device.type == "cpu" else self.net

    def _frozen_for_cpu(self):
        """TorchScript-frozen copy (BatchNorm folded into the convolutions): ~25 % faster per click on CPU."""
        example = torch.zeros(1, self.net.config.in_channels, self.input_size, self.input_size)
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                return torch.jit.freeze(torch.jit.trace(self.net, example, check_trace=False))
        except Exception:  # an exotic build without TorchScript: eager is correct, only slower
            return self.net

    @property
    def uses_prior(self) -> bool:
        """True when the net reads the mask an interaction starts from (see :meth:`predict`)."""
        return self.net.config.prior_channel

    @torch.inference_mode()
    def predict(self, image: np.ndarray, clicks: Sequence[Click], threshold: float = 0.5,
                prior: np.ndarray | None = None) -> UsPrediction:
        """Mask and classes from the clicks so far. ``prior``: the mask shown before the newest clicks
        (image-sized), which a prior-channel net refines; without one, a box's five clicks start from the
        ellipse inscribed in the box and other clicks from nothing. Nets without the channel ignore it."""
        start = time.perf_counter()
        img = np.asarray(image, np.float32)
        if img.ndim != 2:
            raise ValueError(f"predict needs a grey [H, W] image, got shape {img.shape}")
        if not np.all(np.isfinite(img)):
            raise ValueError("the image holds NaN or infinite values")
        h, w = img.shape
        for c in clicks:
            if not (np.isfinite(c.x) and np.isfinite(c.y)):
                raise ValueError(f"click {c} is not finite")
            if c.positive and not (-0.5 <= c.x < w - 0.5 and -0.5 <= c.y < h - 0.5):
                raise ValueError(f"foreground click ({c.x:.1f}, {c.y:.1f}) lies outside the {w}x{h} image")
        if prior is not None and np.shape(prior) != img.shape:
            raise ValueError(f"the prior mask is {np.shape(prior)}, the image {img.shape}")
        shown = prior  # the mask the reader saw when clicking, before any stand-in for it
        if self.uses_prior and prior is None:
            prior = interaction_prior(img.shape, clicks)
        x, window = net_input(img, clicks, self.input_size, prior, with_prior=self.uses_prior)
        xt = torch.from_numpy(x)[None].to(self.device)
        seg_logits, cls_logits = self._forward(xt)
        crop_prob = torch.sigmoid(seg_logits[0, 0]).float().cpu().numpy()
        probs = torch.softmax(cls_logits[0].float(), 0).cpu().numpy()
        prob = paste_back(crop_prob, window, (h, w))
        mask = _keep_clicked_components(prob > threshold, clicks)
        drawn_box = box_of_clicks(clicks)  # a fresh box's five clicks, else None
        box = drawn_box if self.box_fit else None
        fitted = None if box is None else fit_box_shape(mask, box, self.box_shape)  # from the net's own mask
        if self.honour_clicks:
            mask = honour_clicks(mask, clicks, shown)
            fitted = None if fitted is None else honour_clicks(fitted, clicks, shown)
        # the malignancy features are measured on the unfitted mask: what the malignancy model was fitted on
        measured, mask = mask, (mask if fitted is None else fitted)
        if drawn_box is not None and box is None:  # a box drawn with room around the lesion still holds all of it
            inside = filled_box(mask.shape, drawn_box)
            if (mask & ~inside).any():
                mask = mask & inside
        class_probs = {n: float(p) for n, p in zip(CLASS_NAMES, probs)}
        head = float(sum(class_probs[n] for n in MALIGNANT_CLASSES))
        malignant, note = head, "class head, not calibrated"
        if self.malignancy_model is not None and mask.any():
            malignant = self.malignancy_model.probability(lesion_features(img, measured, head))
            note = f"{self.malignancy_model.describe()}, fitted on held-out real images"
        elif self.malignancy_calibration is not None:
            a, b = self.malignancy_calibration
            q = min(max(head, 1e-6), 1 - 1e-6)
            malignant = float(1.0 / (1.0 + np.exp(-(a * np.log(q / (1 - q)) + b))))
            note = "class head, Platt-scaled on held-out real images"
        return UsPrediction(mask=mask, class_probs=class_probs, malignant_prob=malignant,
                            time_ms=(time.perf_counter() - start) * 1000.0, probability=prob,
                            head_malignant_prob=head, malignancy_note=note,
                            measured_mask=measured if measured is not mask else None)


def save_checkpoint_weights(path: Path, net: JointSegClsNet, name: str, label_mode: str, meta: dict) -> None:
    """Inference weights: config + state dict + provenance, loadable by :func:`load_segmenter`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save({"format": "us_clickseg/1", "name": name, "label_mode": label_mode,
                "config": net.config.to_dict(), "state_dict": state, "meta": meta}, path)


def load_segmenter(weights: str | Path | None = None, device: str = "auto") -> UsSegmenter:
    """Load weights (default: models/us_clickseg/us_clickseg.pt, synthetic-trained) on the chosen device."""
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise UsWeightsMissingError(f"no us_clickseg weights at {path}: train them with `liverview train-us` "
                           "or pass --weights")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise UsModelError(f"{path} is not a readable torch checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != "us_clickseg/1":
        raise UsModelError(f"{path} is not us_clickseg weights (format us_clickseg/1)")
    net = JointSegClsNet(NetConfig.from_dict(ckpt["config"]))
    net.load_state_dict(ckpt["state_dict"])
    return UsSegmenter(net, pick_device(device), str(ckpt.get("name", path.stem)), ckpt.get("label_mode", "four-class"),
                       ckpt.get("meta", {}))
