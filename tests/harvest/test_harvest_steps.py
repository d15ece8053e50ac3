"""The model-facing steps of a round: marks as training boxes, simulated review, training cases, LPC samples."""

import numpy as np
import pytest

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D
from liverview.harvest.lesion_score import ScoredProposal
from liverview.harvest.rounds import split_proposals
from liverview.harvest.steps import (HarvestStudy, classifier_examples, detector_training_cases, harvest_volumes,
                                     mark_box_ijk, simulated_decisions)
from liverview.metrics.ground_truth import GroundTruthLesion

NC = PhaseKind.NON_CONTRAST


def volume():
    return Volume(np.zeros((20, 64, 64), np.int16), (0.8, 0.8, 2.5))


def test_a_recist_mark_becomes_a_box_on_its_key_slice_with_a_sphere_sized_slice_range():
    mark = GroundTruthLesion("A", 10, (20, 30, 32.5, 40), lesion_class="cyst")
    # larger side 12.5 px * 0.8 mm = 10 mm -> radius 5 mm -> 2 slices of 2.5 mm either side
    assert mark_box_ijk(mark, volume()) == (20, 30, 8, 32, 39, 12)
    edge = GroundTruthLesion("A", 0, (0, 0, 10, 10), lesion_class="cyst")
    assert mark_box_ijk(edge, volume())[2] == 0  # clipped to the volume
    with_3d = GroundTruthLesion("A", 10, (20, 30, 32, 40), (18, 28, 34, 42, 7, 13), "cyst")
    assert mark_box_ijk(with_3d, volume()) == (18, 28, 7, 33, 41, 13)


def test_the_simulated_reviewer_accepts_the_best_hit_of_each_lesion_only():
    truth = [GroundTruthLesion("A", 5, (0, 0, 10, 10))]
    props = [Proposal3D((0, 0, 10, 10), (4, 6), 0.9, 5), Proposal3D((1, 0, 10, 10), (4, 6), 0.8, 5),
             Proposal3D((40, 40, 50, 50), (4, 6), 0.7, 5)]
    assert simulated_decisions(props, truth) == {0: True, 1: False, 2: False}


@pytest.fixture
def two_studies():
    vol = Volume(np.full((12, 48, 48), -50, np.int16), (1.0, 1.0, 2.5))
    a = HarvestStudy("A", {NC: vol}, NC, [GroundTruthLesion("A", 5, (10, 10, 20, 20), lesion_class="cyst")],
                     fully_annotated=True, decisions={0: True, 1: False})
    b = HarvestStudy("B", {NC: vol}, NC, [GroundTruthLesion("B", 6, (30, 30, 40, 40), lesion_class="hcc")])
    props = {"A": [Proposal3D((10, 10, 20, 20), (4, 6), 0.9, 5, {"cyst": 1}),
                   Proposal3D((30, 5, 40, 15), (2, 3), 0.8, 2, {"hcc": 1})],
             "B": [Proposal3D((30, 30, 40, 40), (5, 7), 0.9, 6, {"hcc": 1}),
                   Proposal3D((5, 5, 15, 15), (1, 2), 0.7, 1, {"metastasis": 1})]}
    return [a, b], props


def test_training_cases_carry_marks_harvested_lesions_and_hard_negatives(two_studies):
    pytest.importorskip("torch")
    studies, props = two_studies
    harvested = {"B": [ScoredProposal("B", 1, props["B"][1], 0.9)]}
    hard = {"A": [ScoredProposal("A", 1, props["A"][1], 0.1)]}
    a, b = detector_training_cases(studies, harvested, hard)
    assert [les.lesion_class for les in a.lesions] == ["cyst"] and a.hard_negatives == [props["A"][1]]
    assert [les.lesion_class for les in b.lesions] == ["hcc", "metastasis"] and b.hard_negatives == []
    assert b.lesions[1].box_ijk == (5, 5, 1, 14, 14, 2) and b.lesions[1].key_slice == 1


def test_classifier_examples_are_accepted_and_mark_hits_vs_rejected(two_studies):
    studies, props = two_studies
    sets = split_proposals(harvest_volumes(studies, props))
    a, b = classifier_examples(studies, props, sets)
    assert (a.name, list(a.proposals), list(a.labels)) == ("A", [props["A"][0], props["A"][1]], [True, False])
    assert (b.name, list(b.proposals), list(b.labels)) == ("B", [props["B"][0]], [True])
    assert [e.name for e in classifier_examples(studies, props, sets, only={"B"})] == ["B"]


def test_lpc_trainer_makes_three_view_crops_of_every_labelled_proposal(two_studies, tmp_path):
    pytest.importorskip("torch")
    from liverview_plugins.lesion_proposal_classifier.crops import multiview_crops
    from liverview_plugins.lesion_proposal_classifier.trainer import config_from_options

    studies, props = two_studies
    sets = split_proposals(harvest_volumes(studies, props))
    cfg = config_from_options({"phases": ["non-contrast"], "crop_px": 16})
    x = [multiview_crops(e.volumes, e.reference, list(e.proposals), cfg) for e in classifier_examples(studies, props, sets)]
    assert [c.shape for c in x] == [(2, 3, 1, 16, 16), (1, 3, 1, 16, 16)]


def test_crossfit_scores_reviewed_studies_with_the_fold_that_did_not_see_them(tmp_path):
    pytest.importorskip("torch")
    from liverview_plugins.lesion_proposal_classifier.inference import load_lpc

    from liverview.harvest.steps import crossfit_classifier_scores
    from liverview.plugin_registry import discover_plugins

    rng = np.random.default_rng(0)
    vol = Volume(rng.normal(0, 30, (12, 48, 48)).astype(np.float32), (1.0, 1.0, 2.5))
    vol.array[4:7, 10:20, 10:20] = 150

    def study(name, reviewed):
        return HarvestStudy(name, {NC: vol}, NC, [GroundTruthLesion(name, 5, (10, 10, 20, 20), lesion_class="cyst")],
                            fully_annotated=reviewed, decisions={0: True, 1: False} if reviewed else {})

    studies = [study("M1", True), study("M2", True), study("H", False)]
    props = {s.volume: [Proposal3D((10, 10, 20, 20), (4, 6), 0.9, 5, {"cyst": 1}),
                        Proposal3D((30, 30, 40, 40), (4, 6), 0.8, 5, {"hcc": 1})] for s in studies}
    sets = split_proposals(harvest_volumes(studies, props))
    options = {"phases": ["non-contrast"], "crop_px": 16, "stage_channels": [8], "epochs": 2, "batch_size": 4}
    lpc = discover_plugins().resolve("proposal-classifier")
    scores, counts = crossfit_classifier_scores(studies, props, sets, tmp_path, lpc, options, folds=2, device="cpu")
    assert counts == [(2, 1), (2, 1)]  # each fold: the other M's lesion + H's mark hit vs the other M's rejection
    f0, f1 = (load_lpc(tmp_path / f"fold{f}" / "lpc.pt", device="cpu") for f in (0, 1))
    assert scores["M1"] == pytest.approx(f0.score({NC: vol}, NC, props["M1"]).tolist(), abs=1e-6)
    assert scores["M2"] == pytest.approx(f1.score({NC: vol}, NC, props["M2"]).tolist(), abs=1e-6)
    mean = (f0.score({NC: vol}, NC, props["H"]) + f1.score({NC: vol}, NC, props["H"])) / 2
    assert scores["H"] == pytest.approx(mean.tolist(), abs=1e-6)
