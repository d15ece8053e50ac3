"""The app as a user starts it: the demo study, background registration with progress and cancel."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtGui

from liverview.ui.main_window import MainWindow
from tests.ui.study_fixtures import multi_grid_study

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def test_main_demo_screenshot_shows_four_registered_phases(tmp_path):
    png = tmp_path / "demo.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LIVERVIEW_CACHE=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "main.py", "--demo", "--screenshot", str(png)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    image = QtGui.QImage(str(png)).convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    assert image.width() >= 800
    px = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    assert px.std() > 30
    # each quadrant of the pane area holds a CT slice, not a black pane
    h, w = px.shape[0] - 120, image.width()
    for r in (0, 1):
        for c in (0, 1):
            quad = px[80 + r * h // 2: 80 + (r + 1) * h // 2, c * w // 2:(c + 1) * w // 2]
            assert (quad > 60).mean() > 0.15


def test_main_reports_a_bad_path_clearly(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    empty = tmp_path / "empty"
    empty.mkdir()
    run = subprocess.run([sys.executable, "main.py", str(empty), "--screenshot", str(tmp_path / "x.png")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "error" in run.stderr and str(empty) in run.stderr


def test_registration_runs_in_the_background_and_panes_switch_to_the_registered_phase(qtbot, tmp_path):
    w = MainWindow(register_mode=None, cache_dir=tmp_path)
    qtbot.addWidget(w)
    w.show()
    study = multi_grid_study()
    w.set_study(study)
    progress = []
    job = w.start_registration("rigid")
    job.progress.connect(progress.append)
    qtbot.waitUntil(lambda: job.done, timeout=120_000)
    assert progress and max(progress) <= 1.0
    ref_geom = study.reference.volume
    for n, pane in enumerate(w.grid.panes):
        if n == study.reference_index:
            continue
        assert pane.status_text == "registered"
        assert pane.volume.array.shape == ref_geom.array.shape  # resampled onto the reference grid
        assert np.allclose(pane.volume.origin, ref_geom.origin)
    w.close()


def test_cancelled_registration_leaves_the_raw_phases_shown(qtbot, tmp_path):
    w = MainWindow(register_mode=None, cache_dir=tmp_path)
    qtbot.addWidget(w)
    w.show()
    study = multi_grid_study()
    w.set_study(study)
    raw = [p.volume for p in w.grid.panes]
    job = w.start_registration("bspline")
    job.cancel()
    qtbot.waitUntil(lambda: job.done, timeout=120_000)
    assert [p.volume for p in w.grid.panes] == raw
    assert any("cancelled" in m.lower() for m in w.messages)
    w.close()
