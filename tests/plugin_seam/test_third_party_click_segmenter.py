"""A third-party ultrasound click segmenter's predictions are checked where the app receives them
(liverview.us.checked_prediction): a wrong mask shape, non-finite probabilities, other class names or a bug in
its predict are clear errors naming the plugin, never a tiny mask file, invalid JSON or a bare "error: cyst"."""

import json
import sys
import textwrap

import cv2
import numpy as np
import pytest

from liverview.cli import main as cli_main
from liverview.plugin_api.errors import ModelError, ModelInputError
from liverview.us.checked_prediction import checked_predict
from liverview.us.clicks import Click

PACKAGE = "tiny_us_seg"

_MODULE = '''
import os

import numpy as np

from liverview.us.prediction import UsPrediction


def manifest():
    return {"name": "tiny_us_seg", "display_name": "Tiny US seg", "version": "0.1", "description": "test",
            "contributes": [{"kind": "click-segmenter", "name": "tiny_seg", "title": "Tiny seg",
                             "modalities": ["US"], "command": "tiny_us_seg:load"}]}


class Seg:
    name = "tiny_seg"
    label_mode = "four-class"

    def predict(self, image, clicks, prior=None):
        mode = os.environ.get("TINY_US_SEG_MODE", "ok")
        m = np.zeros(image.shape, bool)
        m[10:20, 10:20] = True
        probs = {"cyst": .25, "hemangioma": .25, "metastasis": .25, "hcc": .25}
        if mode == "raise_key":
            raise KeyError("weights_key")
        if mode == "raise_value":
            raise ValueError("bad click")
        if mode == "small_mask":
            m = m[:10, :10]
        if mode == "bm_probs":
            probs = {"benign": .3, "malignant": .7}
        if mode == "big_prob":
            probs["cyst"] = 1.5
        return UsPrediction(m, probs, float("nan") if mode == "nan_prob" else 0.5, 1.0)


def load(weights=None, device="auto"):
    return Seg()
'''


@pytest.fixture
def installed(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{PACKAGE}.py").write_text(textwrap.dedent(_MODULE))
    info = site / f"{PACKAGE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-us-seg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[liverview.plugins]\n{PACKAGE} = {PACKAGE}:manifest\n")
    (info / "RECORD").write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, PACKAGE, raising=False)
    yield site
    sys.modules.pop(PACKAGE, None)


def _segment(tmp_path, capsys, monkeypatch, mode):
    monkeypatch.setenv("TINY_US_SEG_MODE", mode)
    image = tmp_path / "us.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (48, 64), dtype=np.uint8))
    out = tmp_path / f"{mode}.png"
    code = cli_main(["us-segment", str(image), "--click", "15", "15", "--out", str(out), "--model", "tiny_seg"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out


def test_a_usable_prediction_prints_strict_json(installed, tmp_path, capsys, monkeypatch):
    code, out, _, mask = _segment(tmp_path, capsys, monkeypatch, "ok")
    assert code == 0 and json.loads(out)["model"] == "tiny_seg" and cv2.imread(str(mask)).shape[:2] == (48, 64)


@pytest.mark.parametrize("mode, problem", [
    ("small_mask", "mask of shape (10, 10) for a frame of shape (48, 64)"),
    ("nan_prob", "malignant_prob nan"),
    ("bm_probs", "class probabilities for ['benign', 'malignant']"),
    ("big_prob", "outside [0, 1]"),
    ("raise_key", "failed: KeyError: 'weights_key'"),
    ("raise_value", "bad click"),
])
def test_an_unusable_prediction_is_a_clear_error_naming_the_plugin(installed, tmp_path, capsys, monkeypatch,
                                                                   mode, problem):
    code, out, err, mask = _segment(tmp_path, capsys, monkeypatch, mode)
    assert code == 2 and out == "" and not mask.exists()
    assert "click segmenter 'tiny_seg'" in err and problem in err and "Traceback" not in err


def test_the_check_is_the_one_eval_and_the_workspace_use(installed, monkeypatch):
    import tiny_us_seg

    seg, image = tiny_us_seg.load(), np.zeros((48, 64), np.float32)
    assert checked_predict(seg, image, [Click(15, 15, True)]).mask.shape == (48, 64)
    monkeypatch.setenv("TINY_US_SEG_MODE", "small_mask")
    with pytest.raises(ModelError, match="tiny_seg"):
        checked_predict(seg, image, [Click(15, 15, True)], prior=np.zeros((48, 64), bool))
    monkeypatch.setenv("TINY_US_SEG_MODE", "raise_value")
    with pytest.raises(ModelInputError, match="tiny_seg"):  # still a ValueError, as callers expect
        checked_predict(seg, image, [Click(15, 15, True)])
