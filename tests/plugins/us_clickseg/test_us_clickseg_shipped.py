"""The shipped weights and the real BUSI subset (skipped when absent)."""

import json

import cv2
import numpy as np
import pytest

from liverview.cli import main
from liverview.metrics.segmentation import jaccard_index
from liverview.synth.us_phantom import US_LESION_CLASSES, generate_us_phantom
from liverview.us.clicks import box_to_clicks
from liverview.us.click_simulation import eval_box
from liverview_plugins.us_clickseg.inference import DEFAULT_WEIGHTS, load_segmenter
from tests.us.test_us_image import _write_us_dicom

needs_weights = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="models/us_clickseg weights not present")


@needs_weights
def test_shipped_weights_segment_and_classify_fresh_phantoms():
    seg = load_segmenter(device="cpu")
    jac, correct = [], 0
    for i in range(8):  # a seed never used for training (1) or the reported test set (2)
        cls = US_LESION_CLASSES[i % 4]
        ph = generate_us_phantom(np.random.default_rng([777, i]), cls)
        pred = seg.predict(ph.image.astype(np.float32), box_to_clicks(*eval_box(ph.mask, i)))
        jac.append(jaccard_index(pred.mask, ph.mask))
        correct += max(pred.class_probs, key=pred.class_probs.get) == cls
    assert np.mean(jac) > 0.8
    assert correct >= 6


@needs_weights
def test_us_segment_on_calibrated_dicom_reports_mm(tmp_path, capsys):
    ph = generate_us_phantom(np.random.default_rng(5), "cyst", size=(240, 320))
    path = _write_us_dicom(tmp_path / "us.dcm", ph.image, region_cm=(0.02, 0.02))  # 0.2 mm pixels
    ys, xs = np.nonzero(ph.mask)
    capsys.readouterr()
    assert main(["us-segment", str(path), "--box", str(xs.min() - 3), str(ys.min() - 3), str(xs.max() + 3),
                 str(ys.max() + 3), "--out", str(tmp_path / "m.png"), "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pixel_spacing_mm"] == pytest.approx([0.2, 0.2])
    m = out["measurement"]
    assert m["units"] == "mm"
    assert m["area"] == pytest.approx(out["mask_pixels"] * 0.04, rel=1e-3)
    true_long = (max(xs.max() - xs.min(), ys.max() - ys.min()) + 1) * 0.2
    assert m["long_diameter"] == pytest.approx(true_long, rel=0.25)
    assert cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_GRAYSCALE).shape == (240, 320)


def test_busi_records_split_by_image_number_and_skip_normals(shared_data):
    from liverview.us.lesion_dataset import load_records

    busi = shared_data / "busi-subset"
    if not busi.is_dir():
        pytest.skip("busi-subset not staged")
    train, test = load_records(busi, "train"), load_records(busi, "test")
    assert {r.label for r in train + test} == {"benign", "malignant"}
    assert not {r.image_path for r in train} & {r.image_path for r in test}
    assert len(test) == 30 and all(r.class_index == -1 and r.pixel_spacing_mm is None for r in test)
