import numpy as np
import pytest

from liverview.measure.recist import EmptyMaskError
from liverview.us.measure import mask_measurements


def test_rectangle_in_pixels_and_in_mm():
    m = np.zeros((50, 60), bool)
    m[10:20, 5:45] = True  # 10 rows x 40 cols
    px = mask_measurements(m, None)
    assert px.units == "px" and px.area == 400
    assert px.long_diameter == pytest.approx(np.hypot(40, 10))  # the diagonal, edge to edge
    mm = mask_measurements(m, (0.5, 0.25))  # rows 0.5 mm, cols 0.25 mm -> 5 mm x 10 mm
    assert mm.units == "mm" and mm.area == pytest.approx(50.0)
    assert mm.long_diameter == pytest.approx(np.hypot(10, 5))


def test_disc_diameters_match_its_size():
    yy, xx = np.mgrid[0:101, 0:101]
    disc = (yy - 50) ** 2 + (xx - 50) ** 2 <= 40 ** 2
    m = mask_measurements(disc, (0.1, 0.1))
    assert m.long_diameter == pytest.approx(8.1, abs=0.15)
    assert m.short_diameter == pytest.approx(8.1, abs=0.2)


def test_empty_mask_and_bad_spacing():
    with pytest.raises(EmptyMaskError):
        mask_measurements(np.zeros((5, 5), bool), None)
    with pytest.raises(ValueError, match="positive"):
        mask_measurements(np.ones((5, 5), bool), (0.0, 1.0))
