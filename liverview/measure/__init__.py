"""Measurements of lesions in patient millimetres (no Qt, no pixels in the stored values)."""

from liverview.measure.recist import (
    EmptyMaskError,
    RecistGeometryError,
    RecistHandle,
    RecistMeasurement,
    constrain_short_axis,
    drag_handle,
    perpendicular_short_axis,
    recist_for_volume_mask,
    recist_from_mask,
)

__all__ = [
    "EmptyMaskError",
    "RecistGeometryError",
    "RecistHandle",
    "RecistMeasurement",
    "constrain_short_axis",
    "drag_handle",
    "perpendicular_short_axis",
    "recist_for_volume_mask",
    "recist_from_mask",
]
