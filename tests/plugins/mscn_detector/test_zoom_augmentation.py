"""Random zoom of training crops (``zoom_range``): the image and its box targets grow together, the ignore
mask follows, and training without it draws the very same batches as before the option existed."""

from __future__ import annotations

import numpy as np
import pytest

from liverview_plugins.mscn_detector.config import DetectorConfig
from liverview_plugins.mscn_detector.dataset import BatchSampler, PreparedCase, zoom_stack
from liverview_plugins.mscn_detector.targets import SliceBox


def _square_case(side: int = 12) -> PreparedCase:
    """One phase, 5 working slices of 96 x 96, a bright square lesion (side px) on slice 2 at (40, 40)."""
    image = np.zeros((4, 5, 96, 96), np.uint8)
    image[2, :, 40:40 + side, 40:40 + side] = 200
    ignore = np.zeros((5, 96, 96), bool)
    ignore[2, 10:20, 70:80] = True
    box = SliceBox(40.0, 40.0, 40.0 + side, 40.0 + side, 0)
    return PreparedCase("square", image, np.array([False, False, True, False]), None, {2: [box]}, {},
                        np.array([2]), ignore)


def _config(**changes) -> DetectorConfig:
    base = DetectorConfig(n_slices=3, crop_px=48, batch_size=1, positive_fraction=1.0, phase_dropout=0.0)
    return base.replace(**changes)


@pytest.mark.parametrize("zoom", [0.75, 1.6])
def test_a_zoomed_crop_shows_the_lesion_and_its_box_at_the_same_new_size(zoom):
    side = 12
    batch = BatchSampler([_square_case(side)], _config(zoom_range=(zoom, zoom))).sample(3)
    window = round(48 / zoom)
    exact = 48 / window
    bright = batch["image"][0, 2, 1].numpy() > 100
    assert abs(bright.sum() - (side * exact) ** 2) <= 4 * side * exact  # area up to a pixel rim
    peak = np.argwhere(batch["mask"][0].numpy() > 0)
    assert len(peak) == 1
    w, h = batch["wh"][0, :, peak[0][0], peak[0][1]].numpy() * DetectorConfig.OUTPUT_STRIDE
    assert w == pytest.approx(side * exact) and h == pytest.approx(side * exact)
    # the heatmap peak sits on the bright square's centre (stride-4 cell)
    cy, cx = np.argwhere(bright).mean(axis=0)
    assert abs(peak[0][0] * 4 + 2 - cy) <= 4 and abs(peak[0][1] * 4 + 2 - cx) <= 4


def test_without_zoom_the_batches_are_those_of_plain_crops():
    plain = BatchSampler([_square_case()], _config())
    # a zoom range of exactly 1 draws nothing extra: the stream (and so every run recorded before) is unchanged
    for step in range(4):
        a = plain.sample(step)
        assert a["image"].shape == (1, 4, 3, 48, 48)
        bright = a["image"][0, 2, 1].numpy() > 100
        assert bright.sum() == 144
        peak = np.argwhere(a["mask"][0].numpy() > 0)
        assert (a["wh"][0, :, peak[0][0], peak[0][1]].numpy() * 4).tolist() == [12.0, 12.0]


def test_zoomed_batches_differ_in_size_and_the_ignore_mask_is_zoomed_too():
    sampler = BatchSampler([_square_case()], _config(zoom_range=(0.7, 1.8), positive_fraction=0.0, batch_size=8))
    areas = {int((sampler.sample(s)["image"][:, 2, 1].numpy() > 100).sum(axis=(1, 2)).max()) for s in range(6)}
    assert len(areas) > 2
    ignored = [float(sampler.sample(s)["background_ignore"].sum()) for s in range(6)]
    assert max(ignored) > 0


def test_zoom_stack_keeps_a_flat_image_flat_and_refuses_nothing_of_shape():
    x = np.full((2, 3, 20, 20), 77, np.uint8)
    z = zoom_stack(x, 32)
    assert z.shape == (2, 3, 32, 32) and z.dtype == np.uint8 and np.all(z == 77)


def test_a_zoom_range_must_be_two_positive_ordered_factors():
    with pytest.raises(ValueError, match="zoom_range"):
        DetectorConfig(zoom_range=(1.5, 1.0))
    with pytest.raises(ValueError, match="zoom_range"):
        DetectorConfig(zoom_range=(0.0, 1.0))
