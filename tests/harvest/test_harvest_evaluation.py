"""Harvest quality against full labels, and the report files (JSON, markdown, PR curve PNG)."""

import json

import cv2
import pytest

from liverview.detection.proposals import Proposal3D
from liverview.harvest.evaluation import harvest_quality, mark_as_proposal
from liverview.harvest.report import PrCurve, draw_pr_curves, write_report
from liverview.metrics.ground_truth import GroundTruthLesion


def lesion(x, key=3, volume="A"):
    return GroundTruthLesion(volume, key, (x, 0, x + 10, 10), lesion_class="cyst")


def test_marks_then_candidates_give_the_recall_at_90_percent_precision():
    truth = {"A": [lesion(0), lesion(20), lesion(40), lesion(60)]}
    marks = {"A": [truth["A"][0], truth["A"][1]]}  # half the lesions marked
    # ranked by score: lesion 40 (0.9), a false positive (0.8), lesion 60 (0.7)
    cands = {"A": [(Proposal3D((40, 0, 50, 10), (2, 4), 0.5, 3), 0.9),
                   (Proposal3D((200, 0, 210, 10), (2, 4), 0.5, 3), 0.8),
                   (Proposal3D((60, 0, 70, 10), (2, 4), 0.5, 3), 0.7)]}
    q = harvest_quality(marks, cands, truth, threshold=0.85)
    assert q.marks_recall == 0.5 and q.n_marks == 2 and q.n_lesions == 4
    # marks (2 TP), 0.9 TP: 3/3; 0.8 FP: 3/4; 0.7 TP: 4/5 -> precision >= 0.9 up to recall 3/4
    assert q.recall_at_precision(0.9) == pytest.approx(0.75)
    assert q.recall_at_precision(0.8) == pytest.approx(1.0)
    # harvested at the 0.85 threshold: only the 0.9 proposal
    assert q.n_harvested == 1 and q.harvested_recall == 0.75 and q.harvested_precision == 1.0
    none = harvest_quality(marks, cands, truth, threshold=None)
    assert none.n_harvested == 0 and none.harvested_recall == 0.5


def test_a_mark_ranks_first_and_hits_its_own_lesion():
    p = mark_as_proposal(lesion(5, key=7))
    assert p.z_range == (7, 7) and p.score > 1.0 and p.box == (5, 0, 15, 10)


@pytest.mark.parametrize("backend", ["matplotlib", "opencv"])
def test_the_pr_curve_png_is_drawn_by_either_backend(tmp_path, backend):
    pytest.importorskip("matplotlib") if backend == "matplotlib" else None
    curves = [PrCurve("marks + s", [0, 0.5, 0.75, 1.0], [1, 1, 0.75, 0.8], (0.75, 1.0)),
              PrCurve("marks", [0, 0.5], [1, 1])]
    path = draw_pr_curves(curves, "test", tmp_path / f"{backend}.png", backend=backend)
    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] >= 400 and img.std() > 10  # an image with content, not blank


def test_report_files_hold_the_numbers(tmp_path):
    j, m = write_report(tmp_path / "r", {"recall": float("nan"), "n": 3, "nested": {"x": 0.1234567}}, "# Round 1")
    doc = json.loads(j.read_text())
    assert doc == {"recall": None, "n": 3, "nested": {"x": 0.123457}}
    assert m.read_text().startswith("# Round 1")
