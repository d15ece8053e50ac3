"""Area and long/short diameters of a 2D ultrasound lesion mask, in mm when the pixel size is known.

Diameters reuse the exact RECIST axes of :func:`liverview.measure.recist.recist_from_mask`
(pixel squares, long axis = region diameter, short axis = longest perpendicular chord).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liverview.measure.recist import EmptyMaskError, recist_from_mask


@dataclass(frozen=True)
class MaskMeasurement:
    area: float  # mm^2 or px^2
    long_diameter: float
    short_diameter: float
    units: str  # "mm" or "px"

    def as_dict(self) -> dict[str, float | str]:
        unit2 = f"{self.units}^2"
        return {"area": round(self.area, 3), "area_units": unit2, "long_diameter": round(self.long_diameter, 3),
                "short_diameter": round(self.short_diameter, 3), "units": self.units}


def mask_measurements(mask: np.ndarray, pixel_spacing_mm: tuple[float, float] | None) -> MaskMeasurement:
    """Measure a [H, W] mask; spacing is (row, col) mm, or None to measure in pixels."""
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ValueError(f"mask_measurements needs a 2D mask, got shape {m.shape}")
    if not m.any():
        raise EmptyMaskError("the mask is empty: there is no lesion to measure")
    if pixel_spacing_mm is None:
        sy = sx = 1.0
        units = "px"
    else:
        sy, sx = (float(v) for v in pixel_spacing_mm)
        if not (sy > 0 and sx > 0 and np.isfinite(sy) and np.isfinite(sx)):
            raise ValueError(f"pixel spacing must be two positive mm values, got {pixel_spacing_mm}")
        units = "mm"

    def to_plane(cr: np.ndarray) -> np.ndarray:
        cr = np.asarray(cr, float).reshape(-1, 2)
        return np.column_stack([cr[:, 0] * sx, cr[:, 1] * sy, np.zeros(len(cr))])

    recist = recist_from_mask(m, to_plane, key_slice=0)
    return MaskMeasurement(area=float(m.sum()) * sx * sy, long_diameter=recist.long_axis_mm,
                           short_diameter=float(recist.short_axis_mm or 0.0), units=units)
