"""Ultrasound lesion sets: masks read right whatever their channels, AUL-style liver manifests, and
evaluation boxes seeded per lesion even when mask files share a name."""

import cv2
import numpy as np
import pytest

from liverview.metrics.click_segmentation import ellipse_in_box, filled_box, lesion_seed
from liverview.metrics.segmentation import jaccard_index
from liverview.us.click_simulation import LOOSE_READER, eval_box
from liverview.us.lesion_dataset import UsDatasetError, load_lesions, load_records, read_mask


def test_an_rgba_mask_with_opaque_alpha_is_read_from_its_colour(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 3] = 255  # opaque everywhere: the BUSI 'benign (4)_mask_1.png' case
    rgba[5:10, 8:12, :3] = 255
    cv2.imwrite(str(tmp_path / "m.png"), rgba)
    mask = read_mask(tmp_path / "m.png", (20, 30))
    assert mask.sum() == 20 and mask[5:10, 8:12].all()


def test_a_mask_drawn_only_in_alpha_is_still_read(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[2:4, 2:5, 3] = 255
    cv2.imwrite(str(tmp_path / "m.png"), rgba)
    assert read_mask(tmp_path / "m.png", (20, 30)).sum() == 6
    cv2.imwrite(str(tmp_path / "g.png"), np.zeros((5, 5), np.uint8))
    with pytest.raises(UsDatasetError, match="its image is"):
        read_mask(tmp_path / "g.png", (20, 30))


def test_busi_mask_1_files_read_as_lesions_not_whole_images(shared_data):
    records = [r for r in load_records(shared_data / "busi-subset") if "_mask_1" in r.mask_path.name]
    for r in records:
        mask = read_mask(r.mask_path, cv2.imread(str(r.image_path), cv2.IMREAD_GRAYSCALE).shape)
        assert 0 < mask.mean() < 0.5, r.mask_path  # a lesion, not the whole image


def test_aul_liver_manifest_loads_as_benign_malignant_liver_lesions(shared_data):
    records = load_records(shared_data / "aul-liver-us")
    assert len(records) == 16 and {r.source for r in records} == {"aul"}
    assert sorted({r.label for r in records}) == ["benign", "malignant"] and all(r.split is None for r in records)
    assert len({r.key for r in records}) == 16
    with pytest.raises(UsDatasetError, match="no train/test split"):
        load_records(shared_data / "aul-liver-us", "test")
    lz = load_lesions(records[:1])[0]
    assert lz.image.dtype == np.uint8 and lz.image.shape == lz.mask.shape and lz.mask.any()


def test_evaluation_boxes_differ_between_lesions_whose_mask_files_share_a_name():
    keys = ["benign/benign (1)_mask.png", "benign/benign (2)_mask.png", "malignant/malignant (1)_mask.png"]
    assert len({lesion_seed(k) for k in keys}) == 3
    mask = np.zeros((100, 100), bool)
    mask[30:60, 20:70] = True
    boxes = {eval_box(mask, lesion_seed(k), LOOSE_READER) for k in keys}  # a reader whose boxes vary
    assert len(boxes) == 3  # the old seed (last 8 bytes: 'mask.png') gave all three the same box


def test_baselines_drawn_in_the_box():
    box = (10.0, 20.0, 49.0, 39.0)
    ellipse, rect = ellipse_in_box((60, 80), box), filled_box((60, 80), box)
    assert rect.sum() == 40 * 20 and (ellipse <= rect).all()
    assert ellipse.sum() / rect.sum() == pytest.approx(np.pi / 4, abs=0.03)
    assert jaccard_index(ellipse, rect) == pytest.approx(np.pi / 4, abs=0.03)
