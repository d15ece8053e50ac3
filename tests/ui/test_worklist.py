"""The worklist in the real window: a project of three scanned phantom studies lists three rows with their
counts, sorts and filters; a study opened from its files is the scanned row; reviewing past the last proposal
of study 1 opens study 2, read beforehand on a worker thread; the decisions are in the project file after
reopening it."""

import os
import shutil
import threading
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from liverview.core.study import PhaseKind
from liverview.detection.proposals import Proposal3D, ProposalSet
from liverview.review.proposal_import import records_from_set
from liverview.scan.archive import find_studies
from liverview.scan.study_identity import identify
from liverview.store import Project
from liverview.store.scan_methods import ScannedPhase
from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study
from liverview.ui.app import load_for_window
from liverview.ui.main_window import MainWindow
from liverview.ui.worklist.worklist_dock import COLUMNS, TO_REVIEW

pytestmark = pytest.mark.gui

SHAPE, SPACING = (12, 96, 96), (1.6, 1.6, 4.0)
PROPOSALS = {"p1": 3, "p2": 2, "p3": 2}  # phantom folder -> proposals stored by the scan
SWITCH_BOUND_S = 3.0  # loose sanity bound on a busy 2-core machine (the aim is < 1 s), not a benchmark


def boxes(ref, n: int) -> ProposalSet:
    """n boxes inside the volume, scores falling, as a detector hands them over."""
    nz, ny, nx = ref.array.shape
    found = [Proposal3D((20 + 12 * k, 30, 30 + 12 * k, 40), (2, 5), 0.9 - 0.1 * k, 3, {"hcc": 0.8})
             for k in range(n)]
    return ProposalSet.for_volume(found, ref, model="test-boxes")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("worklist-archive")
    for n, name in enumerate(PROPOSALS):
        write_phantom_study(generate_ct_study(20 + n, n_lesions=1, shape=SHAPE, spacing_mm=SPACING), root / name)
    return root


@pytest.fixture
def project_path(tmp_path, archive) -> Path:
    """The project as `liverview scan` leaves it: each study under its identity with its phases and proposals;
    study p3 was already reviewed (one accepted, one rejected)."""
    from liverview.io.volumes import read_volume

    path = tmp_path / "archive.lvproj"
    with Project.create(path, "scanner") as project:
        for source in sorted(find_studies(archive).studies, key=lambda s: s.location.name):
            name = source.location.name
            identity = identify(source)
            ref = read_volume(source.location / "non-contrast.nii.gz")
            phases = [ScannedPhase(PhaseKind(k), str(source.location / f"{k.replace(' ', '-')}.nii.gz"),
                                   reference=(k == "non-contrast"))
                      for k in ("non-contrast", "arterial", "portal venous", "delayed")]
            records = records_from_set(boxes(ref, PROPOSALS[name]), ref).records
            sid = project.record_scanned_study(identity.key, str(source.location), phases, records, "test-boxes",
                                               description=f"phantom {name}", patient_id=f"PAT-{name[-1]}",
                                               signature=identity.signature)
            if name == "p3":
                first, second = project.list_proposals(sid)
                project.decide(first.id, "accepted", "earlier-reader")
                project.decide(second.id, "rejected", "earlier-reader")
    return path


@pytest.fixture
def loads():
    """Which thread read each study (the switch must find it read off the UI thread)."""
    return []


@pytest.fixture
def window(qtbot, loads):
    def loader(paths):
        loads.append((tuple(paths), threading.current_thread() is threading.main_thread()))
        return load_for_window(paths)

    w = MainWindow(study_loader=loader, register_mode=None, user="dr-worklist")
    qtbot.addWidget(w)
    w.resize(1600, 950)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def table_texts(panel) -> list[list[str]]:
    model = panel.table.model()
    return [[str(model.index(r, c).data()) for c in range(len(COLUMNS))] for r in range(model.rowCount())]


def by_patient(window) -> dict[str, int]:
    return {r.patient_id: r.study_id for r in window.worklist.rows}


