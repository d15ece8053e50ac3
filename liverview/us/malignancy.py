"""p(malignant) of an ultrasound lesion from a few measured features and the network's own score.

The click network's class head has seen too few real liver lesions to rank them (16 in all), so its
score is combined with what a reader weighs too: the lesion's size, its echogenicity against the liver
around it, and its texture. The combination is a ridge-regularised logistic regression on standardised
features, fitted on held-out scores (``liverview cv-us``: each image scored by the fold model that did not
train on it) and stored with the weights; with so few images, its figures are reported cross-fitted.

Features (chosen from reading practice, not searched for):
- ``net_logit``: logit of the network's p(malignant);
- ``log_relative_area``: log of the lesion's share of the image's non-black (scanned) area; pixel spacing
  is often unknown, so size is relative to the scanned field;
- ``echo_contrast``: (mean inside - mean of a ring around the lesion) / the ring's spread; hypoechoic < 0;
- ``heterogeneity``: spread inside the lesion / its mean (coefficient of variation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

FEATURES: tuple[str, ...] = ("net_logit", "log_relative_area", "echo_contrast", "heterogeneity")
SIZE_FEATURES: tuple[str, ...] = ("log_relative_area",)  # the trivial model: the bigger, the likelier malignant
FEATURE_WORDS = {"net_logit": "class head", "log_relative_area": "lesion size", "echo_contrast": "echogenicity",
                 "heterogeneity": "texture"}
SCANNED_MIN_GREY = 3.0  # pixels darker than this are the black outside the scan sector


def lesion_features(image: np.ndarray, mask: np.ndarray, net_malignant_prob: float) -> dict[str, float]:
    """The features of :data:`FEATURES` for one lesion (grey image 0..255, bool mask of the same shape)."""
    img = np.asarray(image, np.float32)
    mask = np.asarray(mask, bool)
    if img.shape != mask.shape:
        raise ValueError(f"image {img.shape} and mask {mask.shape} differ in shape")
    area = int(mask.sum())
    if area == 0:
        raise ValueError("the lesion mask is empty")
    q = float(np.clip(net_malignant_prob, 1e-4, 1 - 1e-4))
    scanned = max(int((img > SCANNED_MIN_GREY).sum()), area)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    radius = float(np.sqrt(area / np.pi))
    width = max(4, int(round(0.3 * radius)))
    # the ring: pixels within ``width`` of the lesion, outside it, inside the scan (bounding box only)
    r0, r1 = max(rows[0] - width - 1, 0), min(rows[-1] + width + 2, mask.shape[0])
    c0, c1 = max(cols[0] - width - 1, 0), min(cols[-1] + width + 2, mask.shape[1])
    local, local_img = mask[r0:r1, c0:c1], img[r0:r1, c0:c1]
    ring = (ndimage.distance_transform_edt(~local) <= width) & ~local & (local_img > SCANNED_MIN_GREY)
    inside = local_img[local]
    around = local_img[ring] if ring.any() else local_img[~local]
    if around.size == 0:
        around = inside
    contrast = (float(inside.mean()) - float(around.mean())) / (float(around.std()) + 1.0)
    return {"net_logit": float(np.log(q / (1 - q))), "log_relative_area": float(np.log(area / scanned)),
            "echo_contrast": contrast, "heterogeneity": float(inside.std()) / (float(inside.mean()) + 1.0)}


def feature_matrix(rows: Sequence[dict[str, float]], names: Sequence[str] = FEATURES) -> np.ndarray:
    return np.array([[float(r[n]) for n in names] for r in rows], float)


@dataclass(frozen=True)
class MalignancyModel:
    """sigmoid(intercept + coef . (x - mean) / scale) over the named features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, features: dict[str, float]) -> float:
        x = np.array([float(features[n]) for n in self.features])
        z = self.intercept + float(np.dot(self.coef, (x - np.array(self.mean)) / np.array(self.scale)))
        return float(0.5 * (1 + np.tanh(0.5 * z)))

    @classmethod
    def fit(cls, rows: Sequence[dict[str, float]], labels: Sequence[bool], names: Sequence[str] = FEATURES,
            l2: float = 1.0, iterations: int = 100) -> "MalignancyModel":
        """Newton's method on the log loss + ``l2``/2 |coef|^2 (intercept free), on standardised features."""
        y = np.asarray(labels, float)
        x = feature_matrix(rows, names)
        if len(y) != len(x) or len(y) < 2 or y.min() == y.max():
            raise ValueError("fitting needs at least one malignant and one benign lesion")
        mean, scale = x.mean(0), x.std(0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        z = np.column_stack([np.ones(len(y)), (x - mean) / scale])
        ridge = np.diag([0.0] + [l2] * len(names))
        w = np.zeros(z.shape[1])
        for _ in range(iterations):
            p = 0.5 * (1 + np.tanh(0.5 * (z @ w)))
            grad = z.T @ (p - y) + ridge @ w
            hess = z.T @ (z * (p * (1 - p))[:, None]) + ridge + 1e-9 * np.eye(len(w))
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-10:
                break
        return cls(tuple(names), tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, w[1:])),
                   float(w[0]))

    def describe(self) -> str:
        """What the score reads, for the reader: "class head + lesion size, echogenicity and texture"."""
        words = [FEATURE_WORDS.get(n, n) for n in self.features]
        head = [w for w in words if w == "class head"]
        rest = [w for w in words if w != "class head"]
        listed = ", ".join(rest[:-1]) + (" and " if len(rest) > 1 else "") + rest[-1] if rest else ""
        return " + ".join(head + ([listed] if listed else []))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MalignancyModel":
        return cls(tuple(d["features"]), tuple(d["mean"]), tuple(d["scale"]), tuple(d["coef"]), float(d["intercept"]))
