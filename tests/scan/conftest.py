"""A tiny real detector (the mscn_detector trained 20 steps) in a plugin folder of its own, and tiny phantom
archives, so scans on local Ray take seconds."""

import json
from pathlib import Path

import pytest

from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study

REPO = Path(__file__).resolve().parents[2]
TINY_SHAPE, TINY_SPACING = (16, 64, 64), (3.2, 3.2, 2.5)
TINY_MODEL = "tiny_detector"


def write_tiny_phantom(folder: Path, seed: int, shape=TINY_SHAPE) -> Path:
    return write_phantom_study(generate_ct_study(seed, n_lesions=2, shape=shape, spacing_mm=TINY_SPACING), folder)


@pytest.fixture(scope="session")
def tiny_detector_dir(tmp_path_factory) -> Path:
    """A plugin folder whose detector 'tiny_detector' is the real mscn_detector with weights trained 20 steps."""
    import torch
    from liverview_plugins.mscn_detector.config import DetectorConfig
    from liverview_plugins.mscn_detector.training import load_cases_from_folder, train_detector

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny-detector")
    write_tiny_phantom(root / "data" / "s7", 7)
    cfg = DetectorConfig(n_slices=3, pixel_mm=6.4, stage_channels=(4, 8, 8, 8), pyramid_channels=8,
                         attention_channels=4, head_channels=8, crop_px=32, batch_size=2, epochs=1,
                         steps_per_epoch=20)
    plugin = root / "plugins" / TINY_MODEL
    weights = train_detector(load_cases_from_folder(root / "data"), cfg, plugin / "run", device="cpu")
    manifest = json.loads((REPO / "plugins" / "mscn_detector" / "plugin.json").read_text())
    manifest["name"] = TINY_MODEL
    contribution = manifest["contributes"][0]
    contribution.update(name=TINY_MODEL, default=False, weights=str(weights.relative_to(plugin)))
    contribution.pop("model_card", None)
    contribution.pop("validation", None)
    (plugin / "plugin.json").write_text(json.dumps(manifest))
    return root / "plugins"
