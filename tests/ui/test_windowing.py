"""Window/level to grey: the fast lookup path must equal the plain formula."""

import numpy as np

from liverview.ui.panes.windowing import GreyMapper, window_to_uint8


def test_lookup_table_equals_the_formula_over_the_whole_int16_range():
    values = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16).reshape(256, 256)
    mapper = GreyMapper()
    for center, width in [(40, 400), (60, 160), (-600, 1500), (0, 1)]:
        assert np.array_equal(mapper(values, center, width), window_to_uint8(values, center, width))


def test_window_edges_and_nan():
    img = np.array([[-161.0, -160.0, 40.0, 240.0, np.nan]], np.float32)
    out = window_to_uint8(img, 40, 400)
    assert out[0, 0] == 0 and out[0, 1] == 0 and out[0, 3] == 255 and out[0, 4] == 0
    assert 126 <= out[0, 2] <= 128


def test_non_contiguous_views_are_mapped_correctly():
    arr = np.random.default_rng(1).integers(-1000, 1000, size=(30, 40)).astype(np.int16)
    view = arr[::-1, ::2].T
    assert np.array_equal(GreyMapper()(view, 40, 400), window_to_uint8(view, 40, 400))
