"""The volume of a mask in mL: voxel count times the voxel's size in patient space."""

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.measure.mask_volume import mask_volume_ml, voxel_volume_mm3


def _box_mask(direction=np.eye(3)) -> Volume:
    arr = np.zeros((10, 40, 30), np.uint8)
    arr[2:7, 10:30, 5:15] = 1  # 5 x 20 x 10 = 1000 voxels
    return Volume(arr, (0.8, 1.2, 3.0), (50.0, -20.0, 10.0), direction)


def test_anisotropic_voxels_count_by_their_size():
    assert voxel_volume_mm3(_box_mask()) == pytest.approx(0.8 * 1.2 * 3.0)
    assert mask_volume_ml(_box_mask()) == pytest.approx(1000 * 2.88 / 1000.0)


def test_a_flipped_or_rotated_direction_does_not_change_the_volume():
    flipped = np.diag([-1.0, 1.0, -1.0])
    c, s = np.cos(0.3), np.sin(0.3)
    rotated = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    for direction in (flipped, rotated):
        assert mask_volume_ml(_box_mask(direction)) == pytest.approx(2.88)


def test_any_nonzero_label_counts_and_an_empty_mask_is_zero():
    mask = _box_mask()
    mask.array[mask.array > 0] = 3
    assert mask_volume_ml(mask) == pytest.approx(2.88)
    assert mask_volume_ml(Volume(np.zeros((4, 4, 4), np.uint8), (2.0, 2.0, 2.0))) == 0.0
