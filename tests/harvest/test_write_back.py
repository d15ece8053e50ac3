"""`liverview harvest-round --write-back`: harvested positives become draft lesions in the project, each
linked to its proposal by an audited "accepted" decision of the harvest round; without the flag the
project is left as it was."""

import json
import shutil

import pytest
import torch

from liverview.cli import main
from liverview.detection.proposals import Proposal3D
from liverview.harvest.lesion_score import ScoredProposal
from liverview.harvest.project_data import load_project_harvest
from liverview.harvest.rounds import split_proposals
from liverview.harvest.steps import harvest_volumes
from liverview.harvest.write_back import REVIEWER, write_back_harvest
from liverview.metrics.ground_truth import read_phantom_ground_truth
from liverview.review.proposal_import import proposal_record
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.synth.ct_phantom import PHASE_FILES, PHASES, generate_ct_study, write_phantom_study

SMALL = dict(shape=(32, 128, 128), spacing_mm=(1.6, 1.6, 5.0))
LPC_FAST = ["--epochs", "2", "--crop-px", "16", "--pad-px", "8", "--device", "cpu", "--lpc-folds", "1"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A project of two phantom studies: A fully marked and reviewed, B with 2 of its 4 lesions marked; each
    has one proposal per true lesion (from its 3D box) and two far from every lesion."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("write_back")
    path = root / "p.lvproj"
    with Project.create(path, "tester") as proj:
        for name, seed, reviewed in (("A", 41, True), ("B", 42, False)):
            study = generate_ct_study(seed, n_lesions=4, **SMALL)
            folder = write_phantom_study(study, root / name)
            sid = proj.add_study(uid=name)
            for kind in PHASES:
                proj.add_phase(sid, kind, folder / PHASE_FILES[kind])
            truth = read_phantom_ground_truth(folder)
            for les in study.lesions if reviewed else study.lesions[:2]:
                proj.add_lesion(sid, les.lesion_class,
                                recist=RecistRecord(les.long_axis_mm, les.short_axis_mm, les.key_slice, "non-contrast"))
            props = [Proposal3D(g.box_3d[:4], g.box_3d[4:], 0.9 - 0.05 * n, g.key_slice, {g.lesion_class: 1.0})
                     for n, g in enumerate(truth)]
            props += [Proposal3D((2, 2, 12, 12), (1, 3), 0.7, 2, {"cyst": 1.0}),
                      Proposal3D((110, 2, 120, 12), (20, 22), 0.6, 21, {})]
            saved = proj.add_proposals(sid, [proposal_record(p, study.phases[PHASES[0]], "test-detector")
                                             for p in props])
            if reviewed:
                for n, rec in enumerate(saved):
                    proj.decide(rec.id, "accepted" if n < len(truth) else "rejected", "reviewer")
    yield path
    torch.set_num_threads(threads)


@pytest.fixture
def project(template, tmp_path):
    path = tmp_path / "p.lvproj"
    shutil.copy(template, path)
    return path


def _lesion_counts(path):
    with Project.open(path, "tester", read_only=True) as proj:
        return {s.uid: len(proj.list_lesions(s.id)) for s in proj.list_studies()}


def test_write_back_stores_draft_lesions_linked_to_their_proposals(project):
    with Project.open(project, "tester") as proj:
        data = load_project_harvest(proj, ["A"])
        b = data.proposals["B"]
        picked = {"B": [ScoredProposal("B", 2, b[2], 0.8), ScoredProposal("B", 5, b[5], 0.9)]}  # a lesion, a box
        written = write_back_harvest(proj, data, picked, 3, "lpc-test")
    assert [w.proposal_id for w in written] == [data.records["B"][2].id, data.records["B"][5].id]
    with Project.open(project, "tester", read_only=True) as proj:  # reopened: it is in the SQLite file
        sid = data.study_ids["B"]
        lesions = {les.id: les for les in proj.list_lesions(sid)}
        assert len(lesions) == 2 + 2
        first, second = (lesions[w.lesion_id] for w in written)
        assert first.status == "draft" and first.recist is None
        assert first.lesion_class == b[2].lesion_class != "unknown"
        assert second.lesion_class == "unknown"  # the detector gave that box no class
        assert first.notes == f"harvested in round 3, s={0.8 * b[2].score:.3f}, s_g={b[2].score:.3f}, s_c=0.800"
        box = first.box("3d")
        (i0, j0, k0), (i1, j1, k1) = b[2].box_ijk()
        assert box.min_ijk == (i0, j0, k0) and box.max_ijk == (i1, j1, k1)
        assert box.min_mm < box.max_mm
        for w in written:
            proposal = proj.get_proposal(w.proposal_id)
            assert proposal.status == "accepted" and proposal.lesion_id == w.lesion_id
            (decision,) = proj.decisions(w.proposal_id)
            assert decision.reviewer == REVIEWER and decision.model == "lpc-test"
            assert decision.note.startswith("harvested in round 3")
        actions = [e.action for e in proj.audit_log(limit=2)]
        assert actions == ["accept_as_lesion", "accept_as_lesion"]  # lesion and decision: one transaction each
    with Project.open(project, "tester") as proj:  # a second write-back of the same harvest adds nothing
        data = load_project_harvest(proj, ["A"])
        assert write_back_harvest(proj, data, picked, 4, "lpc-test") == []
        assert len(proj.list_lesions(data.study_ids["B"])) == 4
    # the next round reads the written-back lesions as marks: their proposals are now mark hits
    (b_study,) = [s for s in data.studies if s.volume == "B"]
    assert len(b_study.marks) == 4 and b_study.marks[-1].box_3d is not None
    sets = split_proposals(harvest_volumes(data.studies, data.proposals))
    assert {("B", 2), ("B", 5)} <= set(sets.mark_hits)


def test_write_back_refuses_a_volume_outside_the_round(project):
    with Project.open(project, "tester") as proj:
        data = load_project_harvest(proj, ["A"])
        p = data.proposals["B"][0]
        with pytest.raises(ValueError, match="not one of this round's studies"):
            write_back_harvest(proj, data, {"Z": [ScoredProposal("Z", 0, p, 0.5)]}, 1, "lpc")
        with pytest.raises(ValueError, match="round number"):
            write_back_harvest(proj, data, {}, 0, "lpc")


def test_harvest_round_writes_back_only_with_the_flag(project, tmp_path, capsys):
    before = _lesion_counts(project)
    common = ["harvest-round", "--project", str(project), "--fully-annotated", "A", *LPC_FAST, "--in-process"]
    assert main([*common, "--out", str(tmp_path / "dry")]) == 0
    assert _lesion_counts(project) == before  # without --write-back nothing is written
    doc = json.loads((tmp_path / "dry" / "report.json").read_text())
    assert doc["written_back"] is None

    out = tmp_path / "round2"
    assert main([*common, "--out", str(out), "--write-back", "--round", "2"]) == 0
    doc = json.loads((out / "report.json").read_text())
    harvested = json.loads((out / "harvest.json").read_text())["B"]["harvested"]
    assert doc["harvested"] == len(harvested) == len(doc["written_back"]) > 0
    assert _lesion_counts(project) == {"A": before["A"], "B": before["B"] + len(harvested)}
    with Project.open(project, "tester", read_only=True) as proj:
        for h, w in zip(harvested, doc["written_back"]):
            assert w["proposal_id"] == h["proposal_id"]
            lesion = proj.get_lesion(w["lesion_id"])
            assert lesion.notes.startswith("harvested in round 2, s=") and lesion.status == "draft"
            assert proj.get_proposal(h["proposal_id"]).status == "accepted"
    assert "written back to the project" in (out / "report.md").read_text()


def test_a_lesion_and_the_decision_that_links_it_are_stored_together_or_not_at_all(tmp_path):
    from liverview.store.records import BoxRecord, InvalidRecordError, ProposalRecord

    with Project.create(tmp_path / "p.lvproj", "tester") as proj:
        sid = proj.add_study("1.2.3", "pv")
        box = BoxRecord("3d", (0.0, 0.0, 0.0), (10.0, 12.0, 6.0), (3, 4, 5), (17, 21, 8))
        (p,) = proj.add_proposals(sid, [ProposalRecord(box, 0.9, "det", "hcc", key_slice=6)])
        pid = p.id
        with pytest.raises(InvalidRecordError):
            proj.accept_as_lesion(pid, " ", "hcc")
        with pytest.raises(InvalidRecordError):
            proj.accept_as_lesion(pid, "harvest", "not-a-class")

        def stopped(*args, **kwargs):  # as a kill would, after the lesion's row is written
            raise KeyboardInterrupt

        real = proj._insert_decision
        proj._insert_decision = stopped
        with pytest.raises(KeyboardInterrupt):
            proj.accept_as_lesion(pid, "harvest", "hcc")
        proj._insert_decision = real
        assert proj.list_lesions(sid) == [] and proj.decisions(pid) == []  # no lesion without its decision
        lesion, decision = proj.accept_as_lesion(pid, "harvest", "hcc", notes="n", model="lpc")
        assert proj.get_proposal(pid).lesion_id == lesion.id and decision.decision == "accepted"
        assert proj.undo() is not None  # one undo step takes back both
        assert proj.list_lesions(sid) == [] and proj.decisions(pid) == [] and proj.get_proposal(pid).status == "pending"
