"""Window/level to 8-bit grey, fast enough to redraw four 512x512 panes per frame."""

from __future__ import annotations

import numpy as np

_INT16_OFFSET = 32768


class GreyMapper:
    """Maps HU to 0..255 for a window. Integer images go through a 65536-entry lookup table."""

    def __init__(self) -> None:
        self._key: tuple[float, float] | None = None
        self._lut: np.ndarray | None = None

    def _table(self, center: float, width: float) -> np.ndarray:
        if self._key != (center, width) or self._lut is None:
            hu = np.arange(-_INT16_OFFSET, _INT16_OFFSET, dtype=np.float32)
            self._lut = window_to_uint8(hu, center, width)
            self._key = (center, width)
        return self._lut

    def __call__(self, image: np.ndarray, center: float, width: float) -> np.ndarray:
        if image.dtype in (np.int16, np.int8, np.uint8):
            return self._table(center, width)[image.astype(np.int32) + _INT16_OFFSET]
        return window_to_uint8(image, center, width)


def window_to_uint8(image: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear window: center - width/2 -> 0, center + width/2 -> 255; NaN shows as black."""
    width = max(float(width), 1.0)
    low = center - width / 2.0
    scaled = (np.asarray(image, np.float32) - low) * (255.0 / width)
    out = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255)
    return out.astype(np.uint8)
