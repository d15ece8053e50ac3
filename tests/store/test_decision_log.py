"""`liverview decisions`: every review decision of a project with its proposal and study, oldest first, as
CSV or JSON; undone decisions are gone; the project is read without taking it for editing."""

import csv
import json
from pathlib import Path

import pytest

from liverview.cli import EXIT_USAGE, main
from liverview.store import BoxRecord, Project, ProposalRecord
from liverview.store.scan_methods import ScannedPhase


def _proposal(score: float, x0: float) -> ProposalRecord:
    box = BoxRecord("3d", (x0, 0.0, -5.0), (x0 + 10.0, 12.0, 5.0), (0, 0, 0), (3, 3, 2))
    return ProposalRecord(box=box, score=score, source_model="det/1+abcd1234", lesion_class="hcc", key_slice=1)


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    """Two scanned studies; dr-a accepts and rejects in study A, dr-b flags in B, then rejects one more and
    takes that back with undo."""
    path = tmp_path / "h.lvproj"
    with Project.create(path, "scanner") as p:
        a = p.record_scanned_study("1.2.3", "/a", [ScannedPhase("portal venous", "/a", reference=True)],
                                   [_proposal(0.9, 0.0), _proposal(0.6, 40.0)], "det/1+abcd1234",
                                   description="liver A", patient_id="P1")
        b = p.record_scanned_study("4.5.6", "/b", [ScannedPhase("portal venous", "/b", reference=True)],
                                   [_proposal(0.8, 20.0), _proposal(0.3, 60.0)], "det/1+abcd1234", patient_id="P2")
        pa, pb = p.list_proposals(a), p.list_proposals(b)
        p.decide(pa[0].id, "accepted", "dr-a")
        p.decide(pa[1].id, "rejected", "dr-a", note="bowel")
        p.decide(pb[0].id, "flagged", "dr-b")
        p.decide(pb[1].id, "rejected", "dr-b")
        p.undo()  # taken back: not a decision any more
    return path


def test_the_log_lists_each_decision_with_its_proposal_and_study_oldest_first(project_path):
    with Project.open(project_path, "auditor", read_only=True) as p:
        log = p.decision_log()
    assert [(r.reviewer, r.decision, r.patient_id, r.score) for r in log] == [
        ("dr-a", "accepted", "P1", 0.9), ("dr-a", "rejected", "P1", 0.6), ("dr-b", "flagged", "P2", 0.8)]
    first = log[0]
    assert first.box_mm == (0.0, 0.0, -5.0, 10.0, 12.0, 5.0) and first.study_uid == "1.2.3"
    assert first.model == "det/1+abcd1234" and first.status == "accepted" and first.decided_at.endswith("+00:00")
    assert log[1].note == "bowel"


def test_the_command_writes_csv_or_json_and_filters_by_reviewer(project_path, tmp_path, capsys):
    with Project.open(project_path, "dr-c"):  # a reader has the project open for editing meanwhile
        assert main(["decisions", str(project_path), "--out", str(tmp_path / "d.csv")]) == 0
    assert "wrote 3 decision(s) on proposals of 2 studies" in capsys.readouterr().out
    with open(tmp_path / "d.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["reviewer"], r["decision"], r["study_uid"], r["min_x_mm"], r["max_x_mm"]) for r in rows] == [
        ("dr-a", "accepted", "1.2.3", "0.00", "10.00"), ("dr-a", "rejected", "1.2.3", "40.00", "50.00"),
        ("dr-b", "flagged", "4.5.6", "20.00", "30.00")]
    assert main(["decisions", str(project_path), "--out", str(tmp_path / "d.json"), "--reviewer", "dr-b"]) == 0
    objects = json.loads((tmp_path / "d.json").read_text())
    assert [(o["reviewer"], o["decision"], o["box_mm"]) for o in objects] == [("dr-b", "flagged",
                                                                               [20.0, 0.0, -5.0, 30.0, 12.0, 5.0])]
    assert not list(tmp_path.glob("*.partial"))


def test_a_missing_project_or_a_wrong_output_is_a_usage_error_and_writes_nothing(tmp_path, project_path, capsys):
    out = tmp_path / "d.csv"
    assert main(["decisions", str(tmp_path / "none.lvproj"), "--out", str(out)]) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    assert main(["decisions", str(tmp_path), "--out", str(out)]) == EXIT_USAGE
    assert "is a folder, not a project file" in capsys.readouterr().err
    assert main(["decisions", str(project_path), "--out", str(tmp_path)]) == EXIT_USAGE
    assert "is a folder: give the file to write" in capsys.readouterr().err
    assert main(["decisions", str(project_path), "--out", str(tmp_path / "no" / "d.csv")]) == EXIT_USAGE
    assert f"folder {tmp_path / 'no'} does not exist" in capsys.readouterr().err
    assert not list(tmp_path.glob("**/*.csv*")) and not tmp_path.with_name(tmp_path.name + ".partial").exists()


def test_a_failed_write_leaves_no_partial_file(tmp_path, project_path, monkeypatch):
    from liverview.io.export import decisions_export

    with Project.open(project_path, "auditor", read_only=True) as p:
        rows = p.decision_log()
    monkeypatch.setattr(decisions_export, "_csv_row", lambda r: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        decisions_export.write_decisions(rows, tmp_path / "d.csv", "csv")
    assert not list(tmp_path.glob("d.csv*"))
