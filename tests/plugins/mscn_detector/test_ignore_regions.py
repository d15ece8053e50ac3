"""Regions that may hold real, unlabelled lesions (a host scan's ignore mask) give no heatmap loss, in the
loss and in the batches; a study with inserted lesions and one phase trains through the CLI with phantoms."""

from __future__ import annotations

import json

import numpy as np
import torch

from liverview.cli import main as cli_main
from liverview.core.study import PhaseKind
from liverview.synth.ct_phantom import generate_ct_study
from liverview.synth.lesion_insertion import generate_inserted_study, prepare_host, write_inserted_study
from liverview_plugins.mscn_detector.dataset import BatchSampler, prepare_case
from liverview_plugins.mscn_detector.losses import detection_loss
from liverview_plugins.mscn_detector.training import load_cases_from_folder
from tests.plugins.mscn_detector.conftest import TINY_MODEL_ARGS


def _outputs_and_targets(n_classes: int = 4, size: int = 8):
    heat = torch.full((1, n_classes + 1, size, size), -6.0)
    gt = torch.zeros((1, n_classes + 1, size, size))
    gt[0, 0, 2, 2] = gt[0, n_classes, 2, 2] = 1.0
    heat[0, 0, 2, 2] = heat[0, n_classes, 2, 2] = 2.0
    targets = {"heatmap": gt, "wh": torch.zeros(1, 2, size, size), "offset": torch.zeros(1, 2, size, size),
               "mask": torch.zeros(1, size, size)}
    outputs = {"heatmap": heat, "wh": torch.zeros(1, 2, size, size), "offset": torch.zeros(1, 2, size, size)}
    return outputs, targets


def test_a_confident_prediction_inside_an_ignored_region_costs_nothing():
    outputs, targets = _outputs_and_targets()
    ignore = torch.zeros(1, 1, 8, 8)
    ignore[0, 0, 5:8, 5:8] = 1.0
    targets["background_ignore"] = ignore
    base = detection_loss(outputs, targets)["heatmap"]
    hot = {k: v.clone() for k, v in outputs.items()}
    hot["heatmap"][0, :, 6, 6] = 4.0  # "lesion" where a real unlabelled tumour may be
    assert torch.isclose(detection_loss(hot, targets)["heatmap"], base)
    hot_outside = {k: v.clone() for k, v in outputs.items()}
    hot_outside["heatmap"][0, :, 1, 6] = 4.0
    assert detection_loss(hot_outside, targets)["heatmap"] > base + 1.0
    no_ignore = {k: v for k, v in targets.items() if k != "background_ignore"}
    assert detection_loss(hot, no_ignore)["heatmap"] > base + 1.0


def test_a_lesion_peak_inside_an_ignored_region_still_teaches_the_lesion():
    outputs, targets = _outputs_and_targets()
    targets["background_ignore"] = torch.ones(1, 1, 8, 8)
    missed = {k: v.clone() for k, v in outputs.items()}
    missed["heatmap"][0, :, 2, 2] = -4.0
    assert detection_loss(missed, targets)["heatmap"] > detection_loss(outputs, targets)["heatmap"] + 1.0


def test_inserted_studies_give_one_phase_batches_with_their_ignore_mask(tmp_path, tiny_config, tiny_phantom_dir):
    phantom = generate_ct_study(11, n_lesions=3, shape=(24, 96, 96), spacing_mm=(2.0, 2.0, 2.5))
    host = prepare_host(phantom.phases[PhaseKind.PORTAL_VENOUS], phantom.liver_mask, "ph")
    assert host.suspicious.any()  # the phantom's own dark lesions stand in for unlabelled real ones
    write_inserted_study(generate_inserted_study(host, 1, 2), tmp_path / "ins" / "ph_s1")
    (case,) = load_cases_from_folder(tmp_path / "ins")
    prepared = prepare_case(case, tiny_config)
    assert prepared.ignore is not None and prepared.ignore.any()
    assert prepared.present.tolist() == [False, False, True, False]
    sampler = BatchSampler([prepared], tiny_config.replace(batch_size=6))
    batch = sampler.sample(0)
    assert batch["background_ignore"].shape == (6, 1, 8, 8)
    assert batch["image"][:, [0, 1, 3]].max() == 0  # absent phases are zeros
    seen = sum(float(sampler.sample(s)["background_ignore"].sum()) for s in range(6))
    assert seen > 0
    # and the command trains on phantoms and inserted studies together
    out = tmp_path / "run"
    rc = cli_main(["train-detector", "--data", str(tiny_phantom_dir), "--data", str(tmp_path / "ins"),
                   "--out", str(out), "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2",
                   *TINY_MODEL_ARGS])
    assert rc == 0 and (out / "mscn_detector.pt").is_file()
    assert np.isfinite(json.loads((out / "train_log.json").read_text())["history"][-1]["loss"])
