"""The worklist's rows (one query): per CT study its patient, date, phases in acquisition order and proposal
counts by status; and which study the review goes to after the open one, in the order the table shows."""

from pathlib import Path

import pytest

from liverview.core.indexed_series import IndexedSeries
from liverview.store import BoxRecord, Project, ProposalRecord
from liverview.store.scan_methods import ScannedPhase
from liverview.store.worklist import WorklistRow, next_to_review


def _proposal(score: float) -> ProposalRecord:
    box = BoxRecord("3d", (0.0, 0.0, 0.0), (10.0, 10.0, 5.0), (0, 0, 0), (3, 3, 2))
    return ProposalRecord(box=box, score=score, source_model="det/1", lesion_class="hcc", key_slice=1)


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "w.lvproj", "reader") as p:
        yield p


def test_rows_count_each_status_and_list_phases_in_acquisition_order(project: Project):
    phases = [ScannedPhase("delayed", "/a/del.nii.gz"), ScannedPhase("non-contrast", "/a/nc.nii.gz", reference=True),
              ScannedPhase("arterial", "/a/art.nii.gz")]
    a = project.record_scanned_study("sha256:a", "/a", phases, [_proposal(s) for s in (0.9, 0.8, 0.7, 0.6, 0.5)],
                                     "det/1", description="liver A", patient_id="P1")
    b = project.record_scanned_study("1.2.3", "/b", [ScannedPhase("portal venous", "/b", "9.1", True)], [], "det/1",
                                     patient_id="P2")
    project.add_study(uid="us-file:x", modality="US")  # ultrasound studies are not on the CT worklist
    pa = project.list_proposals(a)
    project.decide(pa[0].id, "accepted", "reader")
    project.decide(pa[1].id, "edited", "reader")
    project.decide(pa[2].id, "rejected", "reader")
    project.decide(pa[3].id, "flagged", "reader")
    project.index_series([IndexedSeries("9.1", "CT", "dicom", (Path("/b/1.dcm"),), patient_id="P2",
                                        study_uid="1.2.3", study_date="20240131")])
    rows = project.worklist()
    assert [r.study_id for r in rows] == [a, b]
    ra, rb = rows
    assert (ra.patient_id, ra.description, ra.phases) == ("P1", "liver A", ("NC", "ART", "DEL"))
    assert (ra.proposals, ra.to_review, ra.accepted, ra.rejected, ra.flagged) == (5, 1, 2, 1, 1)
    assert ra.study_date == "" and ra.date == ra.added and len(ra.added) == 10  # no DICOM date: the day added
    assert (rb.phases, rb.proposals, rb.to_review, rb.date) == (("PV",), 0, 0, "2024-01-31")


def _row(study_id: int, to_review: int) -> WorklistRow:
    return WorklistRow(study_id, f"u{study_id}", "", "", "", "2024-01-01", ("PV",), to_review, to_review, 0, 0, 0)


def test_the_next_study_is_the_next_with_proposals_to_review_in_the_shown_order():
    rows = [_row(1, 3), _row(2, 0), _row(3, 2), _row(4, 1)]
    assert next_to_review(rows, 1).study_id == 3  # 2 has nothing to review
    assert next_to_review(rows, 3).study_id == 4
    assert next_to_review(rows, 4).study_id == 1  # wraps to those above
    assert next_to_review(rows, None).study_id == 1  # nothing open: the first to review
    assert next_to_review(list(reversed(rows)), 3).study_id == 1  # the table's order, as sorted
    assert next_to_review([_row(1, 3), _row(2, 0)], 1) is None  # never the open study itself
