"""Review > Detect lesions with the real detector plugin (tiny weights trained a few steps here), found
through the plugin registry, run in the background: progress bar, cancel, proposals in the list and store."""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6 import QtCore, QtWidgets

from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study
from liverview.ui.main_window import MainWindow

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_phantom():
    return generate_ct_study(7, n_lesions=2, shape=(16, 64, 64), spacing_mm=(3.2, 3.2, 2.5))


@pytest.fixture(scope="module")
def tiny_detector_plugin(tiny_phantom, tmp_path_factory):
    """A plugin folder whose detector contribution is the real mscn_detector with weights trained 20 steps."""
    from liverview_plugins.mscn_detector.config import DetectorConfig
    from liverview_plugins.mscn_detector.training import load_cases_from_folder, train_detector

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("detector")
    write_phantom_study(tiny_phantom, root / "data" / "s7")
    cfg = DetectorConfig(n_slices=3, pixel_mm=6.4, stage_channels=(4, 8, 8, 8), pyramid_channels=8,
                         attention_channels=4, head_channels=8, crop_px=32, batch_size=2, epochs=1,
                         steps_per_epoch=20)
    plugin = root / "plugins" / "tiny_detector"
    weights = train_detector(load_cases_from_folder(root / "data"), cfg, plugin / "run", device="cpu")
    manifest = json.loads((REPO / "plugins" / "mscn_detector" / "plugin.json").read_text())
    manifest["name"] = "tiny_detector"
    manifest["contributes"][0]["weights"] = str(weights.relative_to(plugin))
    (plugin / "plugin.json").write_text(json.dumps(manifest))
    return root / "plugins"


@pytest.fixture
def window(qtbot, tmp_path, tiny_phantom, tiny_detector_plugin):
    w = MainWindow(register_mode=None, project_path=tmp_path / "detect.lvproj", user="dr-detect")
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.set_study(tiny_phantom.to_study())
    w.review.detection.plugin_dirs = [tiny_detector_plugin]
    QtWidgets.QApplication.processEvents()
    yield w
    w.close()


def test_detect_in_background_then_proposals_in_list_panes_and_store(window, qtbot):
    detection = window.review.detection
    seen: list[int] = []
    detection.bar.bar.valueChanged.connect(seen.append)
    job = detection.start()
    assert job is not None, window.messages
    assert detection.bar.isVisible()
    assert not window.review.detect_action.isEnabled()  # one detection at a time
    qtbot.waitUntil(lambda: job.done, timeout=60000)
    QtWidgets.QApplication.processEvents()
    assert len(seen) >= 3 and max(seen) == 1000, seen  # the bar moved up to 100 %
    assert not detection.bar.isVisible() and window.review.detect_action.isEnabled()
    result = detection.last_result
    assert result is not None and result.model.startswith("mscn_detector/")
    stored = window.session.project.list_proposals(window.session.study_id)
    assert len(stored) == len(result.proposals) > 0
    assert {p.source_model for p in stored} == {result.model}
    panel = window.review.panel
    assert panel.table.rowCount() == len(stored)
    scores = [float(panel.table.item(r, 1).text()) for r in range(panel.table.rowCount())]
    assert scores == sorted(scores, reverse=True)
    header = panel.table.horizontalHeaderItem(4)  # the box's volume, said to be the box's (not the lesion's)
    assert header.text() == "Box (mL)" and "not of the lesion" in header.toolTip()
    # clicking a row brings every pane to that proposal, its box drawn in each
    row = min(3, len(stored) - 1)
    panel.table.selectRow(row)
    QtWidgets.QApplication.processEvents()
    chosen = window.review.queue.current
    assert chosen.id == int(panel.table.item(row, 0).text())
    centre = window.study.reference.volume.index_to_world(
        ((chosen.box.min_ijk[0] + chosen.box.max_ijk[0]) / 2, (chosen.box.min_ijk[1] + chosen.box.max_ijk[1]) / 2,
         chosen.key_slice))
    for pane in window.grid.panes:
        assert np.allclose(pane.pane_view.focus, centre)
        x, _ = window.review.overlay._items[pane.pane_id].current.getData()
        assert np.isfinite(x).sum() == 5


