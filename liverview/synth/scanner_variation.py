"""What differs between CT scanners and protocols, as one random draw per study: added noise, the
reconstruction kernel, slice thickness, contrast timing (a liver HU offset) and patient size. Used by lesion
insertion into real CT and by the phantom's lesion model v2, so that a detector meets this variation in
training rather than first in a hospital."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class ScannerAugmentation:
    """What differs between scanners and protocols, drawn once per generated study."""

    noise_hu: float  # sd of added in-plane-correlated noise
    kernel: float  # > 0: in-plane Gaussian blur (sigma, px); < 0: unsharp-mask sharpening (amount)
    slice_thickness_mm: float  # reconstructed thickness; thicker than the host's spacing blurs along z
    liver_offset_hu: float  # contrast timing: the liver (lesions included) brighter or darker
    scale: float  # patient size / field of view: the pixel size is multiplied by this

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "ScannerAugmentation":
        return cls(noise_hu=float(rng.uniform(0.0, 15.0)),
                   kernel=float(rng.uniform(0.3, 1.0) if rng.random() < 0.5 else -rng.uniform(0.0, 0.8)),
                   slice_thickness_mm=float(np.exp(rng.uniform(math.log(0.6), math.log(5.0)))),
                   liver_offset_hu=float(rng.uniform(-30.0, 30.0)), scale=float(rng.uniform(0.85, 1.15)))

    @classmethod
    def none(cls) -> "ScannerAugmentation":
        return cls(0.0, 0.0, 0.0, 0.0, 1.0)


def apply_scanner_variation(hu: np.ndarray, liver_soft: np.ndarray, spacing: tuple[float, float, float],
                            aug: ScannerAugmentation, rng: np.random.Generator) -> np.ndarray:
    """The image as another scanner and protocol would show it (float HU in, float HU out); ``liver_soft``
    (0..1, same shape) says where the contrast-timing offset applies."""
    out = hu + aug.liver_offset_hu * liver_soft
    sz = spacing[2]
    if aug.slice_thickness_mm > sz:  # a box of the new thickness over slices of the host's thickness ~ Gaussian
        sigma = math.sqrt((aug.slice_thickness_mm ** 2 - sz ** 2) / 12.0) / sz
        out = ndimage.gaussian_filter1d(out, sigma, axis=0, mode="nearest")
    if aug.kernel > 0:
        out = ndimage.gaussian_filter(out, sigma=(0.0, aug.kernel, aug.kernel))
    elif aug.kernel < 0:
        out = out + (-aug.kernel) * (out - ndimage.gaussian_filter(out, sigma=(0.0, 1.0, 1.0)))
    if aug.noise_hu > 0:
        noise = ndimage.gaussian_filter(rng.standard_normal(out.shape, dtype=np.float32), sigma=(0.0, 0.6, 0.6))
        out = out + noise * (aug.noise_hu / float(noise.std()))
    return out