def test_the_worklist_lists_sorts_and_filters_the_studies(window, qtbot, project_path):
    assert window.worklist.open_project(project_path)
    panel = window.worklist.panel
    assert window.worklist.dock.isVisible()
    rows = table_texts(panel)
    DAY = window.worklist.rows[0].added  # phantoms carry no study date: the day the scan added them
    assert [tuple(r[:6]) for r in rows] == [
        ("PAT-1", DAY, "NC ART PV DEL", "3", "0", "0"),
        ("PAT-2", DAY, "NC ART PV DEL", "2", "0", "0"),
        ("PAT-3", DAY, "NC ART PV DEL", "0", "1", "1")]
    assert [r[6] for r in rows] == ["0", "0", "0"]  # flagged
    assert [r[7] for r in rows] == ["phantom p1", "phantom p2", "phantom p3"]
    assert panel.count_label.text() == "3 studies; 5 proposals to review in 2 studies"
    # every count column fits the dock as it opens (short headers, their words in tooltips)
    header = panel.table.horizontalHeader()
    flagged = COLUMNS.index("Flagged")
    assert header.sectionViewportPosition(flagged) + header.sectionSize(flagged) <= panel.table.viewport().width()
    assert panel.table.model().headerData(flagged, QtCore.Qt.Orientation.Horizontal) == "Flag."
    assert "second look" in panel.table.model().headerData(flagged, QtCore.Qt.Orientation.Horizontal,
                                                           QtCore.Qt.ItemDataRole.ToolTipRole)

    # a click on the "To review" header sorts by it (numbers as numbers), a second click reverses
    header = panel.table.horizontalHeader()
    click_at = QtCore.QPoint(header.sectionViewportPosition(TO_REVIEW) + 5, header.height() // 2)
    qtbot.mouseClick(header.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=click_at)
    first = [r.patient_id for r in panel.ordered_rows()]
    qtbot.mouseClick(header.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=click_at)
    second = [r.patient_id for r in panel.ordered_rows()]
    assert {tuple(first), tuple(second)} == {("PAT-3", "PAT-2", "PAT-1"), ("PAT-1", "PAT-2", "PAT-3")}
    assert [r[0] for r in table_texts(panel)] == second  # the view shows the order it reports

    # text filter (any column, any case) and "to review only"
    qtbot.keyClicks(panel.filter_edit, "pat-2")
    assert [r[0] for r in table_texts(panel)] == ["PAT-2"]
    assert panel.count_label.text().startswith("1 of 3 studies shown")
    panel.filter_edit.clear()
    panel.to_review_box.setChecked(True)
    assert sorted(r[0] for r in table_texts(panel)) == ["PAT-1", "PAT-2"]
    panel.to_review_box.setChecked(False)
    assert len(table_texts(panel)) == 3


def test_a_study_opened_from_its_files_is_the_scanned_row(window, project_path, archive):
    assert window.worklist.open_project(project_path)
    assert window.open_paths([str(archive / "p2")])
    assert window.session.study_id == by_patient(window)["PAT-2"]
    assert window.worklist.current_id == window.session.study_id
    assert len(window.session.project.list_studies()) == 3  # no second row for the same study


def test_review_past_the_last_proposal_opens_the_next_study_loaded_ahead(window, qtbot, project_path, loads):
    assert window.worklist.open_project(project_path)
    ids = by_patient(window)
    worklist, panel = window.worklist, window.worklist.panel
    qtbot.waitUntil(lambda: worklist.preloader.is_ready(ids["PAT-1"]), timeout=30000)  # the first to review

    # double-click study 1 in the table: it opens from memory
    row_rect = panel.table.visualRect(panel.table.model().index(0, 0))
    # a press first: the view emits doubleClicked only for the index a press landed on (as with a real mouse)
    qtbot.mouseClick(panel.table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=row_rect.center())
    qtbot.mouseDClick(panel.table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=row_rect.center())
    assert window.session.study_id == ids["PAT-1"]
    assert worklist.next_row.study_id == ids["PAT-2"]
    assert any("Next in the worklist: PAT-2" in m for m in window.messages)
    qtbot.waitUntil(lambda: worklist.preloader.is_ready(ids["PAT-2"]), timeout=30000)
    assert panel.next_label.text().endswith("- ready")

    review = window.review
    review.dock.show()
    assert len(review.queue.items) == 3
    pane = window.grid.panes[0].view
    pane.setFocus()
    for key in (QtCore.Qt.Key.Key_A, QtCore.Qt.Key.Key_R):
        qtbot.keyClick(pane, key)
        QtWidgets.QApplication.processEvents()
    assert window.session.study_id == ids["PAT-1"]  # one proposal left: still study 1
    qtbot.keyClick(window.grid.panes[0].view, QtCore.Qt.Key.Key_A)  # the last one: past it, study 2
    assert window.session.study_id == ids["PAT-2"]
    assert worklist.current_id == ids["PAT-2"]
    assert 0 < worklist.last_switch_s < SWITCH_BOUND_S
    assert [p.status for p in review.queue.items] == ["pending", "pending"]  # study 2's queue, at its start
    current = review.queue.current
    assert current.id == review.queue.items[0].id
    assert window.grid.panes[0].pane_view.focus[2] == pytest.approx(
        window.study.reference.volume.index_to_world([[0, 0, current.key_slice]])[0][2])  # panes on it
    assert any("Opened the next study of the worklist: PAT-2" in m for m in window.messages)
    assert not any("problems" in m for m in window.messages)  # Qt's warnings meanwhile are not the study's
    # each change of the next study is said once (it was said by the refresh and again by the plan)
    assert sum(m.startswith("Next in the worklist: PAT-2") for m in window.messages) == 1
    assert sum(m == "Worklist: no other study has proposals to review" for m in window.messages) == 1
    p2_files = [paths for paths, on_ui_thread in loads if any("/p2/" in p for p in paths)]
    assert p2_files and not any(ui for paths, ui in loads if any("/p2/" in p for p in paths))  # read off the UI

    QtWidgets.QApplication.processEvents()  # the deferred refresh after the decisions
    counts = {r[0]: (r[3], r[4], r[5]) for r in table_texts(panel)}
    assert counts["PAT-1"] == ("0", "2", "1")
    assert panel.next_label.text() == "Next: no other study has proposals to review"  # p3 is done

    shot = Path(os.environ.get("LIVERVIEW_SHOT_DIR", project_path.parent)) / "worklist_review.png"
    window.resize(1600, 950)
    review.dock.raise_()  # a tab beside the lesion list
    QtWidgets.QApplication.processEvents()
    assert window.grab().save(str(shot)) and shot.stat().st_size > 20000

    # past the last proposal of the last study to review: it stays, and says so
    qtbot.keyClick(window.grid.panes[0].view, QtCore.Qt.Key.Key_N)
    qtbot.keyClick(window.grid.panes[0].view, QtCore.Qt.Key.Key_N)
    assert window.session.study_id == ids["PAT-2"]
    assert "End of the worklist" in window.messages[-1]

    window.close()
    with Project.open(project_path, "auditor", read_only=True) as project:
        p1 = project.list_proposals(ids["PAT-1"])
        assert sorted(p.status for p in p1) == ["accepted", "accepted", "rejected"]
        assert all(project.decisions(p.id)[-1].reviewer == "dr-worklist" for p in p1)
        assert [p.status for p in project.list_proposals(ids["PAT-2"])] == ["pending", "pending"]
        assert len(project.list_studies()) == 3


def test_a_study_whose_files_are_gone_is_said_and_the_open_study_stays(window, qtbot, project_path, archive,
                                                                        tmp_path):
    moved = tmp_path / "p1-moved"
    shutil.copytree(archive / "p1", moved)
    with Project.open(project_path, "scanner") as project:
        study_id = project.add_study(uid="gone", patient_id="PAT-9")
        project.add_phase(study_id, "portal venous", str(tmp_path / "nowhere" / "pv.nii.gz"))
    assert window.worklist.open_project(project_path)
    assert window.open_paths([str(moved)])  # the same study from a copy: still its row
    current = window.session.study_id
    assert current == by_patient(window)["PAT-1"]
    assert not window.worklist.open_study(study_id)
    assert "PAT-9" in window.messages[-1] and "no such file" in window.messages[-1]
    assert window.session.study_id == current


def test_flagged_proposals_have_their_own_column_so_the_counts_add_up(qtbot):
    from liverview.store.worklist import WorklistRow
    from liverview.ui.worklist.worklist_dock import WorklistPanel

    panel = WorklistPanel()
    qtbot.addWidget(panel)
    # 9 proposals: 6 to review, 1 accepted, 1 rejected, 1 flagged (the helper's case: the columns said 8)
    row = WorklistRow(1, "1.2.3", "PAT-9", "liver", "", "2026-12-02", ("PV",), 9, 6, 1, 1, 1)
    panel.show_rows([row], None)
    (texts,) = table_texts(panel)
    counts = dict(zip(COLUMNS, texts))
    assert (counts["To review"], counts["Accepted"], counts["Rejected"], counts["Flagged"]) == ("6", "1", "1", "1")
    assert sum(int(counts[c]) for c in ("To review", "Accepted", "Rejected", "Flagged")) == row.proposals
    assert counts["Study"] == "liver"
    assert "1 flagged for a second look" in panel.count_label.text()


def test_studies_whose_scan_failed_are_named_under_the_table(window, qtbot, project_path, tmp_path):
    panel = window.worklist.panel
    assert window.worklist.open_project(project_path)
    assert not panel.failed_label.isVisible()  # every study scanned: nothing to say
    with Project.open(project_path, "scanner") as project:
        project.record_scan_failure("1.2.3", "/archive/PAT-9/CT", "LoadError: slice 12 is truncated")
        project.record_scan_failure("sha256:ab", "/archive/PAT-10", "worker died (out of memory?)")
    assert window.worklist.open_project(project_path)
    assert panel.failed_label.isVisible() and len(window.worklist.rows) == 3  # they have no row to open
    assert panel.failed_label.text() == ("2 studies of the archive could not be scanned and are not listed: "
                                         "/archive/PAT-9/CT, /archive/PAT-10. `liverview scan` tries them again.")
    assert "/archive/PAT-9/CT: LoadError: slice 12 is truncated" in panel.failed_label.toolTip()
    assert any("2 could not be scanned (named in the worklist)" in m for m in window.messages)
    QtWidgets.QApplication.processEvents()
    assert panel.failed_label.height() >= panel.failed_label.heightForWidth(panel.failed_label.width())  # not clipped
    table = panel.table  # every column, the study's name included, within the dock: no sideways scrolling
    assert table.horizontalScrollBar().maximum() == 0
    assert table.horizontalHeader().sectionViewportPosition(COLUMNS.index("Study")) < table.viewport().width()
    window.worklist.dock.grab().save(str(tmp_path / "worklist_failed.png"))
    if os.environ.get("LIVERVIEW_SHOTS"):
        shutil.copy(tmp_path / "worklist_failed.png", os.environ["LIVERVIEW_SHOTS"])
