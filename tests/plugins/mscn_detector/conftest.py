"""Tiny phantoms and a tiny model config so detector tests run in seconds on CPU."""

import pytest
import torch

from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study
from liverview_plugins.mscn_detector.config import DetectorConfig


# train-detector options for the tiny model (with --epochs / --steps-per-epoch / --batch-size of the test's choosing)
TINY_MODEL_ARGS = ("--set", "n_slices=3", "--set", "pixel_mm=6.4", "--set", "crop_px=32",
                   "--set", "stage_channels=[4, 8, 8, 8]", "--set", "pyramid_channels=8",
                   "--set", "attention_channels=4", "--set", "head_channels=8", "--threads", "1")


@pytest.fixture
def default_weights():
    """The shipped detector weights (models/mscn_detector); tests of them skip in a checkout without the file."""
    from liverview_plugins.mscn_detector.inference import DEFAULT_WEIGHTS

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip("default weights not present in models/mscn_detector")
    return DEFAULT_WEIGHTS


def phantom_inputs(seed: int, n_lesions: int):
    """(phases, reference phase) of a 24 x 160 x 160 phantom: large enough for the shipped weights' 1 mm pixels."""
    st = generate_ct_study(seed, n_lesions=n_lesions, shape=(24, 160, 160), spacing_mm=(1.2, 1.2, 2.5))
    return dict(st.phases), st.reference_phase


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
