"""Kill the app (SIGKILL) in the middle of a session of edits: every edit the user saw survives."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from liverview.store.project import Project

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def test_sigkill_mid_session_loses_no_edit_that_was_shown(tmp_path):
    project_path = tmp_path / "session.lvproj"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen([sys.executable, str(REPO / "tests/ui/app_edit_child.py"), str(project_path)],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    edits: dict[int, float] = {}
    classes: dict[int, str] = {}
    try:
        for line in child.stdout:
            kind, lesion_id, value = line.split()
            if kind == "EDIT":
                edits[int(lesion_id)] = float(value)
            else:
                classes[int(lesion_id)] = value
            if len(edits) >= 40:
                break
        else:
            pytest.fail(f"the app stopped by itself: {child.stderr.read()[-2000:]}")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with Project.open(project_path, "dr-check", read_only=True) as project:
        saved = {lesion.id: lesion for lesion in project.list_lesions()}
        for lesion_id, long_mm in edits.items():
            assert lesion_id in saved, f"lesion {lesion_id} was shown but is lost"
            assert saved[lesion_id].recist.long_mm == pytest.approx(long_mm, abs=1e-5)
            assert saved[lesion_id].created_by == "dr-crash"
        for lesion_id, cls in classes.items():
            assert saved[lesion_id].lesion_class == cls
        integrity = project._conn.execute("PRAGMA integrity_check").fetchone()[0]
        assert integrity == "ok"
