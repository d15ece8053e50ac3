"""CenterNet decoding: peaks of the class-agnostic heatmap (3x3 max-pool NMS), their boxes from width/height
and offset, class probabilities from the per-class heatmaps at the peak (normalised to sum 1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Peak:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in input pixels
    score: float
    class_probs: tuple[float, ...]


def decode(outputs: dict[str, torch.Tensor], stride: int = 4, top_k: int = 20, threshold: float = 0.1
           ) -> list[list[Peak]]:
    """Peaks of every image of the batch with score > threshold, best first."""
    heat = torch.sigmoid(outputs["heatmap"].float())
    agnostic = heat[:, -1:]
    keep = F.max_pool2d(agnostic, 3, 1, 1) == agnostic
    scores = (agnostic * keep).flatten(1)
    k = min(top_k, scores.shape[1])
    top, idx = scores.topk(k, dim=1)
    b, _, h, w = heat.shape
    wh = outputs["wh"].float().flatten(2)
    off = outputs["offset"].float().flatten(2)
    cls = heat[:, :-1].flatten(2)
    results: list[list[Peak]] = []
    for n in range(b):
        peaks = []
        for s, i in zip(top[n].tolist(), idx[n].tolist()):
            if s <= threshold:
                break
            y, x = divmod(i, w)
            cx, cy = x + float(off[n, 0, i]), y + float(off[n, 1, i])
            bw, bh = max(float(wh[n, 0, i]), 0.0), max(float(wh[n, 1, i]), 0.0)
            box = ((cx - bw / 2) * stride, (cy - bh / 2) * stride, (cx + bw / 2) * stride, (cy + bh / 2) * stride)
            p = cls[n, :, i]
            p = p / p.sum().clamp(min=1e-6)
            peaks.append(Peak(box, s, tuple(float(v) for v in p)))
        results.append(peaks)
    return results
