"""Folds by image for cross-validation, and the corrective clicks the click model trains on."""

import numpy as np
import pytest

from liverview.us.click_simulation import MODE_WEIGHTS, corrective_clicks, simulate_clicks, simulate_interaction
from liverview.us.clicks import ellipse_in_box
from liverview.us.folds import stratified_folds


def test_every_image_is_held_out_once_and_labels_spread_evenly():
    labels = ["benign"] * 8 + ["malignant"] * 8
    folds = stratified_folds(labels, 4, seed=3)
    assert sorted(i for f in folds for i in f) == list(range(16))
    assert [sum(labels[i] == "malignant" for i in f) for f in folds] == [2, 2, 2, 2]
    assert folds == stratified_folds(labels, 4, seed=3) != stratified_folds(labels, 4, seed=4)
    with pytest.raises(ValueError):
        stratified_folds(labels[:3], 4)


def test_corrective_clicks_start_like_a_reader_and_correct_on_the_right_side():
    yy, xx = np.ogrid[:300, :400]
    mask = ((xx - 200) / 60.0) ** 2 + ((yy - 150) / 35.0) ** 2 <= 1
    mask[150:190, 150:170] = True  # a lobe an ellipse would miss
    rng = np.random.default_rng(0)
    extra_seen = 0
    for _ in range(60):
        clicks = corrective_clicks(mask, rng)
        assert clicks[0].positive
        first = 5 if len(clicks) > 1 and not clicks[1].positive and len(clicks) >= 5 else 1
        for c in clicks[first:]:
            inside = mask[int(round(c.y)), int(round(c.x))]
            assert c.positive == inside  # a foreground correction lies in the lesion, a background one outside
            extra_seen += 1
    assert extra_seen >= 60  # 1-3 corrections per sequence
    assert "corrective" in MODE_WEIGHTS
    assert simulate_clicks(mask, np.random.default_rng(1), mode="corrective")


def test_each_sequence_starts_from_the_mask_a_reader_would_be_correcting():
    yy, xx = np.ogrid[:300, :400]
    mask = ((xx - 200) / 60.0) ** 2 + ((yy - 150) / 35.0) ** 2 <= 1
    mask[150:190, 150:170] = True
    for seed in range(12):
        for mode in ("box", "corrective", "paper", "one"):
            got = simulate_interaction(mask, np.random.default_rng(seed), mode=mode)
            # the clicks are exactly those of simulate_clicks: the prior costs no random draw
            assert got.clicks == simulate_clicks(mask, np.random.default_rng(seed), mode=mode)
            if mode == "box":
                box = (got.clicks[1].x, got.clicks[1].y, got.clicks[4].x, got.clicks[4].y)
                assert np.array_equal(got.prior, ellipse_in_box(mask.shape, box))
            elif mode == "corrective":
                assert got.prior.shape == mask.shape and got.prior.any()
                # the last click lies where that prior is wrong: missed lesion (fg) or spill (bg)
                last = got.clicks[-1]
                r, c = int(round(last.y)), int(round(last.x))
                assert bool(got.prior[r, c]) != bool(last.positive)
                assert bool(mask[r, c]) == bool(last.positive)
            else:
                assert got.prior is None


def test_the_margin_corrected_box_takes_off_the_test_boxes_mean_margin():
    from liverview.us.click_simulation import EVAL_BOX_ENLARGE, LOOSE_READER, margin_corrected_box

    m = float(np.mean(EVAL_BOX_ENLARGE))
    tight = (100.0, 50.0, 300.0, 150.0)  # 200 x 100
    drawn = (100 - 200 * m, 50 - 100 * m, 300 + 200 * m, 150 + 100 * m)  # every side out by the mean margin
    np.testing.assert_allclose(margin_corrected_box(drawn, LOOSE_READER), tight)


def test_a_reader_without_margin_or_jitter_draws_the_lesions_tight_box():
    from liverview.us.click_simulation import DEFAULT_READER, LOOSE_READER, ReaderBox, eval_box, margin_corrected_box

    mask = np.zeros((60, 80), bool)
    mask[10:31, 20:51] = True
    tight = ReaderBox((0.0, 0.0), 0.0)
    assert eval_box(mask, 1, tight) == (20.0, 10.0, 50.0, 30.0)
    assert margin_corrected_box((20.0, 10.0, 50.0, 30.0), tight) == (20.0, 10.0, 50.0, 30.0)
    assert DEFAULT_READER == tight  # evaluations draw the lesion's own box unless told otherwise
    assert eval_box(mask, 1) == (20.0, 10.0, 50.0, 30.0)
    loose = eval_box(mask, 1, LOOSE_READER)  # the loose reader pushes every side out
    assert loose[0] < 20 and loose[2] > 50
    for bad in (((0.2, 0.1), 0.0), ((-0.3, 0.1), 0.0), ((0.0, 0.1), -0.01)):
        with pytest.raises(ValueError):
            ReaderBox(*bad)
