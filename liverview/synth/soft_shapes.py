"""Soft shapes shared by the synthetic CT phantom and the lesion model: a membership ramp from a signed
distance, a smooth step, random rotations and smooth random fields (sums of plane waves)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def membership(sd_mm: np.ndarray, edge_mm: float) -> np.ndarray:
    """Soft inside-ness from a signed distance (negative inside): 0.5 at the surface, a ramp edge_mm wide."""
    return np.clip(0.5 - sd_mm * (1.0 / edge_mm), 0.0, 1.0).astype(np.float32, copy=False)


def smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3D rotation (columns = the ellipsoid's axes in x, y, z)."""
    q = rng.standard_normal(4)
    w, a, b, c = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)],
                     [2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)],
                     [2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)]])


@dataclass(frozen=True)
class Field:
    """A smooth random field of unit variance (a sum of plane waves), evaluable on any box or point set."""

    k: tuple[tuple[float, float, float], ...]  # rad/mm along x, y, z
    phase: tuple[float, ...]

    @classmethod
    def draw(cls, rng: np.random.Generator, wavelength_mm: tuple[float, float], n_waves: int = 6) -> "Field":
        dirs = rng.standard_normal((n_waves, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        lam = rng.uniform(*wavelength_mm, n_waves)
        k = dirs * (2 * math.pi / lam)[:, None]
        return cls(tuple(tuple(float(v) for v in row) for row in k),
                   tuple(float(v) for v in rng.uniform(0, 2 * math.pi, n_waves)))

    def __call__(self, x, y, z):
        out = 0.0
        for (kx, ky, kz), ph in zip(self.k, self.phase):
            out = out + np.cos(kx * x + ky * y + kz * z + ph)
        return out * math.sqrt(2.0 / len(self.k))
