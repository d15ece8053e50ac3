"""Is a probability a probability? Reliability of binary scores (e.g. p(malignant)): the reliability
diagram's bins, the expected calibration error, and Platt scaling fitted on held-out scores."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_predicted: float  # NaN when empty
    fraction_positive: float  # NaN when empty


def reliability_bins(probs: Sequence[float], labels: Sequence[bool], n_bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1]; a probability of exactly 1 falls in the last bin."""
    p, y = np.asarray(probs, float), np.asarray(labels, bool)
    if p.shape != y.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError("need as many probabilities as labels, at least one")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError("probabilities must be finite and within [0, 1]")
    edges = np.linspace(0, 1, n_bins + 1)
    index = np.minimum((p * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = index == b
        n = int(sel.sum())
        out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), n,
                                  float(p[sel].mean()) if n else math.nan, float(y[sel].mean()) if n else math.nan))
    return out


def expected_calibration_error(probs: Sequence[float], labels: Sequence[bool], n_bins: int = 10) -> float:
    """Sum over bins of (share of samples) x |mean predicted - fraction positive|."""
    bins = reliability_bins(probs, labels, n_bins)
    total = sum(b.count for b in bins)
    return float(sum(b.count / total * abs(b.mean_predicted - b.fraction_positive) for b in bins if b.count))


@dataclass(frozen=True)
class PlattScaling:
    """p' = sigmoid(a * logit(p) + b), fitted by maximum likelihood on held-out (probability, label) pairs."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, p: float | np.ndarray) -> float | np.ndarray:
        q = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
        z = self.a * np.log(q / (1 - q)) + self.b
        out = 1 / (1 + np.exp(-z))
        return float(out) if np.ndim(out) == 0 else out

    @classmethod
    def fit(cls, probs: Sequence[float], labels: Sequence[bool], l2: float = 1e-2, iterations: int = 100
            ) -> "PlattScaling":
        """Newton's method on the log loss with a small ridge towards (a, b) = (1, 0), so a handful of
        samples cannot push the map to a step."""
        q = np.clip(np.asarray(probs, float), 1e-6, 1 - 1e-6)
        y = np.asarray(labels, float)
        if len(q) != len(y) or len(q) < 2 or y.min() == y.max():
            raise ValueError("Platt scaling needs at least one positive and one negative held-out sample")
        x = np.log(q / (1 - q))
        prior = np.array([1.0, 0.0])

        def loss(w: np.ndarray) -> float:
            z = w[0] * x + w[1]
            return float(np.sum(np.logaddexp(0, z) - y * z) + 0.5 * l2 * np.sum((w - prior) ** 2))

        w = prior.copy()
        for _ in range(iterations):  # damped Newton: halve the step until the loss falls
            s = 0.5 * (1 + np.tanh(0.5 * (w[0] * x + w[1])))  # sigmoid without overflow
            grad = np.array([np.sum((s - y) * x), np.sum(s - y)]) + l2 * (w - prior)
            h = s * (1 - s)
            hess = np.array([[np.sum(h * x * x), np.sum(h * x)], [np.sum(h * x), np.sum(h)]]) + l2 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            current, t = loss(w), 1.0
            while loss(w - t * step) > current and t > 1e-6:
                t /= 2
            w = w - t * step
            if np.abs(t * step).max() < 1e-9:
                break
        return cls(float(w[0]), float(w[1]))


def draw_reliability_diagram(bins: Sequence[ReliabilityBin], title: str, path) -> None:
    """A PNG: predicted probability (x) against observed frequency (y), bin counts as bar heights below."""
    import cv2

    size, m = 420, 50
    img = np.full((size + 40, size, 3), 255, np.uint8)

    def xy(px: float, py: float) -> tuple[int, int]:
        return int(m + px * (size - 2 * m)), int(size - m - py * (size - 2 * m))

    cv2.rectangle(img, xy(0, 0), xy(1, 1), (0, 0, 0), 1)
    cv2.line(img, xy(0, 0), xy(1, 1), (160, 160, 160), 1)
    for t in np.linspace(0, 1, 6):
        cv2.putText(img, f"{t:.1f}", (xy(t, 0)[0] - 10, size - m + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.putText(img, f"{t:.1f}", (m - 35, xy(0, t)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    total = max(sum(b.count for b in bins), 1)
    for b in bins:
        if b.count:
            x0, _ = xy(b.low, 0)
            x1, _ = xy(b.high, 0)
            cv2.rectangle(img, (x0 + 2, xy(0, b.fraction_positive)[1]), (x1 - 2, xy(0, 0)[1]), (230, 180, 120), -1)
            cv2.circle(img, xy(b.mean_predicted, b.fraction_positive), 4, (0, 80, 200), -1)
            h = int(30 * b.count / total)
            cv2.rectangle(img, (x0 + 2, size + 35 - h), (x1 - 2, size + 35), (120, 120, 120), -1)
    cv2.putText(img, title, (m, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cv2.putText(img, "predicted", (size // 2 - 30, size - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(img, "observed", (5, m - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(img, "count", (5, size + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.imwrite(str(path), img)
