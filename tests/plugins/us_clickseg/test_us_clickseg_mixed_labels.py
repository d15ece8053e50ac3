"""One run on 4-class lesions (synthetic phantoms) and benign/malignant-only lesions (BUSI, AUL) together,
with lesions drawn by source."""

import csv
import dataclasses
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from liverview.plugin_api.errors import ModelInputError
from liverview.synth.us_phantom import write_us_dataset
from liverview.us.lesion_dataset import LesionRecord, LoadedLesion, load_lesions, load_records
from liverview_plugins.us_clickseg.inference import load_segmenter
from liverview_plugins.us_clickseg.losses import binary_focal_from_classes, class_focal_loss, mixed_label_class_loss
from liverview_plugins.us_clickseg.model import NetConfig
from liverview_plugins.us_clickseg.sampling import draw_lesions, lesion_probabilities
from liverview_plugins.us_clickseg.trainer import ClickSegTrainer
from liverview_plugins.us_clickseg.training import TrainConfig, label_mode_of, train

TINY_NET = {"input_size": 32, "widths": (4, 8, 16)}


def _relabel(lesion: LoadedLesion, label: str, source: str) -> LoadedLesion:
    return dataclasses.replace(lesion, record=dataclasses.replace(lesion.record, label=label, source=source))


@pytest.fixture(scope="module")
def mixed_lesions(tmp_path_factory):
    """Two synthetic lesions with 4-class labels, one BUSI-style benign and one AUL-style malignant."""
    root = tmp_path_factory.mktemp("mixed")
    write_us_dataset(root, seed=1, count=4)
    synthetic = load_lesions(load_records(root))
    return synthetic[:2] + [_relabel(synthetic[2], "benign", "busi"), _relabel(synthetic[3], "malignant", "aul")]


@pytest.mark.parametrize("encoder", ["vgg", "resnet"])
def test_mixed_labels_train_two_steps_with_finite_losses(mixed_lesions, tmp_path, encoder):
    assert [lz.record.class_index >= 0 for lz in mixed_lesions] == [True, True, False, False]
    cfg = TrainConfig(steps=2, batch_size=8, num_threads=1, net=NetConfig(**TINY_NET, encoder=encoder))
    for step in range(2):  # both kinds of label are in each batch (the batch's first draw: which lesions)
        idx = draw_lesions(None, 4, np.random.default_rng([cfg.seed, step]), cfg.batch_size)
        assert {int(i) < 2 for i in idx} == {True, False}
    result = train(mixed_lesions, tmp_path, cfg, device="cpu", log=lambda _m: None)
    rows = list(csv.DictReader(open(tmp_path / "train_log.csv")))
    assert len(rows) == 2
    assert all(math.isfinite(float(r[k])) and float(r[k]) > 0 for r in rows for k in ("loss", "seg_loss", "cls_loss"))
    assert math.isfinite(result.final_loss)
    seg = load_segmenter(result.weights_path, "cpu")
    assert seg.label_mode == "four-class" and seg.net.config.encoder == encoder
    assert seg.meta["class_head"] == {"four_class_from": ["synthetic"],
                                      "benign_malignant_from": ["aul", "busi", "synthetic"]}
    assert seg.meta["label_mode"] == "four-class"


def test_label_mode_is_four_class_when_any_lesion_has_four_classes(mixed_lesions):
    assert label_mode_of(mixed_lesions) == "four-class"
    assert label_mode_of(mixed_lesions[2:]) == "benign-malignant"
    assert label_mode_of(mixed_lesions[:2]) == "four-class"


def test_benign_malignant_only_run_keeps_its_label_mode(mixed_lesions, tmp_path):
    cfg = TrainConfig(steps=1, batch_size=2, num_threads=1, net=NetConfig(**TINY_NET))
    seg = load_segmenter(train(mixed_lesions[2:], tmp_path, cfg, device="cpu", log=lambda _m: None).weights_path, "cpu")
    assert seg.label_mode == "benign-malignant"
    assert seg.meta["class_head"] == {"four_class_from": [], "benign_malignant_from": ["aul", "busi"]}


def test_a_source_with_weight_zero_teaches_nothing(mixed_lesions, tmp_path):
    cfg = TrainConfig(steps=1, batch_size=2, num_threads=1, net=NetConfig(**TINY_NET),
                      source_weights={"synthetic": 0.0, "busi": 1.0, "aul": 1.0})
    seg = load_segmenter(train(mixed_lesions, tmp_path, cfg, device="cpu", log=lambda _m: None).weights_path, "cpu")
    assert seg.label_mode == "benign-malignant"
    assert seg.meta["class_head"]["benign_malignant_from"] == ["aul", "busi"]


