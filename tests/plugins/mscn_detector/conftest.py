"""Tiny phantoms and a tiny model config so detector tests run in seconds on CPU."""

import pytest
import torch

from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study
from liverview_plugins.mscn_detector.config import DetectorConfig


@pytest.fixture
def tiny_config() -> DetectorConfig:
    torch.set_num_threads(1)
    return DetectorConfig(n_slices=3, pixel_mm=6.4, stage_channels=(4, 8, 8, 8), pyramid_channels=8,
                          attention_channels=4, head_channels=8, crop_px=32, batch_size=2, epochs=1,
                          steps_per_epoch=2)


@pytest.fixture(scope="module")
def tiny_phantom_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    study = generate_ct_study(7, n_lesions=2, shape=(16, 64, 64), spacing_mm=(3.2, 3.2, 2.5))
    write_phantom_study(study, root / "s7")
    return root
