"""An edit the user has seen survives the app being killed: a child process edits a project in a loop
and is killed with SIGKILL mid-stream; the reopened project holds every edit it had printed."""

from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from liverview.store import Project
from tests.store.edit_session_child import apply, planned_edit

CHILD = Path(__file__).with_name("edit_session_child.py")
REPO = Path(__file__).resolve().parents[2]
SEEN_BEFORE_KILL = 200

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def run_and_kill(path: Path) -> tuple[list[dict[str, Any]], int, int]:
    """Start the session, read edits until SEEN_BEFORE_KILL were shown, SIGKILL it, then collect the
    lines it had already written (those were shown too). Returns (edits, pid, return code)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    lines: list[str] = []
    with subprocess.Popen([sys.executable, str(CHILD), str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            while len(lines) < SEEN_BEFORE_KILL:
                line = proc.stdout.readline()
                if not line:
                    pytest.fail(f"the edit session ended early: {proc.stderr.read()}")
                lines.append(line)
            os.kill(proc.pid, signal.SIGKILL)
            lines.extend(proc.stdout.read().splitlines(keepends=True))
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    complete = [json.loads(ln) for ln in lines if ln.endswith("\n")]  # a torn last line was not shown
    return complete, proc.pid, proc.returncode


def state_of(project: Project) -> dict[int, dict[str, Any]]:
    state = {}
    for lesion in project.list_lesions(include_deleted=True):
        r = lesion.recist
        recist = None if r is None else (
            r.phase, r.key_slice, [list(p) for p in r.long_axis],
            None if r.short_axis is None else [list(p) for p in r.short_axis])
        state[lesion.id] = {"class": lesion.lesion_class, "notes": lesion.notes, "recist": recist}
    return state


def test_every_edit_shown_before_a_sigkill_is_in_the_reopened_project(tmp_path: Path):
    path = tmp_path / "session.lvproj"
    shown, pid, returncode = run_and_kill(path)
    assert returncode == -signal.SIGKILL  # killed mid-session, not finished
    assert [e["n"] for e in shown] == list(range(len(shown))) and len(shown) >= SEEN_BEFORE_KILL
    assert {e["op"] for e in shown} == {"add", "recist", "class"}

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()

    # What the user saw, and the same plus the one edit that may have committed before its line was printed.
    seen: dict[int, dict[str, Any]] = {}
    edits_seen = sum(apply(seen, edit) for edit in shown)
    ids = [e["lesion"] for e in shown if e["op"] == "add"]
    seen_plus_one = copy.deepcopy(seen)
    in_flight = apply(seen_plus_one, planned_edit(len(shown), ids), new_id=max(ids) + 1)

    with Project.open(path, "after-crash") as project:
        assert project.took_over_lock_from is not None and project.took_over_lock_from.pid == pid
        state = state_of(project)
        if state != seen_plus_one:
            for lesion_id, expected in seen.items():
                assert state.get(lesion_id) == expected, f"lesion {lesion_id} lost an edit that had been shown"
            assert state == seen
        logged = [e for e in project.audit_log() if e.action in ("add_lesion", "set_recist", "update_lesion")]
        assert len(logged) == edits_seen + (in_flight if state == seen_plus_one and state != seen else 0)
        assert project.undo() is not None and project.redo() is not None
