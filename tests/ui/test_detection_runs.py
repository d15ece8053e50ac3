"""Detection runs are versioned in the review queue: a second run replaces the first run's pending proposals,
keeps the decided ones (and does not bring their lesions back as new proposals), and says so."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6 import QtWidgets

from liverview.detection.proposals import write_proposals
from liverview.ui.main_window import MainWindow
from tests.ui.review_fixtures import phantom, phantom_proposals

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(register_mode=None, project_path=tmp_path / "runs.lvproj", user="dr-runs")
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.set_study(phantom().to_study())
    QtWidgets.QApplication.processEvents()
    yield w
    w.close()


def second_run(n: int):
    """The same study detected again (another phase setting): other scores, another model tag."""
    first = phantom_proposals(n)
    moved = [dataclasses.replace(p, score=p.score * 0.9) for p in first.proposals]
    return dataclasses.replace(first, proposals=tuple(moved), model="test-boxes-run2")


def test_a_second_run_replaces_the_pending_proposals_of_the_first(window, tmp_path):
    review = window.review
    assert review.import_file(write_proposals(tmp_path / "run1.json", phantom_proposals(12))) == 12
    first_two = [review.queue.current.id]
    review.act("accept")
    first_two.append(review.queue.current.id)
    review.act("reject")
    project, study_id = window.session.project, window.session.study_id

    added = review.import_file(write_proposals(tmp_path / "run2.json", second_run(12)))
    stored = project.list_proposals(study_id)
    assert len(stored) == 12  # 2 decided + 10 from the new run, not 2 + 10 + 12
    assert added == 10
    decided = [p for p in stored if p.status != "pending"]
    assert sorted(p.id for p in decided) == sorted(first_two)
    assert {p.source_model for p in stored if p.status == "pending"} == {"test-boxes-run2"}
    assert review.panel.table.rowCount() == 12
    said = window.messages[-1]
    assert "replaced the 10 pending proposals of the previous run" in said and "kept the 2 decided" in said
    assert "2 on a lesion already decided" in said
