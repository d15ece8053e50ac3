"""`liverview train-lpc` and `liverview harvest-round` on a project of two small phantom studies: one fully
annotated and reviewed, one with half of its lesions marked."""

import json

import pytest
import torch

from liverview.cli import main
from liverview.detection.proposals import Proposal3D
from liverview.metrics.ground_truth import read_phantom_ground_truth
from liverview.review.proposal_import import proposal_record
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.synth.ct_phantom import PHASE_FILES, PHASES, generate_ct_study, write_phantom_study

SMALL = dict(shape=(32, 128, 128), spacing_mm=(1.6, 1.6, 5.0))
LPC_FAST = ["--epochs", "2", "--crop-px", "16", "--pad-px", "8", "--device", "cpu"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads spin against each other on shared cores; restored below
    root = tmp_path_factory.mktemp("harvest")
    path = root / "p.lvproj"
    expected = {}
    with Project.create(path, "tester") as proj:
        for name, seed, reviewed in (("A", 31, True), ("B", 32, False)):
            study = generate_ct_study(seed, n_lesions=4, **SMALL)
            folder = write_phantom_study(study, root / name)
            sid = proj.add_study(uid=name)
            for kind in PHASES:
                proj.add_phase(sid, kind, folder / PHASE_FILES[kind])
            truth = read_phantom_ground_truth(folder)
            marked = study.lesions if reviewed else study.lesions[:2]
            for les in marked:
                proj.add_lesion(sid, les.lesion_class,
                                recist=RecistRecord(les.long_axis_mm, les.short_axis_mm, les.key_slice, "non-contrast"))
            # one proposal per true lesion (from its 3D box) and two far from every lesion
            props = [Proposal3D(g.box_3d[:4], g.box_3d[4:], 0.9 - 0.05 * n, g.key_slice, {g.lesion_class: 1.0})
                     for n, g in enumerate(truth)]
            props += [Proposal3D((2, 2, 12, 12), (1, 3), 0.7, 2, {"cyst": 1.0}),
                      Proposal3D((110, 2, 120, 12), (20, 22), 0.6, 21, {"hcc": 1.0})]
            ref = study.phases[PHASES[0]]
            saved = proj.add_proposals(sid, [proposal_record(p, ref, "test-detector") for p in props])
            if reviewed:
                for n, rec in enumerate(saved):
                    proj.decide(rec.id, "accepted" if n < len(truth) else "rejected", "reviewer")
            expected[name] = (len(truth), len(marked))
    yield path, expected
    torch.set_num_threads(threads)


def test_train_lpc_trains_on_accepted_rejected_and_mark_hits(project, tmp_path, capsys):
    path, (a, b) = project[0], project[1]
    assert main(["train-lpc", "--project", str(path), "--out", str(tmp_path / "lpc"), *LPC_FAST]) == 0
    out = capsys.readouterr().out
    # A: 4 accepted, 2 rejected; B: 2 of its 4 lesions are marked and hit by their proposals
    assert "4 accepted and 2 rejected" in out and "2 hitting RECIST marks" in out
    assert "trained on 6 lesion / 2 non-lesion" in out
    assert (tmp_path / "lpc" / "lpc.pt").is_file()


def test_harvest_round_writes_the_report(project, tmp_path, capsys):
    path = project[0]
    assert main(["train-lpc", "--project", str(path), "--out", str(tmp_path / "lpc"), *LPC_FAST]) == 0
    out = tmp_path / "round1"
    assert main(["harvest-round", "--project", str(path), "--fully-annotated", "A", "--out", str(out),
                 "--lpc", str(tmp_path / "lpc" / "lpc.pt"), "--device", "cpu", "--in-process"]) == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["sets"] == {"P_M_R": 4, "P_M_neg": 2, "P_H_R": 2, "mark_duplicates": 0, "candidates": 4}
    assert doc["fully_annotated"] == ["A"] and doc["model"] == "test-detector"
    harvest = json.loads((out / "harvest.json").read_text())
    assert len(harvest["B"]["harvested"]) == doc["harvested"] <= 4
    assert all(h["s"] == pytest.approx(h["s_g"] * h["s_c"]) for h in harvest["B"]["harvested"])
    if doc["threshold"]["value"] is not None:
        assert doc["threshold"]["precision_on_V_M"] >= 0.95
        assert all(h["s"] >= doc["threshold"]["value"] for h in harvest["B"]["harvested"])
    assert (out / "pr_curve.png").stat().st_size > 1000 and (out / "report.md").is_file()


def test_harvest_round_errors_are_clear(project, tmp_path, capsys):
    path = project[0]
    assert main(["harvest-round", "--project", str(path), "--fully-annotated", "Z", "--out", str(tmp_path)]) == 2
    assert "no study 'Z'" in capsys.readouterr().err
    assert main(["harvest-round", "--project", str(path), "--fully-annotated", "A", "--out", str(tmp_path),
                 "--finetune-steps", "5"]) == 2
    assert "--detector" in capsys.readouterr().err
    assert main(["train-lpc", "--project", str(tmp_path / "none.lvproj"), "--out", str(tmp_path)]) == 2
    # refused before anything is trained or written (a negative count failed only after the classifier trained)
    for option, value in (("--hard-per-volume", "-1"), ("--finetune-steps", "-3"), ("--lpc-folds", "0")):
        out = tmp_path / f"round{option}"
        args = ["harvest-round", "--project", str(path), "--fully-annotated", "A", "--out", str(out), option, value]
        if option == "--lpc-folds":
            assert main(args) == 2
        else:  # argparse's usage error
            with pytest.raises(SystemExit) as stop:
                main(args)
            assert stop.value.code == 2
        assert option in capsys.readouterr().err and not out.exists()


def test_train_lpc_and_harvest_round_show_progress_only_when_drawn(project, tmp_path, capsys, monkeypatch):
    """LIVERVIEW_PROGRESS=always stands in for a terminal: each long phase draws a line to 100 %; in a pipe
    (capsys' stderr) nothing of it, and stdout holds the same summary either way."""
    import re

    path = project[0]
    monkeypatch.setenv("LIVERVIEW_PROGRESS", "always")
    assert main(["train-lpc", "--project", str(path), "--out", str(tmp_path / "lpc"), *LPC_FAST]) == 0
    err = capsys.readouterr().err
    assert re.findall(r"\rtrain-lpc: \[[#-]+\]\s+(\d+) %", err)[-1] == "100"
    assert main(["harvest-round", "--project", str(path), "--fully-annotated", "A", "--out", str(tmp_path / "r"),
                 "--lpc", str(tmp_path / "lpc" / "lpc.pt"), "--device", "cpu", "--in-process"]) == 0
    err = capsys.readouterr().err
    assert re.findall(r"\rharvest-round: classifier: \[[#-]+\]\s+(\d+) %", err)[-1] == "100"
    monkeypatch.setenv("LIVERVIEW_PROGRESS", "auto")
    assert main(["harvest-round", "--project", str(path), "--fully-annotated", "A", "--out", str(tmp_path / "r2"),
                 "--lpc", str(tmp_path / "lpc" / "lpc.pt"), "--device", "cpu", "--in-process"]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "# Harvest round" in captured.out


def test_a_round_takes_the_named_studies_in_the_stores_order(project):
    # the classifier's material is concatenated study by study: naming B before A must give the same round
    # (before, --studies kept the order given, and a Ray round over a scanned project, in the store's order,
    # trained on another order than the same round run in-process with --studies: different weights)
    from liverview.harvest.project_data import read_project_round

    path, _ = project
    with Project.open(path, "checker", read_only=True) as proj:
        forward, _ = read_project_round(proj, ["A"], study_names=["A", "B"])
        backward, _ = read_project_round(proj, ["A"], study_names=["B", "A"])
        everything, _ = read_project_round(proj, ["A"])
    assert [p.volume for p in forward] == [p.volume for p in backward] == [p.volume for p in everything] == ["A", "B"]
