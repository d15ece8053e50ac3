"""Cross-phase attention: a non-local block (MSCN Eq. 1) in which each phase attends to the others.

For phase p at position x:  L_p(x) = 1/C(x) * sum_{q != p, y} f(x, y) g(y),  f = exp(theta(x) . phi(y)),
C(x) = sum_y f(x, y) (a softmax over every position y of every *other* present phase q). The block adds
W(L_p) to the phase's features (residual, W zero-initialised so training starts from "no relation").
Missing phases are masked out of the keys; a phase with no other present phase gets L = 0.
"""

from __future__ import annotations

import torch
from torch import nn


class CrossPhaseAttention(nn.Module):
    def __init__(self, channels: int, inner: int = 32) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.w = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.w.weight)
        nn.init.zeros_(self.w.bias)
        self.scale = inner ** -0.5

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """x: (B, P, C, H, W) features of P phases; present: (B, P) bool. Returns the same shape."""
        b, p, c, h, w = x.shape
        if p < 2:
            return x
        flat = x.reshape(b * p, c, h, w)
        n = h * w
        q = self.theta(flat).reshape(b, p, -1, n).transpose(2, 3)  # (B, P, N, D)
        k = self.phi(flat).reshape(b, p, -1, n)  # (B, P, D, N)
        v = self.g(flat).reshape(b, p, -1, n).transpose(2, 3)  # (B, P, N, D)
        d = q.shape[-1]
        keys = k.permute(0, 2, 1, 3).reshape(b, 1, d, p * n)  # all phases' positions side by side
        values = v.reshape(b, 1, p * n, d)
        logits = torch.matmul(q, keys) * self.scale  # (B, P, N, P*N)
        # key phase q is usable by query phase p when q != p and q is present
        allowed = present[:, None, :] & ~torch.eye(p, dtype=torch.bool, device=x.device)[None]  # (B, P, Pk)
        allowed = allowed[:, :, None, :, None].expand(b, p, 1, p, n).reshape(b, p, 1, p * n)
        logits = logits.masked_fill(~allowed, float("-inf"))
        any_key = allowed.any(dim=-1, keepdim=True)  # (B, P, 1, 1)
        attn = torch.softmax(logits.masked_fill(~any_key, 0.0), dim=-1)
        attn = attn * any_key.to(attn.dtype)
        out = torch.matmul(attn, values)  # (B, P, N, D)
        out = out.transpose(2, 3).reshape(b * p, d, h, w)
        return x + self.w(out).reshape(b, p, c, h, w)
