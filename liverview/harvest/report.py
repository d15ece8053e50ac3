"""A harvest round's report: report.json (every number), report.md (readable) and pr_curve.png.

The PNG is drawn with matplotlib when it is installed (Agg backend, no display), else with OpenCV."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class PrCurve:
    """One precision-recall curve to draw; ``point`` marks an operating point (recall, precision)."""

    label: str
    recall: Sequence[float]
    precision: Sequence[float]
    point: tuple[float, float] | None = None


def _draw_matplotlib(curves: Sequence[PrCurve], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    for n, c in enumerate(curves):
        line, = ax.plot(c.recall, c.precision, label=c.label, drawstyle="steps-post")
        if c.point is not None:
            ax.plot([c.point[0]], [c.point[1]], "o", color=line.get_color())
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _draw_opencv(curves: Sequence[PrCurve], title: str, path: Path) -> None:
    import cv2

    w, h, m = 600, 500, 60
    img = np.full((h, w, 3), 255, np.uint8)

    def xy(r: float, p: float) -> tuple[int, int]:
        return int(m + r * (w - 2 * m)), int(h - m - p * (h - 2 * m))

    cv2.rectangle(img, xy(0, 0), xy(1, 1), (0, 0, 0), 1)
    for t in np.linspace(0, 1, 6):
        cv2.putText(img, f"{t:.1f}", (xy(t, 0)[0] - 10, h - m + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.putText(img, f"{t:.1f}", (m - 35, xy(0, t)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.line(img, xy(0, 0.9), xy(1, 0.9), (160, 160, 160), 1)
    colours = [(200, 80, 0), (0, 120, 230), (40, 160, 40), (180, 0, 180)]
    for n, c in enumerate(curves):
        col = colours[n % len(colours)]
        pts = []
        for i, (r, p) in enumerate(zip(c.recall, c.precision)):
            if i and pts:
                pts.append(xy(r, pts_p))  # steps-post: horizontal then vertical
            pts.append(xy(r, p))
            pts_p = p
        if len(pts) > 1:
            cv2.polylines(img, [np.array(pts, np.int32)], False, col, 2)
        if c.point is not None:
            cv2.circle(img, xy(*c.point), 5, col, -1)
        cv2.putText(img, c.label, (m + 10, h - m - 15 - 18 * n), cv2.FONT_HERSHEY_SIMPLEX, 0.45, col, 1)
    cv2.putText(img, title[:80], (m, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cv2.putText(img, "recall", (w // 2 - 20, h - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(img, "precision", (5, m - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {path}")


def draw_pr_curves(curves: Sequence[PrCurve], title: str, path: str | Path, backend: str = "auto") -> Path:
    """Write the curves as a PNG; backend "auto" uses matplotlib when importable, else OpenCV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if backend == "auto":
        try:
            import matplotlib  # noqa: F401

            backend = "matplotlib"
        except ImportError:
            backend = "opencv"
    (_draw_matplotlib if backend == "matplotlib" else _draw_opencv)(curves, title, path)
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def write_report(out_dir: str | Path, numbers: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """report.json (numbers, NaN as null) and report.md in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    j, m = out / "report.json", out / "report.md"
    j.write_text(json.dumps(_clean(numbers), indent=2) + "\n")
    m.write_text(markdown.rstrip() + "\n")
    return j, m
