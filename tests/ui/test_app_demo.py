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


def test_a_demo_that_cannot_be_written_is_a_clear_error(tmp_path):
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("x")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LIVERVIEW_CACHE=str(not_a_folder))
    run = subprocess.run([sys.executable, "main.py", "--demo", "--screenshot", str(tmp_path / "x.png")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "main.py: error: cannot prepare the demo study" in run.stderr and "Traceback" not in run.stderr


def test_an_ultrasound_image_named_on_the_command_line_opens_in_the_ultrasound_tab(tmp_path):
    import cv2

    from liverview.synth.us_phantom import generate_us_phantom

    image = tmp_path / "liver.png"
    cv2.imwrite(str(image), generate_us_phantom(np.random.default_rng(3), "cyst", size=(300, 400)).image)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LIVERVIEW_CACHE=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "main.py", str(image), "--screenshot", str(tmp_path / "x.png")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr  # it said "no DICOM image series" before
    assert (tmp_path / "x.png").is_file()


def test_every_part_keeps_its_files_under_one_cache_folder(tmp_path, monkeypatch):
    from liverview.cache_root import default_cache_root
    from liverview.store.study_link import project_path_for_key
    from liverview.ui.browser.one_window import library_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for value, expected in (("", tmp_path / "home" / ".cache" / "liverview"), ("  ", tmp_path / "home" / ".cache"
                            / "liverview"), ("~/lv", tmp_path / "home" / "lv"), ("rel", tmp_path / "rel")):
        monkeypatch.setenv("LIVERVIEW_CACHE", value)
        assert default_cache_root() == expected, value  # never the current folder by accident, never a '~' folder
        assert library_path().parent == expected
        assert project_path_for_key("k").is_relative_to(expected)


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
