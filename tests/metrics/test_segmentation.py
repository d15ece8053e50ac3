import numpy as np
import pytest

from liverview.metrics.segmentation import dice_coefficient, jaccard_index


def test_jaccard_of_two_offset_squares_is_hand_computed():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:4] = True  # 16 px
    b[2:6, 2:6] = True  # 16 px, overlap 2x2 = 4
    assert jaccard_index(a, b) == pytest.approx(4 / 28)
    assert dice_coefficient(a, b) == pytest.approx(8 / 32)


def test_jaccard_identical_disjoint_and_empty():
    a = np.zeros((5, 5), bool)
    a[1, 1] = True
    assert jaccard_index(a, a) == 1.0
    assert jaccard_index(a, np.roll(a, 2, axis=0)) == 0.0
    assert jaccard_index(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0


def test_jaccard_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        jaccard_index(np.zeros((3, 3)), np.zeros((3, 4)))
