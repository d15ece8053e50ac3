"""Measured lesion features and the small logistic model that turns them (with the head's score) into
p(malignant)."""

import numpy as np
import pytest

from liverview.us.malignancy import FEATURES, MalignancyModel, lesion_features


def _scan(lesion_grey: float, radius: int, texture: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    img = np.zeros((200, 260), np.float32)  # black outside the scanned field
    img[20:190, 20:240] = 120 + rng.normal(0, 10, (170, 220))
    yy, xx = np.ogrid[:200, :260]
    mask = (yy - 100) ** 2 + (xx - 130) ** 2 <= radius ** 2
    img[mask] = lesion_grey + rng.normal(0, texture, int(mask.sum()))
    return np.clip(img, 0, 255), mask


def test_features_measure_size_echogenicity_and_texture():
    dark, mask = _scan(60, 20)
    bright, _ = _scan(200, 20)
    big, big_mask = _scan(60, 40)
    rough, _ = _scan(60, 20, texture=25)
    f = lesion_features(dark, mask, 0.5)
    assert set(f) == set(FEATURES) and f["net_logit"] == pytest.approx(0.0)
    assert f["echo_contrast"] < -3 < 3 < lesion_features(bright, mask, 0.5)["echo_contrast"]
    # size relative to the scanned field (170 x 220 px), not to the black frame
    assert f["log_relative_area"] == pytest.approx(np.log(mask.sum() / (170 * 220)), abs=0.01)
    assert lesion_features(big, big_mask, 0.5)["log_relative_area"] > f["log_relative_area"] + 1.3
    assert lesion_features(rough, mask, 0.5)["heterogeneity"] > 3 * f["heterogeneity"]
    assert lesion_features(dark, mask, 0.9)["net_logit"] == pytest.approx(np.log(9))
    with pytest.raises(ValueError, match="empty"):
        lesion_features(dark, np.zeros_like(mask), 0.5)
    with pytest.raises(ValueError, match="shape"):
        lesion_features(dark, mask[:10], 0.5)


def test_the_fitted_model_ranks_by_the_feature_that_separates_and_round_trips():
    rng = np.random.default_rng(3)
    rows, labels = [], []
    for i in range(24):
        malignant = i % 2 == 1
        rows.append({"net_logit": rng.normal(), "log_relative_area": rng.normal(-3 + (1.0 if malignant else -1.0), 0.5),
                     "echo_contrast": rng.normal(), "heterogeneity": rng.normal()})
        labels.append(malignant)
    model = MalignancyModel.fit(rows, labels)
    assert model.coef[FEATURES.index("log_relative_area")] > 2 * max(abs(c) for i, c in enumerate(model.coef)
                                                                   if FEATURES[i] != "log_relative_area")
    p = [model.probability(r) for r in rows]
    assert np.mean([pi for pi, y in zip(p, labels) if y]) > 0.7 > 0.3 > np.mean([pi for pi, y in zip(p, labels) if not y])
    assert MalignancyModel.from_dict(model.to_dict()) == model
    # the ridge keeps a tiny set from a step: stronger l2, probabilities nearer the prevalence
    damped = MalignancyModel.fit(rows, labels, l2=50.0)
    assert max(abs(damped.probability(r) - 0.5) for r in rows) < max(abs(pi - 0.5) for pi in p)
    with pytest.raises(ValueError, match="malignant and one benign"):
        MalignancyModel.fit(rows[:1], labels[:1])
