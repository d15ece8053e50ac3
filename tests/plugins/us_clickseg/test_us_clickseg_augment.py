"""Ultrasound augmentations of training samples: each keeps shape, dtype and range, shows its effect and
is the same for the same seed; training samples place the crop as inference does."""

import numpy as np
import pytest

from liverview.synth.us_phantom import generate_us_phantom
from liverview.us.click_simulation import lesion_distances, simulate_clicks
from liverview.us.lesion_dataset import LesionRecord, LoadedLesion
from liverview_plugins.us_clickseg import augment as aug
from liverview_plugins.us_clickseg.crop import CropWindow, crop_image, net_input
from liverview_plugins.us_clickseg.dataset import training_sample

SHAPE = (120, 160)


def _noise(seed=0):
    return np.random.default_rng(seed).uniform(0, 255, SHAPE).astype(np.float32)


def _flat(value=100.0):
    return np.full(SHAPE, value, np.float32)


def _grid():
    return aug.PixelGrid.whole(SHAPE)


# Every augmentation as f(image, generator), forced on (p=1) where it has a probability.
ALL = {
    "speckle": lambda img, rng: aug.speckle(img, rng, p=1.0),
    "gain": aug.gain,
    "tgc": lambda img, rng: aug.tgc(img, _grid(), rng, p=1.0),
    "depth_attenuation": lambda img, rng: aug.depth_attenuation(img, _grid(), rng, p=1.0),
    "fan_mask": lambda img, rng: aug.fan_mask(img, _grid(), rng, p=1.0),
    "blur": lambda img, rng: aug.blur(img, rng, p=1.0),
    "gamma": aug.gamma,
    "augment_crop": lambda img, rng: aug.augment_crop(img, _grid(), rng),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_augmentation_keeps_shape_dtype_range_and_is_seeded(name):
    f = ALL[name]
    img = _noise()
    before = img.copy()
    a = f(img, np.random.default_rng(7))
    b = f(img, np.random.default_rng(7))
    assert a.shape == SHAPE and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 255
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(img, before)  # the input is not changed in place
    assert not np.array_equal(a, img)


@pytest.mark.parametrize("name", ["speckle", "tgc", "depth_attenuation", "fan_mask", "blur"])
def test_augmentations_with_probability_zero_change_nothing(name):
    f = {"speckle": lambda i, r: aug.speckle(i, r, p=0.0), "tgc": lambda i, r: aug.tgc(i, _grid(), r, p=0.0),
         "depth_attenuation": lambda i, r: aug.depth_attenuation(i, _grid(), r, p=0.0),
         "fan_mask": lambda i, r: aug.fan_mask(i, _grid(), r, p=0.0), "blur": lambda i, r: aug.blur(i, r, p=0.0)}[name]
    img = _noise()
    np.testing.assert_array_equal(f(img, np.random.default_rng(1)), img)


def test_speckle_is_multiplicative_noise_of_mean_one():
    img = _flat(100.0)
    img[:, :10] = 0
    out = aug.speckle(img, np.random.default_rng(3), p=1.0)
    assert np.all(out[:, :10] == 0)  # black stays black
    assert out[:, 10:].std() > 5
    assert out[:, 10:].mean() == pytest.approx(100.0, rel=0.05)


def test_gain_scales_every_pixel_by_one_factor_of_a_few_db():
    img = _noise() * 0.5 + 1  # no clipping at 255
    ratio = aug.gain(img, np.random.default_rng(4)) / img
    assert np.ptp(ratio) < 1e-5
    assert 10 ** (-3 / 20) - 1e-6 <= ratio.mean() <= 10 ** (3 / 20) + 1e-6


def test_tgc_is_a_smooth_depth_only_gain_and_the_curve_of_its_generator():
    out = aug.tgc(_flat(), _grid(), np.random.default_rng(5), p=1.0)
    ratio = out / 100.0
    assert np.ptp(ratio, axis=1).max() < 1e-5  # the same gain along each row
    rows = ratio[:, 0]
    assert np.ptp(rows) > 0.05  # it does change with depth
    assert np.abs(np.diff(rows, 2)).max() < 0.01  # smoothly
    rng = np.random.default_rng(5)
    rng.random()  # the draw that decided to apply it
    curve = aug.tgc_curve(_grid().depth()[:, 0], rng)
    np.testing.assert_allclose(rows, 10 ** (curve / 20), rtol=1e-5)
    assert np.abs(curve).max() <= 1.25 * 4.0


def test_tgc_tilt_alone_changes_row_means_monotonically():
    class TiltOnly:  # a generator whose bends are zero: the curve is the tilt
        def __init__(self, tilt):
            self.tilt = tilt

        def uniform(self, low, high, size=None):
            return self.tilt if size is None else np.zeros(size)

    depth = np.linspace(0, 1, 50)
    assert np.all(np.diff(aug.tgc_curve(depth, TiltOnly(3.0))) > 0)
    assert np.all(np.diff(aug.tgc_curve(depth, TiltOnly(-3.0))) < 0)


def test_depth_attenuation_darkens_row_means_monotonically_with_depth():
    out = aug.depth_attenuation(_flat(200.0), _grid(), np.random.default_rng(6), p=1.0)
    means = out.mean(axis=1)
    assert means[0] == pytest.approx(200.0)
    assert np.all(np.diff(means) < 0)
    assert means[-1] >= 200.0 * np.exp(-1.0) - 1e-3


def test_fan_mask_blacks_the_top_corners_and_keeps_the_lesion_box():
    for seed in range(20):
        out = aug.fan_mask(_flat(200.0), _grid(), np.random.default_rng(seed), p=1.0)
        assert out[0, 0] == 0 and out[0, -1] == 0 and out[:5, :5].max() == 0 and out[:5, -5:].max() == 0
        assert out[-1, SHAPE[1] // 2] == 200.0  # the middle of the deep field is seen
    box = (5.0, 8.0, 40.0, 30.0)  # a lesion up in the top-left corner
    for seed in range(20):
        out = aug.fan_mask(_flat(200.0), _grid(), np.random.default_rng(seed), keep=box, p=1.0)
        assert np.all(out[8:31, 5:41] == 200.0)


def test_blur_smooths_and_keeps_the_mean():
    img = _noise()
    out = aug.blur(img, np.random.default_rng(2), p=1.0)
    assert out.std() < 0.8 * img.std()
    assert out.mean() == pytest.approx(img.mean(), rel=0.02)


def test_gamma_keeps_black_and_white():
    img = np.array([[0.0, 128.0, 255.0]], np.float32)
    out = aug.gamma(img, np.random.default_rng(1))
    assert out[0, 0] == 0 and out[0, 2] == pytest.approx(255.0) and out[0, 1] != 128.0


def test_depth_effects_on_a_crop_follow_the_whole_image_curve():
    rng_state = 11
    whole = aug.depth_attenuation(_flat(), _grid(), np.random.default_rng(rng_state), p=1.0)
    window = CropWindow(20.0, 40.0, 60.0)  # 60 image px -> 60 crop px: crop pixel = image pixel
    grid = aug.PixelGrid.of_crop(window, 60, SHAPE)
    crop = aug.depth_attenuation(_flat()[:60, :60], grid, np.random.default_rng(rng_state), p=1.0)
    np.testing.assert_allclose(crop, whole[40:100, 20:80], rtol=1e-5)


def test_jitter_window_scales_and_moves_the_window_a_little():
    w = CropWindow(100.0, 50.0, 80.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        j = aug.jitter_window(w, rng)
        assert 0.85 * 80 <= j.side <= 1.2 * 80
        assert abs(j.x0 + j.side / 2 - 140) < 0.15 * 80 and abs(j.y0 + j.side / 2 - 90) < 0.15 * 80


def _lesion(size=(240, 320)):
    ph = generate_us_phantom(np.random.default_rng(3), "metastasis", size=size)
    d = lesion_distances(ph.mask)
    record = LesionRecord(None, None, "metastasis", None, None, "k", "synthetic")
    return LoadedLesion(ph.image, ph.mask, record, d, (d[0][:, ::-1], d[1][:, ::-1]))


def test_training_sample_without_augmentation_is_the_inference_input():
    lesion = _lesion()
    for seed in range(5):
        x, target = training_sample(lesion, np.random.default_rng(seed), 64, augment=False)
        clicks = simulate_clicks(lesion.mask, np.random.default_rng(seed), distances=lesion.distances)
        expected, window = net_input(lesion.image.astype(np.float32), clicks, 64)
        np.testing.assert_array_equal(x, expected)
        np.testing.assert_allclose(target, crop_image(lesion.mask.astype(np.float32), window, 64), atol=1e-6)


def test_augmented_training_samples_are_seeded_and_well_formed():
    lesion = _lesion()
    a = training_sample(lesion, np.random.default_rng(9), 64)
    b = training_sample(lesion, np.random.default_rng(9), 64)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for seed in range(10):
        x, target = training_sample(lesion, np.random.default_rng(seed), 64)
        assert x.shape == (3, 64, 64) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
        assert target.shape == (64, 64) and 0 <= target.min() and target.max() <= 1 and target.max() > 0.5