def test_cancel_stops_the_detector_and_stores_nothing(window, qtbot):
    """The real detector, held after its first progress report until Cancel is clicked."""
    from liverview_plugins.mscn_detector.inference import load_detector

    detection = window.review.detection
    from liverview.ui.detection.detect_action import find_detector

    contribution_weights = find_detector(detection.plugin_dirs).weights
    gate = threading.Event()

    class Held:
        def __init__(self, inner):
            self.inner, self.name = inner, inner.name

        def detect(self, volumes, reference, progress=None, cancelled=None):
            def report(f):
                progress(f)
                if f >= 0.1:
                    gate.wait(20)
            return self.inner.detect(volumes, reference, progress=report, cancelled=cancelled)

    detection.factory_override = lambda device="auto": Held(load_detector(contribution_weights, device="cpu"))
    job = detection.start()
    qtbot.waitUntil(lambda: detection.bar.bar.value() >= 100, timeout=30000)  # progress bar moved
    # the UI thread is free while the detector works: navigation in the panes goes on
    pane = window.grid.panes[0]
    z = pane.pane_view.focus[2]
    t0 = time.perf_counter()
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_Up)
    assert pane.pane_view.focus[2] != z and time.perf_counter() - t0 < 1.0
    qtbot.mouseClick(detection.bar.cancel_button, QtCore.Qt.MouseButton.LeftButton)
    gate.set()
    qtbot.waitUntil(lambda: job.done, timeout=30000)
    QtWidgets.QApplication.processEvents()
    assert window.session.project.list_proposals(window.session.study_id) == []
    assert any("cancelled" in m for m in window.messages)
    assert not detection.bar.isVisible()


def test_missing_weights_is_a_clear_message(window, tmp_path):
    plugin = tmp_path / "plugins" / "no_weights"
    plugin.mkdir(parents=True)
    manifest = json.loads((REPO / "plugins" / "mscn_detector" / "plugin.json").read_text())
    manifest["name"] = "no_weights"
    manifest["contributes"][0]["weights"] = "missing.pt"
    (plugin / "plugin.json").write_text(json.dumps(manifest))
    window.review.detection.plugin_dirs = [tmp_path / "plugins"]
    assert window.review.detection.start() is None
    assert any("weights" in m and "missing.pt" in m for m in window.messages)
    assert window.review.detect_action.isEnabled()


def test_proposals_from_the_detect_command_import_into_the_open_study(window, tiny_detector_plugin, tmp_path):
    from liverview.cli import main as cli_main
    from liverview.detection.proposals import read_proposals
    from liverview.ui.detection.detect_action import find_detector

    weights = find_detector([tiny_detector_plugin]).weights
    study_dir = tiny_detector_plugin.parent / "data" / "s7"
    out = tmp_path / "proposals.json"
    code = cli_main(["detect", str(study_dir), "--out", str(out), "--weights", str(weights), "--device", "cpu",
                     "--no-liver-filter"])  # a 20-step detector on a 64-pixel phantom: its boxes are not the point
    assert code in (0, None)
    n = len(read_proposals(out).proposals)
    assert n > 0
    assert window.review.import_file(out) == n
    assert window.review.panel.table.rowCount() == n


def test_default_detector_of_the_app_when_its_weights_are_shipped(qtbot, tmp_path):
    """The app's own plugin registry and shipped weights (skipped until models/mscn_detector has them)."""
    from liverview.ui.detection.detect_action import find_detector

    contribution = find_detector()
    if contribution.weights is None or not contribution.weights.is_file():
        pytest.skip(f"no shipped detector weights at {contribution.weights}")
    study = generate_ct_study(11, n_lesions=4, shape=(24, 128, 128), spacing_mm=(1.25, 1.25, 2.5))
    w = MainWindow(register_mode=None, project_path=tmp_path / "default.lvproj", user="dr-default")
    qtbot.addWidget(w)
    w.show()
    w.set_study(study.to_study())
    job = w.review.detection.start()
    assert job is not None, w.messages
    qtbot.waitUntil(lambda: job.done, timeout=120000)
    QtWidgets.QApplication.processEvents()
    result = w.review.detection.last_result
    assert result is not None, w.messages
    stored = w.session.project.list_proposals(w.session.study_id)
    assert len(stored) == len(result.proposals)
    w.close()
