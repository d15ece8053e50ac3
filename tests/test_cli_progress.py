"""Long commands show a progress line on a terminal and nothing of it in a pipe: `liverview detect` with the
third-party blob detector (and the bundled liver mask) run as a user runs it, in a subprocess, with stderr
a pipe, a pseudo-terminal, or a pipe with LIVERVIEW_PROGRESS=always."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.io.volumes import write_volume
from tests.plugin_seam.third_party import CONTRIBUTION, write_distribution

ROOT = Path(__file__).resolve().parents[1]
BAR = re.compile(r"\[[#-]+\]\s+(\d+) %")


@pytest.fixture
def detect_command(tmp_path) -> tuple[list[str], dict[str, str]]:
    site = write_distribution(tmp_path / "site")
    array = np.full((12, 40, 40), 20.0, np.float32)
    array[3:7, 10:18, 22:30] = 300.0
    study = tmp_path / "pv.nii.gz"
    write_volume(Volume(array, (0.8, 0.8, 2.5), (10.0, -5.0, 100.0), name="pv"), study)
    env = {k: v for k, v in os.environ.items() if k != "LIVERVIEW_PROGRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "liverview.cli", "detect", str(study), "--model", CONTRIBUTION,
            "--out", str(tmp_path / "proposals.json"), "--device", "cpu"]
    return argv, env


def _run_in_pty(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal (stdout a pipe); what the terminal showed."""
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode(errors="replace")


def _last_percent(text: str) -> int:
    found = BAR.findall(text)
    assert found, f"no progress line in {text!r}"
    return int(found[-1])


def test_in_a_pipe_detect_prints_no_progress_line(detect_command):
    argv, env = detect_command
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert b"\r" not in done.stderr and not BAR.search(done.stderr.decode())
    assert "1 proposals on 12 slices" in done.stdout.decode()  # the summary is still there


def test_on_a_terminal_detect_draws_a_line_that_ends_at_100_percent(detect_command):
    argv, env = detect_command
    code, shown = _run_in_pty(argv, env)
    assert code == 0, shown
    assert "\rdetect: [" in shown
    assert _last_percent(shown) == 100
    assert "liver mask" in shown  # the second model's part of the line
    # the terminal shows each '\n' as '\r\n'; the last drawing is the finished line, then a new line
    assert re.findall(r"100 %[^\r\n]*", shown)[-1].rstrip().endswith("done")
    assert re.search(r"100 %[^\r\n]*done *\r?\n", shown)


def test_liverview_progress_always_draws_it_into_a_pipe_too(detect_command):
    argv, env = detect_command
    done = subprocess.run(argv, env={**env, "LIVERVIEW_PROGRESS": "always"}, cwd=ROOT, capture_output=True,
                          timeout=120)
    stderr = done.stderr.decode()  # bytes: text mode would turn each '\r' into a newline
    assert done.returncode == 0, stderr
    assert _last_percent(stderr) == 100 and stderr.count("\rdetect: [") >= 1
    last = stderr[stderr.rindex("\rdetect: ["):]
    assert "\n" in last  # the progress line is ended: later output starts on its own line


def test_quiet_silences_it_even_when_asked_for(detect_command):
    argv, env = detect_command
    done = subprocess.run([*argv, "--quiet"], env={**env, "LIVERVIEW_PROGRESS": "always"}, cwd=ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert b"\r" not in done.stderr


def test_eval_keyslices_counts_images_to_100_percent_when_drawn_and_nothing_in_a_pipe(tmp_path, monkeypatch,
                                                                                       capsys):
    from liverview.cli import main
    from tests.metrics.test_eval_keyslices import _image_with_block, _manifest
    from tests.plugin_seam.third_party import PACKAGE

    monkeypatch.syspath_prepend(str(write_distribution(tmp_path / "site")))
    monkeypatch.delitem(sys.modules, PACKAGE, raising=False)
    path = _manifest(tmp_path, [(name, _image_with_block(5, 5), (5, 5, 17, 17), "0.7, 0.7, 5") for name in "abc"])
    monkeypatch.setenv("LIVERVIEW_PROGRESS", "always")
    assert main(["eval-keyslices", str(path), "--model", CONTRIBUTION]) == 0
    err = capsys.readouterr().err
    assert _last_percent(err) == 100 and "3/3 images" in err and err.endswith("\n")
    monkeypatch.delenv("LIVERVIEW_PROGRESS")
    assert main(["eval-keyslices", str(path), "--model", CONTRIBUTION]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "3 key slices" in captured.out
    sys.modules.pop(PACKAGE, None)
