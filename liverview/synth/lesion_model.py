"""The lesion model shared by the phantom (`synth-ct`) and lesion insertion into real CT (`synth-inserted`):
a lobulated, rotated ellipsoid per lesion and its per-phase attenuation following each class's textbook
enhancement pattern (cyst, hemangioma, HCC, metastasis): heterogeneous texture, necrotic centres, rims and
capsules. Coordinates are mm in any frame the caller chooses (the same for centre and sample points)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liverview.synth.soft_shapes import Field, random_rotation, smoothstep

# Nominal lesion diameters (mm, log-uniform) per class: the phantom keeps these; insertion into real CT draws 5-100 mm.
DIAMETER_RANGE_MM = {"cyst": (6.0, 40.0), "hemangioma": (14.0, 45.0), "hcc": (12.0, 45.0),
                      "metastasis": (8.0, 35.0)}
LOBULATION = {"cyst": 0.03, "hemangioma": 0.08, "hcc": 0.06, "metastasis": 0.12}
EDGE_MM = {"cyst": 0.5, "hemangioma": 1.0, "hcc": 1.0, "metastasis": 2.0}
MAX_EXTENT_MM = 60.0  # phantom default: the lesion (with its lobes) fits a 60 mm sphere


@dataclass(frozen=True)
class LesionShape:
    lesion_class: str
    centre: np.ndarray  # local mm
    radii: np.ndarray
    rot: np.ndarray
    lobes: tuple[tuple[float, float, float, float, float], ...]  # (kx, ky, kz, freq, phase)
    lobulation: float

    @property
    def extent(self) -> float:
        """Radius (mm) of a sphere around the centre holding the whole lesion."""
        return float(self.radii.max()) * (1.0 + self.lobulation)

    def normalized(self, x, y, z) -> tuple[np.ndarray, list[np.ndarray]]:
        """(d_eff, unit direction in ellipsoid coords): d_eff = 1 on the lobulated surface, 0 at the centre."""
        p = [x - float(self.centre[0]), y - float(self.centre[1]), z - float(self.centre[2])]
        q = [sum(float(self.rot[r, a]) * p[r] for r in range(3)) / float(self.radii[a]) for a in range(3)]
        d = np.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2)
        inv = 1.0 / np.maximum(d, 1e-6)
        n = [qa * inv for qa in q]
        g = 0.0
        for kx, ky, kz, freq, ph in self.lobes:
            g = g + np.cos(freq * (kx * n[0] + ky * n[1] + kz * n[2]) + ph)
        g = g * (1.0 / len(self.lobes))
        return d / (1.0 + self.lobulation * g), n


def lesion_hu(shape: LesionShape, d: np.ndarray, n: list[np.ndarray], x, y, z, liver_hu,
              rng: np.random.Generator) -> list:
    """Per-phase HU inside one lesion, following the class's textbook enhancement pattern."""
    L = liver_hu
    cls = shape.lesion_class
    r_mean = float(np.prod(shape.radii) ** (1 / 3))
    diameter = 2 * r_mean
    if cls == "cyst":  # water density, never enhances
        v = float(rng.uniform(4.0, 12.0))
        return [v, v, v, v]
    if cls == "hemangioma":  # peripheral nodular enhancement, centripetal fill-in, blood-pool density
        k = int(rng.integers(7, 11))
        dirs = rng.standard_normal((k, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        # Nodules sit on the rim and grow as balls, phase by phase: discontinuous peripheral puddles in
        # ART that spread centripetally. t = distance (in lesion radii) to the nearest nodule, scaled.
        t = 10.0
        d2 = d * d
        for (a, b, c), size in zip(dirs, rng.uniform(0.8, 1.25, k)):
            cos = float(a) * n[0] + float(b) * n[1] + float(c) * n[2]
            t = np.minimum(t, np.sqrt(np.maximum(d2 + 1.0 - 2.0 * d * cos, 0.0)) * (1.0 / float(size)))
        if diameter > 35:
            t = t + 1.0 * smoothstep((0.18 - d) / 0.06)  # a central scar stays unfilled
        unfilled = (40.0, 42.0, 45.0, 45.0)
        filled = (40.0, 220.0 + rng.uniform(-15, 15), 165.0 + rng.uniform(-10, 10), 125.0 + rng.uniform(-5, 10))
        front = (-1.0, 0.35, 0.7, 1.6)
        return [u + smoothstep((T - t) / 0.1) * (f - u) if T > 0 else u
                for u, f, T in zip(unfilled, filled, front)]
    tex = Field.draw(rng, (0.6 * r_mean + 2.0, 1.5 * r_mean + 4.0), n_waves=5)(x, y, z)
    if cls == "hcc":  # arterial hyper-enhancement (mosaic), washout, enhancing capsule in PV/DEL
        core = [L[0] - 10 + 3 * tex, L[1] + rng.uniform(42, 58) + 15 * tex, L[2] - 25 + 6 * tex, L[3] - 28 + 5 * tex]
        capsule = (L[0] - 5, L[1] + 5, L[2] + 20, L[3] + 25)
        inner_mm = (1.0 - d) * r_mean
        w = smoothstep((1.6 - inner_mm) / 0.8)
        out = [c + w * (cap - c) for c, cap in zip(core, capsule)]
        if diameter > 35:
            nec = smoothstep((0.25 - d) / 0.08)
            out = [o + nec * (25.0 - o) for o in out]
        return out
    # metastasis: hypovascular core, enhancing rim in ART / PV (target-like), necrotic centre when large
    core = (L[0] - 17, L[1] - 22, L[2] - 48, L[3] - 28)
    rim = (L[0] - 12, L[1] + 22, L[2] + 8, L[3] - 6)
    w = smoothstep((d - 0.68) / 0.12)
    out = [c + 4 * tex + w * (rr - c) for c, rr in zip(core, rim)]
    if diameter > 25:
        nec = smoothstep((0.3 - d) / 0.1)
        out = [o + nec * (18.0 - o) for o in out]
    return out


def draw_lesion_shape(cls: str, diameter: float, centre: np.ndarray, rng: np.random.Generator,
                      max_extent_mm: float = MAX_EXTENT_MM) -> LesionShape:
    """A lesion of about ``diameter`` mm (axes varied, volume kept), shrunk where needed so that it fits, lobes
    included, a sphere ``max_extent_mm`` across (a diameter, not a radius)."""
    f = np.exp(rng.uniform(-0.18, 0.18, 3))
    f /= np.prod(f) ** (1 / 3)
    radii = diameter / 2 * f
    lob = LOBULATION[cls]
    cap = (max_extent_mm / 2) / (float(radii.max()) * (1 + lob))
    radii = radii * min(cap, 1.0)
    lobes = []
    for _ in range(3):
        k = rng.standard_normal(3)
        k /= np.linalg.norm(k)
        lobes.append((float(k[0]), float(k[1]), float(k[2]), float(rng.uniform(2.0, 4.0)), float(rng.uniform(0, 2 * math.pi))))
    return LesionShape(cls, centre, radii, random_rotation(rng), tuple(lobes), lob)
