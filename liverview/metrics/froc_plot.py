"""FROC curves as a PNG: sensitivity (recall) against false positives per volume on a log axis, drawn with
OpenCV (no matplotlib needed). Each curve is read off exactly as its protocol reads the FROC values, so the
line passes through the dots that mark the reported values at 0.125 .. 8 FP per volume; beyond the highest
rate the proposals reach, the line is dotted (the final recall, held)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from liverview.metrics.detection import CRITERION_NAMES, DetectionReport, read_froc

X_MIN, X_MAX = 1 / 16, 16.0  # FP per volume shown (log axis)
COLOURS = [(200, 80, 0), (0, 120, 230), (40, 160, 40), (180, 0, 180)]  # BGR, as in the harvest PR plot


@dataclass(frozen=True)
class FrocCurve:
    """One curve to draw: sampled (FP per volume, recall), the reported FROC values to mark as dots, and
    the highest FP rate the proposals reach (the curve is only held flat beyond it)."""

    label: str
    fp_per_volume: Sequence[float]
    recall: Sequence[float]
    points: Mapping[float, float]
    reached_fp: float


def froc_curve_of(report: DetectionReport, label: str | None = None, samples: int = 400) -> FrocCurve:
    """The report's FROC, sampled on the plot's log axis with the report's protocol."""
    xs = np.geomspace(X_MIN, X_MAX, samples)
    values = read_froc(report.curve, xs, report.protocol)
    fps = report.curve.fp_per_volume
    reached = float(fps[-1]) if len(fps) else 0.0
    if label is None:
        label = f"{CRITERION_NAMES[report.criterion]} >= {report.iou_threshold:g}"
    return FrocCurve(label, list(values), list(values.values()), dict(report.froc), reached)


def draw_froc_curves(curves: Sequence[FrocCurve], title: str, path: str | Path) -> Path:
    """Write the curves to ``path`` as a PNG (a 640 x 480 chart, white background)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = 640, 480
    left, right, top, bottom = 62, 24, 44, 56
    img = np.full((h, w, 3), 255, np.uint8)
    font, black, grid = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (225, 225, 225)
    lx0, lx1 = math.log2(X_MIN), math.log2(X_MAX)

    def xy(fp: float, r: float) -> tuple[int, int]:
        t = (math.log2(min(max(fp, X_MIN), X_MAX)) - lx0) / (lx1 - lx0)
        return int(round(left + t * (w - left - right))), int(round(h - bottom - r * (h - top - bottom)))

    for k in range(int(lx0), int(lx1) + 1):
        fp = 2.0 ** k
        cv2.line(img, xy(fp, 0), xy(fp, 1), grid, 1)
        text = f"{fp:g}" if fp >= 0.125 else "1/16"
        x = xy(fp, 0)[0] - 4 * len(text)
        cv2.putText(img, text, (x, h - bottom + 18), font, 0.4, black, 1, cv2.LINE_AA)
    for t in np.linspace(0, 1, 11):
        cv2.line(img, xy(X_MIN, t), xy(X_MAX, t), grid, 1)
        if round(t * 10) % 2 == 0:
            cv2.putText(img, f"{t:.1f}", (left - 30, xy(X_MIN, t)[1] + 4), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.rectangle(img, xy(X_MIN, 0), xy(X_MAX, 1), black, 1)

    for n, c in enumerate(curves):
        col = COLOURS[n % len(COLOURS)]
        width = 2 + len(curves) - 1 - n  # earlier curves wider, so one drawn over another still shows
        pts = [(xy(f, r), f <= c.reached_fp) for f, r in zip(c.fp_per_volume, c.recall) if math.isfinite(r)]
        for i, ((p0, solid), (p1, _)) in enumerate(zip(pts, pts[1:])):
            if solid or i % 4 < 2:  # dotted where the proposals run out
                cv2.line(img, p0, p1, col, width if solid else 1, cv2.LINE_AA)
        for f, r in c.points.items():
            if math.isfinite(r):
                cv2.circle(img, xy(f, r), 4, col, -1, cv2.LINE_AA)
        finite = [r for r in c.points.values() if math.isfinite(r)]
        mean = f"   mean {100 * float(np.mean(finite)):.1f} %" if finite else ""
        cv2.putText(img, f"{c.label}{mean}", (left + 10, top + 18 + 18 * n), font, 0.45, col, 1, cv2.LINE_AA)

    cv2.putText(img, title[:90], (left, 26), font, 0.45, black, 1, cv2.LINE_AA)
    cv2.putText(img, "false positives per volume (log scale)", (w // 2 - 130, h - 16), font, 0.45, black, 1,
                cv2.LINE_AA)
    label = np.full((22, 150, 3), 255, np.uint8)
    cv2.putText(label, "sensitivity (recall)", (2, 16), font, 0.45, black, 1, cv2.LINE_AA)
    rotated = cv2.rotate(label, cv2.ROTATE_90_COUNTERCLOCKWISE)
    y0 = top + (h - top - bottom - rotated.shape[0]) // 2
    img[y0:y0 + rotated.shape[0], 4:4 + rotated.shape[1]] = rotated
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {path}")
    return path


def draw_froc(reports: Sequence[DetectionReport], path: str | Path, title: str | None = None) -> Path:
    """One chart of the reports' FROC curves (e.g. one per criterion of one protocol)."""
    if not reports:
        raise ValueError("no report to plot")
    if title is None:
        r = reports[0]
        protocols = ", ".join(dict.fromkeys(x.protocol for x in reports))
        title = f"FROC, protocol {protocols}: {r.n_lesions} lesions in {r.n_volumes} volume(s)"
    several = len({x.protocol for x in reports}) > 1
    labels = [f"{x.protocol}: {CRITERION_NAMES[x.criterion]} >= {x.iou_threshold:g}" if several else None
              for x in reports]
    return draw_froc_curves([froc_curve_of(r, label) for r, label in zip(reports, labels)], title, path)
