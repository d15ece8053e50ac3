"""The FROC plot: drawn with OpenCV, through the reported values, for every protocol."""

import cv2
import numpy as np
import pytest

from liverview.detection.proposals import Proposal3D
from liverview.metrics.detection import evaluate_detections, read_froc
from liverview.metrics.froc_plot import COLOURS, draw_froc, froc_curve_of
from liverview.metrics.ground_truth import GroundTruthLesion


@pytest.fixture
def reports():
    gt = {v: [GroundTruthLesion(v, 2, (0, 0, 9, 9)), GroundTruthLesion(v, 4, (30, 30, 39, 39))] for v in "AB"}
    pred = {"A": [Proposal3D((0, 0, 9, 9), (1, 3), 0.9, 2), Proposal3D((60, 60, 69, 69), (0, 1), 0.8, 0),
                  Proposal3D((30, 30, 39, 39), (4, 4), 0.4, 4)],
            "B": [Proposal3D((0, 0, 9, 9), (2, 2), 0.7, 2), Proposal3D((80, 0, 89, 9), (0, 0), 0.6, 0)]}
    return [evaluate_detections(pred, gt, protocol=p) for p in ("strict", "deeplesion")]


def test_the_curve_is_read_off_like_the_reported_values(reports):
    for r in reports:
        c = froc_curve_of(r)
        assert c.points == r.froc and c.reached_fp == pytest.approx(1.0)  # 2 false positives, 2 volumes
        assert read_froc(r.curve, list(r.froc), r.protocol) == r.froc
        assert np.all(np.diff(c.recall) >= 0)  # a FROC never falls


def test_draw_froc_writes_a_png_with_one_colour_per_curve(reports, tmp_path):
    path = draw_froc(reports, tmp_path / "sub" / "froc.png")
    img = cv2.imread(str(path))
    assert img.shape == (480, 640, 3)
    for colour in COLOURS[:2]:
        assert (np.abs(img.astype(int) - colour).sum(axis=2) < 30).sum() > 50
    with pytest.raises(ValueError, match="no report"):
        draw_froc([], tmp_path / "none.png")