def test_mixed_class_loss_is_the_per_sample_loss_averaged_over_the_batch():
    torch.manual_seed(0)
    logits = torch.randn(5, 4)
    cls = torch.tensor([0, -1, 3, -1, 2])
    mal = torch.tensor([False, True, True, False, True])
    alpha = torch.tensor([0.5, 1.0, 2.0, 1.5])
    got = mixed_label_class_loss(logits, cls, mal, alpha, [2, 3], 0.3)
    four, rest = cls >= 0, cls < 0
    expected = (class_focal_loss(logits[four], cls[four], alpha) * 3
                + binary_focal_from_classes(logits[rest], mal[rest], [2, 3], alpha=0.3) * 2) / 5
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    # a batch of one kind: that kind's loss exactly (runs without mixing train as before)
    assert mixed_label_class_loss(logits[four], cls[four], mal[four], alpha, [2, 3], 0.3).item() == pytest.approx(
        class_focal_loss(logits[four], cls[four], alpha).item(), rel=1e-6)
    assert mixed_label_class_loss(logits[rest], cls[rest], mal[rest], alpha, [2, 3], 0.3).item() == pytest.approx(
        binary_focal_from_classes(logits[rest], mal[rest], [2, 3], alpha=0.3).item(), rel=1e-6)
    assert torch.isfinite(got)


def _fake_lesions(per_source: dict[str, int]) -> list[LoadedLesion]:
    out = []
    for source, n in per_source.items():
        for i in range(n):
            record = LesionRecord(Path(f"{source}{i}.png"), Path(f"{source}{i}_mask.png"), "benign", None, None,
                                  f"{source}/{i}", source)
            out.append(LoadedLesion(np.zeros((4, 4), np.uint8), np.ones((4, 4), bool), record))
    return out


def test_source_weights_draw_sources_by_weight_then_lesions_uniformly():
    lesions = _fake_lesions({"aul": 10, "busi": 2, "synthetic": 5})
    weights = {"aul": 0.4, "busi": 0.4, "synthetic": 0.2}
    n = 40000
    idx = draw_lesions(lesion_probabilities(lesions, weights), len(lesions), np.random.default_rng(0), n)
    by_source = Counter(lesions[i].record.source for i in idx)
    for source, w in weights.items():
        assert by_source[source] / n == pytest.approx(w, abs=0.01)
    by_lesion = Counter(lesions[i].record.key for i in idx)
    assert by_lesion["busi/0"] / n == pytest.approx(0.2, abs=0.01)  # 0.4 split over 2 lesions
    assert by_lesion["busi/1"] / n == pytest.approx(0.2, abs=0.01)
    assert all(by_lesion[f"aul/{i}"] / n == pytest.approx(0.04, abs=0.006) for i in range(10))


def test_without_source_weights_every_lesion_is_equally_likely():
    lesions = _fake_lesions({"aul": 10, "busi": 2})
    np.testing.assert_allclose(lesion_probabilities(lesions, None), np.full(12, 1 / 12))
    idx = draw_lesions(None, 12, np.random.default_rng(0), 24000)
    assert Counter(lesions[i].record.source for i in idx)["busi"] / 24000 == pytest.approx(2 / 12, abs=0.01)


def test_source_weights_must_name_every_source_of_the_data():
    lesions = _fake_lesions({"aul": 2, "busi": 2})
    with pytest.raises(ValueError, match="no weight to source busi"):
        lesion_probabilities(lesions, {"aul": 1.0})
    p = lesion_probabilities(lesions, {"aul": 3.0, "busi": 1.0, "synthetic": 5.0})  # absent sources: ignored
    np.testing.assert_allclose(p, [0.375, 0.375, 0.125, 0.125])
    with pytest.raises(ModelInputError, match="no weight to source"):
        ClickSegTrainer().train(lesions, Path("unused"), {"source_weights": {"aul": 1.0}})
    with pytest.raises(ModelInputError, match="source_weights"):
        ClickSegTrainer().train(lesions, Path("unused"), {"source_weights": {"aul": -1.0, "busi": 1.0}})


def test_source_weights_pass_through_the_trainer_into_the_stored_config(mixed_lesions, tmp_path):
    weights = {"aul": 0.4, "busi": 0.4, "synthetic": 0.2}
    options = {"steps": 1, "batch_size": 2, "num_threads": 1, **TINY_NET, "source_weights": weights, "name": "mix"}
    messages = []
    path = ClickSegTrainer().train(mixed_lesions, tmp_path, options, device="cpu", log=messages.append)
    seg = load_segmenter(path, "cpu")
    assert seg.meta["train_config"]["source_weights"] == weights
    assert json.loads((tmp_path / "train_meta.json").read_text())["train_config"]["source_weights"] == weights
    assert any("drawing lesions by source: aul 0.40, busi 0.40, synthetic 0.20" in m for m in messages)
