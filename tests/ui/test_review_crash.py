"""Review ten proposals with the keyboard in a real app process, SIGKILL it, reopen: the queue resumes
at the eleventh proposal and all ten decisions are there, with reviewer and time."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from liverview.store.project import Project
from liverview.ui.main_window import MainWindow
from liverview.ui.review.thumbnails import proposal_centre
from tests.ui.review_child import review_study

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]
N_PROPOSALS = 14


def test_kill_and_reopen_resumes_at_the_eleventh(qtbot, tmp_path):
    project_path = tmp_path / "review.lvproj"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen([sys.executable, str(REPO / "tests/ui/review_child.py"), str(project_path),
                              str(tmp_path / "proposals.json"), str(N_PROPOSALS)],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    decided: dict[int, str] = {}
    try:
        for line in child.stdout:
            words = line.split()
            if words[0] == "DECIDED":
                decided[int(words[1])] = words[2]
            elif words[0] == "UNDONE":
                decided.pop(int(words[1]), None)
            elif words[0] == "DONE":
                break
        else:
            pytest.fail(f"the app stopped by itself: {child.stderr.read()[-3000:]}")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert len(decided) == 10

    with Project.open(project_path, "dr-check", read_only=True) as project:
        for proposal_id, status in decided.items():
            assert project.get_proposal(proposal_id).status == status
            decisions = project.decisions(proposal_id)
            assert [d.decision for d in decisions] == [status], "the undone decision is gone, the new one kept"
            assert decisions[0].reviewer == "dr-kill" and decisions[0].model == "test-boxes"
            assert decisions[0].decided_at is not None
        assert project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    window = MainWindow(register_mode=None, project_path=project_path, user="dr-kill")
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    # The review keys are window shortcuts: they reach the active window, which need not be this one while an
    # earlier test's window or message box is still being torn down.
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=2000)
    window.set_study(review_study())
    QtWidgets.QApplication.processEvents()
    review = window.review
    review.dock.show()
    review._show_current()
    queue = review.queue
    assert len(queue.items) == N_PROPOSALS, "nothing imported twice, nothing lost"
    assert queue.index == 10, "resumes at the eleventh proposal"
    assert {p.id for p in queue.items[:10]} == set(decided)
    assert queue.current.status == "pending"
    assert review.panel.progress_label.text().startswith(f"10 / {N_PROPOSALS} reviewed")
    centre = proposal_centre(queue.current, window.study.reference.volume)
    assert all(np.allclose(p.pane_view.focus, centre) for p in window.grid.panes)
    # and the keyboard goes on from there
    window.grid.panes[0].view.setFocus()
    eleventh = queue.current.id
    qtbot.keyClick(window.grid.panes[0].view, QtCore.Qt.Key.Key_A)
    assert window.session.project.get_proposal(eleventh).status == "accepted"
    assert queue.index == 11
    window.close()
