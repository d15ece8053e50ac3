"""Cross-phase attention: a non-local block (MSCN Eq. 1) in which each phase attends to the others.

For phase p at position x:  L_p(x) = 1/C(x) * sum_{q != p, y} f(x, y) g(y),  f = exp(theta(x) . phi(y)),
C(x) = sum_y f(x, y) (a softmax over every position y of every *other* present phase q). The block adds
W(L_p) to the phase's features (residual, W zero-initialised so training starts from "no relation").
Missing phases are masked out of the keys; a phase with no other present phase gets L = 0.

``window`` (cells of the stride-8 map; 0 = the whole map) bounds how far y may lie from x: the map is cut into
near-equal tiles of at most window x window cells and each tile attends within itself. A model trained on
crops of crop_px pixels never saw keys further away than one crop, and the cost of global attention grows
with the square of the image area (a 512 x 512 slice at 1 mm: 2116 positions per phase).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def tile_bounds(n: int, window: int) -> list[tuple[int, int]]:
    """[start, stop) of near-equal tiles covering 0..n, none longer than ``window`` (0: one tile)."""
    if window <= 0 or n <= window:
        return [(0, n)]
    edges = np.linspace(0, n, -(-n // window) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class CrossPhaseAttention(nn.Module):
    def __init__(self, channels: int, inner: int = 32, window: int = 0) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.w = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.w.weight)
        nn.init.zeros_(self.w.bias)
        self.window = window  # softmax scale 1/sqrt(inner): scaled_dot_product_attention's default

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """x: (B, P, C, H, W) features of P phases; present: (B, P) bool. Returns the same shape."""
        b, p, c, h, w = x.shape
        if p < 2:
            return x
        flat = x.reshape(b * p, c, h, w)
        q, k, v = (f(flat).reshape(b, p, -1, h, w) for f in (self.theta, self.phi, self.g))
        out = torch.zeros_like(q)
        used = present.any(dim=0)  # phases present in some sample: only these are computed
        for i in range(p):
            others = [j for j in range(p) if j != i and bool(used[j])]
            if not bool(used[i]) or not others:
                continue  # a missing phase's output is zeroed before fusion; no key phase: L = 0
            key_ok = present[:, others]  # (B, K)
            any_key = key_ok.any(dim=1)[:, None, None, None]  # (B, 1, 1, 1)
            for y0, y1 in tile_bounds(h, self.window):
                for x0, x1 in tile_bounds(w, self.window):
                    n = (y1 - y0) * (x1 - x0)
                    qt = q[:, i, :, y0:y1, x0:x1].reshape(b, 1, -1, n).transpose(2, 3)  # (B, 1, N, D)
                    kt = k[:, others, :, y0:y1, x0:x1].reshape(b, len(others), -1, n).transpose(2, 3)
                    vt = v[:, others, :, y0:y1, x0:x1].reshape(b, len(others), -1, n).transpose(2, 3)
                    kt, vt = kt.reshape(b, 1, len(others) * n, -1), vt.reshape(b, 1, len(others) * n, -1)
                    mask = key_ok[:, :, None].expand(b, len(others), n).reshape(b, 1, 1, len(others) * n)
                    mask = mask | ~any_key  # no fully masked row (NaN on some backends); zeroed just below
                    lt = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask)
                    lt = torch.where(any_key, lt, torch.zeros((), dtype=lt.dtype, device=lt.device))
                    out[:, i, :, y0:y1, x0:x1] = lt.transpose(2, 3).reshape(b, -1, y1 - y0, x1 - x0)
        return x + self.w(out.reshape(b * p, -1, h, w)).reshape(b, p, c, h, w)
