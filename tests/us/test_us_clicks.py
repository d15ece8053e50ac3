import numpy as np
import pytest

from liverview.us.clicks import Click, box_to_clicks, click_maps


def test_box_becomes_centre_foreground_and_four_corner_backgrounds():
    clicks = box_to_clicks(30, 40, 10, 20)  # corners in any order
    assert clicks[0] == Click(20.0, 30.0, True)
    assert sorted((c.x, c.y) for c in clicks[1:]) == [(10, 20), (10, 40), (30, 20), (30, 40)]
    assert not any(c.positive for c in clicks[1:])


def test_degenerate_box_is_rejected():
    with pytest.raises(ValueError, match="one pixel"):
        box_to_clicks(5, 5, 5.5, 20)


def test_distance_maps_are_euclidean_and_255_without_clicks():
    maps = click_maps((20, 30), [Click(3, 4, True)])
    assert maps.shape == (2, 20, 30) and maps.dtype == np.float32
    assert maps[0, 4, 3] == 0
    assert maps[0, 8, 6] == pytest.approx(5.0)  # (dx, dy) = (3, 4)
    assert np.all(maps[1] == 255)


def test_distance_map_takes_nearest_click_and_caps_at_255():
    maps = click_maps((10, 400), [Click(0, 0, False), Click(10, 0, False), Click(5, 5, True)])
    assert maps[1, 0, 6] == pytest.approx(4.0)
    assert maps[0, 5, 399] == 255.0  # 394 px away, capped
