"""The review queue without Qt: order, filters, decisions stored at once, resume point, undo."""

import pytest

from liverview.review.review_queue import QueueFilter, ReviewQueue, box_volume_mm3
from liverview.store.project import Project
from tests.review.helpers import project_with_proposals


def test_order_decisions_and_resume(tmp_path):
    project, study_id, _ = project_with_proposals(tmp_path / "p.lvproj", n=12)
    queue = ReviewQueue(project, study_id)
    scores = [p.score for p in queue.items]
    assert scores == sorted(scores, reverse=True) and len(scores) == 12
    assert queue.index == 0
    first = queue.current
    record = queue.accept()
    assert record.reviewer == "dr-review" and record.model == "mscn-test" and record.decision == "accepted"
    assert queue.index == 1
    queue.reject()
    queue.flag()
    assert [p.status for p in queue.items[:3]] == ["accepted", "rejected", "flagged"]
    assert str(queue.progress()) == "3 / 12 reviewed"
    queue.previous()
    assert queue.index == 2
    queue.go_to(7)
    queue.accept()  # out of order: resume still goes to the first pending one
    project.close()

    reopened = Project.open(tmp_path / "p.lvproj", "dr-review")
    again = ReviewQueue(reopened, study_id)
    assert again.index == 3, "resumes at the first pending proposal in queue order"
    assert again.items[0].id == first.id
    assert [d.decision for d in reopened.decisions(first.id)] == ["accepted"]
    assert again.progress().reviewed == 4
    reopened.close()


def test_undo_restores_the_proposal_and_goes_back_to_it(tmp_path):
    project, study_id, _ = project_with_proposals(tmp_path / "p.lvproj", n=5)
    queue = ReviewQueue(project, study_id)
    target = queue.current.id
    queue.reject()
    assert queue.index == 1
    queue.undo()
    assert queue.current.id == target
    assert queue.current.status == "pending"
    assert project.decisions(target) == []
    assert project.get_proposal(target).status == "pending"


def test_filters_by_status_score_and_volume(tmp_path):
    project, study_id, _ = project_with_proposals(tmp_path / "p.lvproj", n=12)
    queue = ReviewQueue(project, study_id, QueueFilter(statuses=frozenset({"pending"})))
    decided = queue.current.id
    following = queue.items[1].id
    queue.accept()
    assert decided not in [p.id for p in queue.items]  # decided ones leave a 'pending' filter
    assert queue.current.id == following
    everything = project.list_proposals(study_id)
    lo, hi = 0.3, 0.8
    queue.set_filter(QueueFilter(min_score=lo, max_score=hi))
    assert {p.id for p in queue.items} == {p.id for p in everything if lo <= p.score <= hi}
    volumes = sorted(box_volume_mm3(p) for p in everything)
    v_mid = volumes[len(volumes) // 2]
    queue.set_filter(QueueFilter(min_volume_mm3=v_mid))
    assert queue.items and all(box_volume_mm3(p) >= v_mid for p in queue.items)
    assert len(queue.items) == sum(v >= v_mid for v in volumes)
    with pytest.raises(ValueError, match="empty"):
        QueueFilter(min_score=0.9, max_score=0.1)
    with pytest.raises(ValueError, match="unknown status"):
        QueueFilter(statuses=frozenset({"maybe"}))


def test_box_volume_is_in_cubic_mm(tmp_path):
    project, study_id, volume = project_with_proposals(tmp_path / "p.lvproj", n=1)
    p = project.list_proposals(study_id)[0]
    (i0, j0, k0), (i1, j1, k1) = p.box.min_ijk, p.box.max_ijk
    # box_mm spans the continuous pixel box in x/y and whole slices z0..z1 in z
    assert box_volume_mm3(p) > 0
    assert box_volume_mm3(p) <= (i1 - i0 + 2) * 0.8 * (j1 - j0 + 2) * 0.8 * (k1 - k0 + 1) * 2.5 + 1e-6


def test_empty_queue_refuses_decisions(tmp_path):
    project = Project.create(tmp_path / "e.lvproj", "dr")
    study_id = project.add_study(uid="s")
    queue = ReviewQueue(project, study_id)
    assert queue.current is None and str(queue.progress()) == "0 / 0 reviewed"
    with pytest.raises(LookupError, match="empty"):
        queue.accept()
