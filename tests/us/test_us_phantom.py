"""The synthetic B-mode phantom and the synth-us command."""

import csv

import cv2
import numpy as np
import pytest

from liverview.cli import main
from liverview.synth.us_phantom import US_LESION_CLASSES, generate_us_phantom


def _ring_mean(image, mask, width=6):
    from scipy import ndimage

    ring = ndimage.binary_dilation(mask, iterations=width + 3) & ~ndimage.binary_dilation(mask, iterations=3)
    return image[ring].mean()


@pytest.mark.parametrize("cls", US_LESION_CLASSES)
def test_each_class_has_its_echo_pattern(cls):
    ph = generate_us_phantom(np.random.default_rng(7), cls, size=(300, 400))
    assert ph.image.dtype == np.uint8 and ph.mask.shape == (300, 400) and ph.mask.sum() > 200
    inside = ph.image[ph.mask].mean()
    around = _ring_mean(ph.image, ph.mask)
    if cls == "cyst":
        assert inside < 0.35 * around  # anechoic
    elif cls == "hemangioma":
        assert inside > 1.1 * around  # hyperechoic
    else:  # metastasis / HCC: a hypoechoic rim just inside the edge
        from scipy import ndimage

        rim = ph.mask & ~ndimage.binary_erosion(ph.mask, iterations=3)
        assert ph.image[rim].mean() < 0.85 * around


def test_cyst_shows_posterior_enhancement():
    ph = generate_us_phantom(np.random.default_rng(3), "cyst", size=(320, 420))
    ys, xs = np.nonzero(ph.mask)
    below = ph.image[ys.max() + 5: ys.max() + 40, int(np.percentile(xs, 30)): int(np.percentile(xs, 70))]
    beside = ph.image[ys.max() + 5: ys.max() + 40, max(xs.min() - 60, 0): max(xs.min() - 25, 1)]
    assert below.mean() > 1.15 * beside.mean()


def test_same_seed_same_image():
    a = generate_us_phantom(np.random.default_rng(11))
    b = generate_us_phantom(np.random.default_rng(11))
    np.testing.assert_array_equal(a.image, b.image)
    assert a.lesion_class == b.lesion_class


def test_synth_us_cli_writes_images_masks_and_labels(tmp_path, capsys):
    out = tmp_path / "us"
    assert main(["synth-us", str(out), "--seed", "5", "--count", "4"]) == 0
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert [r["class"] for r in rows] == list(US_LESION_CLASSES)
    for r in rows:
        img = cv2.imread(str(out / r["image"]), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(out / r["mask"]), cv2.IMREAD_GRAYSCALE)
        assert img.shape == mask.shape == (int(r["height"]), int(r["width"]))
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max(), ys.max()) == tuple(int(r[k]) for k in ("bbox_x0", "bbox_y0",
                                                                                      "bbox_x1", "bbox_y1"))
        assert 0.1 < float(r["pixel_spacing_mm"]) < 0.5
    assert "wrote 4 synthetic ultrasound images" in capsys.readouterr().out
    assert main(["synth-us", str(out), "--seed", "5", "--count", "4"]) == 2  # not empty, no --force
