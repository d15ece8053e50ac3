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
        """Indexed by the int16 value's bit pattern read as uint16 (so no widening copy)."""
        if self._key != (center, width) or self._lut is None:
            hu = np.arange(0, 2 * _INT16_OFFSET, dtype=np.uint32).astype(np.uint16).view(np.int16)
            self._lut = window_to_uint8(hu.astype(np.float32), center, width)
            self._key = (center, width)
        return self._lut

    def __call__(self, image: np.ndarray, center: float, width: float) -> np.ndarray:
        if image.dtype == np.int16:
            return np.take(self._table(center, width), image.view(np.uint16))
        if image.dtype in (np.int8, np.uint8):
            return np.take(self._table(center, width), image.astype(np.int16).view(np.uint16))
        return window_to_uint8(image, center, width)


def window_to_uint8(image: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear window: center - width/2 -> 0, center + width/2 -> 255; NaN shows as black."""
    width = max(float(width), 1.0)
    low = center - width / 2.0
    scaled = (np.asarray(image, np.float32) - low) * (255.0 / width)
    out = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255)
    return out.astype(np.uint8)


HATCH_GREYS = (24, 96)  # the two greys of the stripes that stand for pixels with no data
HATCH_PERIOD_PX = 8


def hatch(grey: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``grey`` with diagonal stripes where ``where`` is True (slices missing from the series): a pattern no
    scan shows, so nobody reads it as tissue, air or a windowing artefact."""
    rows, cols = np.indices(grey.shape)
    stripes = np.where((rows + cols) % HATCH_PERIOD_PX < HATCH_PERIOD_PX // 2, *HATCH_GREYS).astype(np.uint8)
    return np.where(where, stripes, grey)
