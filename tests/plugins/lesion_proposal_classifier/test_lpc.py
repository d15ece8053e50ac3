"""Lesion proposal classifier: crop geometry, a tiny training run that separates lesions, load errors."""

import numpy as np
import pytest
import torch

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D
from liverview_plugins.lesion_proposal_classifier.config import LpcConfig
from liverview_plugins.lesion_proposal_classifier.crops import multiview_crops
from liverview_plugins.lesion_proposal_classifier.inference import LpcWeightsNotFoundError, load_lpc
from liverview_plugins.lesion_proposal_classifier.model import MultiViewLPC
from liverview_plugins.lesion_proposal_classifier.training import train_lpc

NC, ART = PhaseKind.NON_CONTRAST, PhaseKind.ARTERIAL


def cube_volume(centre_ijk, half=(4, 4, 2), shape=(20, 64, 64), spacing=(1.0, 1.0, 2.5), hu=200.0):
    arr = np.zeros(shape, np.float32)
    i, j, k = centre_ijk
    arr[k - half[2]:k + half[2] + 1, j - half[1]:j + half[1] + 1, i - half[0]:i + half[0] + 1] = hu
    return Volume(arr, spacing, (5.0, -3.0, 10.0))


def test_the_three_views_are_centred_on_the_proposal_in_mm():
    vol = cube_volume((30, 20, 10))
    cfg = LpcConfig(phases=("non-contrast", "arterial"), crop_px=32, pad_px=4, min_half_mm=4)
    # box covers voxels 26..34 x 16..24 (pixel edges 26..35), slices 8..12
    p = Proposal3D((26, 16, 35, 25), (8, 12), 0.9, 10)
    crops = multiview_crops({NC: vol}, NC, [p], cfg)
    assert crops.shape == (1, 3, 2, 32, 32)
    assert not crops[0, :, 1].any()  # the arterial phase is absent: zeros
    for view in range(3):
        img = crops[0, view, 0]
        ys, xs = np.nonzero(img > 0.7)
        assert abs(ys.mean() - 15.5) < 1.0 and abs(xs.mean() - 15.5) < 1.0, view
    # field of view: half = max(9, 9, 12.5 mm) / 2 + 4 px * 1 mm = 10.25 mm; the cube is 9 mm wide in x
    width_px = (crops[0, 0, 0, 16] > 0.7).sum()
    assert width_px == pytest.approx(9 / 20.5 * 32, abs=1.5)


def test_a_phase_on_another_grid_is_read_at_the_same_world_point():
    vol = cube_volume((30, 20, 10))
    moved = Volume(vol.array.copy(), vol.spacing, (vol.origin[0] - 10.0, vol.origin[1], vol.origin[2]))
    shifted = Volume(np.roll(moved.array, 10, axis=2), moved.spacing, moved.origin)  # same world content
    cfg = LpcConfig(phases=("non-contrast", "arterial"), crop_px=32, pad_px=4)
    crops = multiview_crops({NC: vol, ART: shifted}, NC, [Proposal3D((26, 16, 35, 25), (8, 12), 0.9, 10)], cfg)
    assert np.allclose(crops[0, :, 0], crops[0, :, 1], atol=1e-5)


def test_a_scan_stored_flipped_gives_the_crops_of_the_same_scan_stored_upright():
    rng = np.random.default_rng(3)
    arr = rng.normal(50, 20, (20, 64, 64)).astype(np.float32)
    arr[8:13, 16:25, 26:35] = 200.0
    arr[10, 16:20, 26:30] = 400.0  # an asymmetric detail: a flipped crop would differ
    upright = Volume(arr, (0.8, 0.9, 2.5), (5.0, -3.0, 10.0))
    k, j, _ = arr.shape
    flipped = Volume(np.ascontiguousarray(arr[::-1, ::-1]), upright.spacing,
                     tuple(upright.index_to_world((0.0, j - 1.0, k - 1.0))), np.diag([1.0, -1.0, -1.0]))
    cfg = LpcConfig(phases=("non-contrast", "arterial"), crop_px=32, pad_px=4)
    p = Proposal3D((26, 16, 35, 25), (8, 12), 0.9, 10)
    p_flipped = Proposal3D((26, j - 25, 35, j - 16), (k - 1 - 12, k - 1 - 8), 0.9, k - 1 - 10)
    a = multiview_crops({NC: upright}, NC, [p], cfg)
    b = multiview_crops({NC: flipped}, NC, [p_flipped], cfg)
    assert np.allclose(a, b, atol=1e-4)


def easy_crops(n, rng, cfg):
    """Lesion = a bright disc in every view; not a lesion = noise only."""
    s = cfg.crop_px
    yy, xx = np.mgrid[:s, :s]
    disc = ((yy - s / 2) ** 2 + (xx - s / 2) ** 2 < (s / 5) ** 2).astype(np.float32)
    labels = rng.random(n) < 0.5
    x = rng.normal(0.4, 0.05, (n, 3, len(cfg.phases), s, s)).astype(np.float32)
    x[labels] += 0.4 * disc
    return np.clip(x, 0, 1), labels


@pytest.fixture
def one_thread():
    """One torch thread: on shared cores two threads spin against each other; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_few_training_steps_separate_lesions_and_the_weights_reload(tmp_path, one_thread):
    cfg = LpcConfig(phases=("portal venous",), crop_px=16, stage_channels=(8, 16), epochs=4, batch_size=16)
    rng = np.random.default_rng(0)
    x, y = easy_crops(48, rng, cfg)
    weights = train_lpc(x, y, cfg, tmp_path, device="cpu")
    lpc = load_lpc(weights, device="cpu")
    xt, yt = easy_crops(40, rng, cfg)
    s = lpc.score_crops(xt)
    assert s.shape == (40,) and np.all((s >= 0) & (s <= 1))
    assert s[yt].min() > s[~yt].max()  # a perfectly separable task is separated
    # the same seed gives the same weights
    again = load_lpc(train_lpc(x, y, cfg, tmp_path / "again", device="cpu"), device="cpu")
    assert np.allclose(again.score_crops(xt), s, atol=1e-5)


def test_training_and_loading_refuse_bad_input(tmp_path):
    cfg = LpcConfig(phases=("portal venous",), crop_px=16, stage_channels=(8,))
    x = np.zeros((4, 3, 1, 16, 16), np.float32)
    with pytest.raises(ValueError, match="lesions and non-lesions"):
        train_lpc(x, np.ones(4, bool), cfg, tmp_path)
    with pytest.raises(ValueError, match="crops must be"):
        train_lpc(np.zeros((4, 2, 1, 16, 16), np.float32), np.r_[True, False, True, False], cfg, tmp_path)
    with pytest.raises(LpcWeightsNotFoundError, match="train-lpc"):
        load_lpc(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"model": {}, "config": {}}, bad)
    with pytest.raises(ValueError, match="not a lesion proposal classifier"):
        load_lpc(bad)
    with pytest.raises(ValueError, match="crop_px"):
        LpcConfig(crop_px=20)
    assert MultiViewLPC(cfg)(torch.zeros(2, 3, 1, 16, 16)).shape == (2,)
