"""The ultrasound workspace driven with the mouse and keyboard, on synthetic DICOM US phantoms, with a
real segmenter (the shipped weights when present, else a tiny one trained here with the plugin's API)."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liverview.store.migrations import SCHEMA_VERSION
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.store.project import Project
from liverview.synth.us_demo import synthetic_us_dicom
from liverview.ui.ultrasound.us_workspace import UsWorkspace

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]
LEFT, RIGHT = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.RightButton
TEST_SEED = 11  # the phantom every test segments (a hemangioma)
TINY_STEPS = 40


def _tiny_segmenter_plugin(root: Path) -> Path:
    """A plugin folder whose segmenter is the real us_clickseg with a small net trained here for a few
    seconds (the plugin's training API) on phantoms like the test images."""
    import csv
    import json

    import cv2

    from liverview.synth.us_phantom import generate_us_phantom
    from liverview.us.lesion_dataset import load_lesions, load_records
    from liverview_plugins.us_clickseg.model import NetConfig
    from liverview_plugins.us_clickseg.training import TrainConfig, train

    data = root / "data"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    rows = []
    for i, cls in enumerate(["hemangioma", "cyst"]):
        ph = generate_us_phantom(np.random.default_rng(TEST_SEED + i), cls, size=(480, 640))
        cv2.imwrite(str(data / f"images/{i}.png"), ph.image)
        cv2.imwrite(str(data / f"masks/{i}.png"), ph.mask.astype(np.uint8) * 255)
        rows.append({"image": f"images/{i}.png", "mask": f"masks/{i}.png", "class": cls, "pixel_spacing_mm": ""})
    with open(data / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image", "mask", "class", "pixel_spacing_mm"])
        writer.writeheader()
        writer.writerows(rows)
    plugin = root / "plugins" / "tiny_us_clickseg"
    cfg = TrainConfig(steps=TINY_STEPS, batch_size=4, lr=3e-3, seed=0, checkpoint_every=10**6, num_threads=2,
                      net=NetConfig(input_size=64, widths=(8, 16, 32), fc_hidden=16))
    result = train(load_lesions(load_records(data)), plugin / "run", cfg, device="cpu", log=lambda s: None)
    manifest = json.loads((REPO / "plugins" / "us_clickseg" / "plugin.json").read_text())
    manifest["name"] = "tiny_us_clickseg"
    manifest["contributes"][0]["weights"] = str(result.weights_path.relative_to(plugin))
    (plugin / "plugin.json").write_text(json.dumps(manifest))
    return root / "plugins"


@pytest.fixture(scope="session")
def plugin_dirs(tmp_path_factory):
    """Where the workspace looks for its segmenter: the app's plugins when the shipped weights load,
    else a folder with the tiny one."""
    from liverview.annotate.us_segmenter import NoUsSegmenterError, load_us_segmenter

    try:
        load_us_segmenter(device="cpu")
        return None
    except NoUsSegmenterError:
        return [_tiny_segmenter_plugin(tmp_path_factory.mktemp("us-tiny-model"))]


@pytest.fixture
def phantom(tmp_path):
    return synthetic_us_dicom(tmp_path / "liver_us.dcm", seed=TEST_SEED, lesion_class="hemangioma")


@pytest.fixture
def workspace(qtbot, tmp_path, plugin_dirs):
    w = UsWorkspace(plugin_dirs=plugin_dirs, device="cpu", project_path=tmp_path / "us.lvproj", user="sonographer")
    qtbot.addWidget(w)
    w.resize(1200, 780)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    yield w
    w.close()


def lesion_centre(mask: np.ndarray) -> tuple[int, int]:
    """A lesion pixel far from its edge (distance transform maximum)."""
    from scipy import ndimage

    d = ndimage.distance_transform_edt(mask)
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y)


def click(qtbot, w: UsWorkspace, x: float, y: float, button=LEFT) -> None:
    qtbot.mouseClick(w.canvas.viewport(), button, pos=w.canvas.widget_pos_of(x, y))


def drag(qtbot, w: UsWorkspace, a: tuple[float, float], b: tuple[float, float], steps: int = 8) -> None:
    vp = w.canvas.viewport()
    start, end = w.canvas.widget_pos_of(*a), w.canvas.widget_pos_of(*b)
    qtbot.mousePress(vp, LEFT, pos=start)
    for t in np.linspace(0, 1, steps + 1)[1:]:
        qtbot.mouseMove(vp, start + (end - start) * float(t))
    qtbot.mouseRelease(vp, LEFT, pos=end)


def shown_mask(w: UsWorkspace) -> np.ndarray:
    """The mask as drawn: pixels of the overlay image with any opacity."""
    overlay = w.canvas.shown_overlay
    if overlay is None:
        return np.zeros(w.session.shape, bool)
    assert np.array_equal(overlay.rgba, w.canvas.overlay.image)  # what the ImageItem paints
    pos = w.canvas.overlay.pos()
    assert (pos.x(), pos.y()) == (overlay.x0 - 0.5, overlay.y0 - 0.5)  # placed on its pixels
    return overlay.full_mask(w.session.shape)


def png_rgb(path: Path) -> np.ndarray:
    shot = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    rgb = np.frombuffer(shot.constBits(), np.uint8, shot.sizeInBytes()).reshape(shot.height(), shot.bytesPerLine())
    return rgb[:, : shot.width() * 3].reshape(shot.height(), shot.width(), 3).astype(int)


def contour_pixels(rgb: np.ndarray) -> int:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > 220) & (g > 200) & (b < 90)).sum())


def settle(w: UsWorkspace) -> None:
    assert w.wait_idle(60)
    QtWidgets.QApplication.processEvents()


def test_left_click_inside_the_lesion_shows_a_mask_on_it_with_classes_and_mm_measurements(workspace, qtbot, phantom):
    w = workspace
    assert w.open_image(phantom.path)
    assert "mm" in w.units_label.text() and not w.frame_row.isVisible()
    assert not w.save_button.isEnabled()
    x, y = lesion_centre(phantom.mask)
    with qtbot.waitSignal(w.mask_shown, timeout=60000):
        click(qtbot, w, x, y)
    settle(w)  # the measurements follow the mask
    (c,) = w.session.clicks
    assert c.positive and abs(c.x - x) <= 1 and abs(c.y - y) <= 1  # the click lands on the pixel clicked
    mask = shown_mask(w)
    assert mask.sum() > 50
    assert (mask & phantom.mask).sum() > 0.3 * mask.sum()  # most of the mask lies on the true lesion
    assert np.array_equal(mask, w.session.prediction.prediction.mask)
    probs = w.session.prediction.prediction.class_probs
    assert w.class_bars.isEnabled()
    assert w.class_bars.value("cyst") == pytest.approx(probs["cyst"], abs=1e-3)
    assert sum(w.class_bars.value(k) for k in ("cyst", "hemangioma", "metastasis", "hcc")) == pytest.approx(1, abs=0.01)
    assert "mm²" in w.measure_label.text() and "px" not in w.measure_label.text()
    assert w.latencies_ms and "click to mask" in w.latency_label.text()
    assert w.save_button.isEnabled()


def test_right_click_adds_a_background_click_and_a_new_mask(workspace, qtbot, phantom):
    w = workspace
    w.open_image(phantom.path)
    x, y = lesion_centre(phantom.mask)
    click(qtbot, w, x, y)
    x0, y0, x1, y1 = phantom.bbox
    click(qtbot, w, x1 + 15, y1 + 10, RIGHT)
    settle(w)
    assert [c.positive for c in w.session.clicks] == [True, False]
    assert w.session.has_current_prediction
    assert w.session.prediction_id == w.session.latest_request_id
    assert len(w.canvas.markers.data) == 2


def test_drag_draws_a_box_of_five_clicks_and_a_mask_ctrl_z_takes_back_clicks_and_esc_clears(workspace, qtbot,
                                                                                              phantom):
    w = workspace
    w.open_image(phantom.path)
    x0, y0, x1, y1 = phantom.bbox
    drag(qtbot, w, (x0 - 12, y0 - 12), (x1 + 12, y1 + 12))
    assert not w.canvas.box_item.isVisible()  # the rubber band goes when the mouse is released
    clicks = w.session.clicks
    assert len(clicks) == 5 and [c.positive for c in clicks] == [True] + [False] * 4
    assert abs(clicks[0].x - (x0 + x1) / 2) < 2 and abs(clicks[0].y - (y0 + y1) / 2) < 2
    settle(w)
    mask = shown_mask(w)
    assert mask.any() and (mask & phantom.mask).sum() > 0.3 * mask.sum()

    bx, by = lesion_centre(phantom.mask)
    click(qtbot, w, x1 + 20, y0, RIGHT)
    assert len(w.session.clicks) == 6
    qtbot.keyClick(w, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert len(w.session.clicks) == 5  # the last click went
    qtbot.keyClick(w, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert w.session.clicks == ()  # then the box, as it was made: in one gesture
    assert not w.canvas.has_mask_overlay()
    click(qtbot, w, bx, by)
    settle(w)
    assert w.canvas.has_mask_overlay()
    qtbot.keyClick(w, QtCore.Qt.Key.Key_Escape)
    assert w.session.clicks == () and not w.canvas.has_mask_overlay()
    assert len(w.canvas.markers.data) == 0 and not w.class_bars.isEnabled()
    settle(w)  # a result still running when Esc came must not bring the mask back
    assert not w.canvas.has_mask_overlay()


def test_a_box_contour_fills_the_box_and_unticking_box_is_edges_segments_it_again_as_drawn(workspace, qtbot,
                                                                                           phantom):
    w = workspace
    w.open_image(phantom.path)
    assert w.box_fit_check.isChecked()  # the default: a box is drawn to the lesion's edges
    x0, y0, x1, y1 = phantom.bbox
    drag(qtbot, w, (x0 - 12, y0 - 12), (x1 + 12, y1 + 12))
    settle(w)
    fitted = shown_mask(w)
    box = w.session.clicks[1].x, w.session.clicks[1].y, w.session.clicks[4].x, w.session.clicks[4].y
    rows, cols = np.flatnonzero(fitted.any(1)), np.flatnonzero(fitted.any(0))
    # the default contour averages two shapes that touch each side at different points: it reaches within 2 px
    assert max(abs(cols[0] - box[0]), abs(rows[0] - box[1]), abs(cols[-1] - box[2]), abs(rows[-1] - box[3])) <= 2
    qtbot.mouseClick(w.box_fit_check, LEFT)  # untick: the box was drawn with room around the lesion
    assert not w.box_fit_check.isChecked()
    settle(w)
    drawn = shown_mask(w)
    assert drawn.any() and drawn.sum() < fitted.sum() and len(w.session.clicks) == 5
    rows, cols = np.flatnonzero(drawn.any(1)), np.flatnonzero(drawn.any(0))
    assert min(cols[0] - box[0], rows[0] - box[1], box[2] - cols[-1], box[3] - rows[-1]) >= -1
    assert max(cols[0] - box[0], rows[0] - box[1], box[2] - cols[-1], box[3] - rows[-1]) > 3  # short of a side


def test_a_click_after_a_box_changes_the_contour_near_the_click_only_and_saves_what_is_shown(workspace, qtbot,
                                                                                               phantom, tmp_path):
    from scipy import ndimage

    from liverview.us.local_correction import NUDGE_DEPTH, NUDGE_WIDTH

    w = workspace
    w.open_image(phantom.path)
    x0, y0, x1, y1 = phantom.bbox
    drag(qtbot, w, (x0, y0), (x1, y1))
    settle(w)
    before = shown_mask(w)
    assert before.any()
    depth = ndimage.distance_transform_edt(before)
    ys, xs = np.nonzero((depth >= 3) & (depth <= 4))  # a lesion pixel near the contour: "not lesion here"
    cx, cy = int(xs[0]), int(ys[0])
    click(qtbot, w, cx, cy, RIGHT)
    settle(w)
    after = shown_mask(w)
    assert not after[cy, cx]  # the click is honoured
    t = depth[cy, cx]  # the nudge (liverview.us.local_correction) moves the map by >= 1 px only this far
    reach = NUDGE_WIDTH * t * np.sqrt(2.0 * np.log(NUDGE_DEPTH * t)) + 1.5
    yy, xx = np.ogrid[:after.shape[0], :after.shape[1]]
    far = (yy - cy) ** 2 + (xx - cx) ** 2 > reach * reach
    assert np.array_equal(after[far], before[far])  # the rest of the contour stays as it was
    assert not (after & ~before).any()  # a background click only removes
    assert np.array_equal(w.session.prediction.mask, after)  # what the next click corrects
    assert w.save("hemangioma") is not None
    w.close()  # releases the project
    with Project.open(tmp_path / "us.lvproj", "auditor", read_only=True) as p:
        (study,) = p.list_studies()
        (lesion,) = p.list_lesions(study.id)
        assert np.array_equal(p.get_mask(lesion.id, "ultrasound").array[0], after)  # saved as shown


def test_a_correction_that_empties_the_mask_clears_the_class_scores_and_disables_save(workspace, qtbot, phantom):
    w = workspace
    w.open_image(phantom.path)
    x0, y0, x1, y1 = phantom.bbox
    drag(qtbot, w, (x0, y0), (x1, y1))
    settle(w)
    assert shown_mask(w).any() and w.class_bars.isEnabled() and w.save_button.isEnabled()
    (centre,) = [c for c in w.session.clicks if c.positive]  # the box's own lesion click
    click(qtbot, w, round(centre.x), round(centre.y), RIGHT)  # "not lesion" on its pixel: all of it goes
    settle(w)
    last = w.session.clicks[-1]
    assert (round(last.x), round(last.y)) == (round(centre.x), round(centre.y)) and not last.positive
    assert not shown_mask(w).any()
    assert not w.class_bars.isEnabled() and w.class_bars.value("cyst") == 0  # no lesion, no class scores
    assert not w.save_button.isEnabled() and "empty" in w.measure_label.text()
    # the reader drew a box and clicked once: said so, not "1 foreground, 5 background"
    assert w.clicks_label.text() == "Box + clicks: 0 foreground, 1 background"


def test_the_click_count_names_a_box_as_a_box():
    from liverview.ui.ultrasound.us_workspace import click_count_text
    from liverview.us.clicks import Click, box_to_clicks

    box = box_to_clicks(10, 10, 50, 40)
    assert click_count_text([]) == "Clicks: 0 foreground, 0 background"
    assert click_count_text(box) == "Box"
    after = box + [Click(30, 20, True), Click(45, 12, False)]
    assert click_count_text(after) == "Box + clicks: 1 foreground, 1 background"
    assert click_count_text([Click(30, 20, True), Click(5, 5, False)]) == "Clicks: 1 foreground, 1 background"


def test_the_box_is_edges_choice_is_kept_between_sessions(qtbot, tmp_path, plugin_dirs):
    from liverview.ui.window_settings import ini_settings

    settings = ini_settings(tmp_path / "settings.ini")
    first = UsWorkspace(plugin_dirs=plugin_dirs, device="cpu", settings=settings)
    qtbot.addWidget(first)
    assert first.box_fit_check.isChecked()
    first.set_box_fit(False)
    assert not first.box_fit_check.isChecked()
    first.close()
    again = UsWorkspace(plugin_dirs=plugin_dirs, device="cpu", settings=ini_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(again)
    assert not again.box_fit_check.isChecked()
    again.close()


def test_box_being_dragged_is_drawn_as_a_rubber_band(workspace, qtbot, phantom):
    w = workspace
    w.open_image(phantom.path)
    vp = w.canvas.viewport()
    start, end = w.canvas.widget_pos_of(100, 100), w.canvas.widget_pos_of(200, 160)
    qtbot.mousePress(vp, LEFT, pos=start)
    for t in (0.3, 0.6, 1.0):
        qtbot.wait(25)  # pyqtgraph drops mouse moves closer than its rate limit (10 ms)
        qtbot.mouseMove(vp, start + (end - start) * t)
    assert w.canvas.box_item.isVisible()
    rect = w.canvas.box_item.rect()
    assert rect.width() == pytest.approx(100, abs=2) and rect.height() == pytest.approx(60, abs=2)
    qtbot.mouseRelease(vp, LEFT, pos=end)
    assert not w.canvas.box_item.isVisible()


def test_ctrl_s_saves_mask_class_and_recist_to_the_project_file(workspace, qtbot, phantom, tmp_path):
    w = workspace
    w.open_image(phantom.path)
    x0, y0, x1, y1 = phantom.bbox
    drag(qtbot, w, (x0 - 12, y0 - 12), (x1 + 12, y1 + 12))
    settle(w)
    shown, measured, label = w.session.prediction, w.measurement, w.measure_label.text()
    axes_drawn = w.canvas.axes_item.getData()
    assert len(axes_drawn[0]) == 4  # long and short axis
    assert measured is not None and measured.units == "mm"
    qtbot.keyClick(w, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)  # asks for the class
    assert w.saved_lesions == []
    with qtbot.waitSignal(w.lesion_saved, timeout=10000):  # the second Ctrl+S confirms the suggestion
        qtbot.keyClick(w, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    w.close()  # releases the project
    with Project.open(tmp_path / "us.lvproj", "auditor", read_only=True) as p:
        (study,) = p.list_studies()
        assert study.modality == "US"
        (phase,) = p.list_phases(study.id)
        assert (phase.kind, phase.pixel_units, phase.source_path) == ("ultrasound", "mm", str(phantom.path))
        (lesion,) = p.list_lesions(study.id)
        probs = shown.prediction.class_probs
        assert lesion.lesion_class == max(probs, key=probs.get)
        assert lesion.created_by == "sonographer"
        mask = p.get_mask(lesion.id, "ultrasound")
        assert np.array_equal(mask.array[0], shown.prediction.mask)
        assert mask.spacing[0] == pytest.approx(phantom.pixel_spacing_mm)
        r = lesion.recist
        assert r.phase == "ultrasound" and r.key_slice == 0
        assert r.long_mm == pytest.approx(measured.long_diameter, rel=1e-6)  # mm, as shown
        assert r.short_mm == pytest.approx(measured.short_diameter, rel=1e-6)
        assert f"{r.long_mm:.1f} mm" in label
        # the axes drawn are the axes saved (image pixels on screen, mm in the store)
        (xs, ys) = axes_drawn
        px = phantom.pixel_spacing_mm
        assert np.allclose(np.c_[xs[:2], ys[:2]] * px, np.asarray(r.long_axis)[:, :2], atol=1e-6)
    conn = sqlite3.connect(tmp_path / "us.lvproj")
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    conn.close()


def test_save_without_a_mask_says_what_to_do(workspace, phantom):
    w = workspace
    w.open_image(phantom.path)
    assert w.save() is None
    assert "click on the lesion" in w.messages[-1]


def test_a_cine_gets_a_frame_slider_and_the_mask_follows_the_frame(workspace, qtbot, tmp_path):
    cine = synthetic_us_dicom(tmp_path / "cine.dcm", seed=TEST_SEED, n_frames=6, lesion_class="hemangioma")
    w = workspace
    assert w.open_image(cine.path)
    assert w.frame_row.isVisible() and w.frame_slider.maximum() == 5
    x, y = lesion_centre(cine.mask)
    click(qtbot, w, x, y)
    settle(w)
    first = shown_mask(w).copy()
    w.frame_slider.setValue(5)
    assert w.frame_label.text() == "6 / 6"
    settle(w)
    assert w.session.prediction.frame_index == 5
    assert np.array_equal(w.canvas.image.image, np.clip(w.image.frame(5), 0, 255).astype(np.uint8))
    assert not np.array_equal(shown_mask(w), first)  # the image moved 10 px: the mask is recomputed
    lesion = w.save()
    assert lesion is not None and lesion.recist.key_slice == 5


def test_a_png_is_measured_in_pixels_and_says_so(workspace, qtbot, tmp_path, phantom):
    import cv2

    from liverview.us.image import load_us_image

    png = tmp_path / "plain.png"
    cv2.imwrite(str(png), load_us_image(phantom.path).frames[0].astype(np.uint8))
    w = workspace
    assert w.open_image(png)
    assert "pixels" in w.units_label.text()
    click(qtbot, w, *lesion_centre(phantom.mask))
    settle(w)
    assert "px²" in w.measure_label.text() and "mm" not in w.measure_label.text()


def test_bad_files_give_a_clear_message_and_keep_the_image(workspace, tmp_path, phantom):
    w = workspace
    assert w.open_image(phantom.path)
    shown = w.image
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    empty = tmp_path / "blank.dcm"
    empty.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 20)
    for bad, reason in [(text, "not a readable PNG/JPEG/BMP"), (tmp_path / "missing.dcm", "does not exist"),
                        (empty, "no pixel data"), (tmp_path, "folder")]:
        assert not w.open_image(bad)
        assert reason in w.messages[-1], w.messages[-1]
        assert w.image is shown
    QtWidgets.QApplication.processEvents()
    assert w.isVisible()


def test_screenshot_shows_image_mask_and_markers(workspace, qtbot, phantom, tmp_path):
    w = workspace
    w.open_image(phantom.path)
    x0, y0, x1, y1 = phantom.bbox
    drag(qtbot, w, (x0 - 12, y0 - 12), (x1 + 12, y1 + 12))
    settle(w)
    path = tmp_path / "us_workspace.png"
    assert w.grab().save(str(path))
    rgb = png_rgb(path)
    assert rgb.std() > 20  # not blank
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    assert contour_pixels(rgb) > 30  # the yellow contour
    assert ((g > 180) & (r < 90) & (b < 120)).sum() > 10  # the green foreground marker
    assert ((r > 200) & (g < 80) & (b < 80)).sum() > 10  # red background markers


def test_main_py_us_demo_writes_a_screenshot_and_a_bad_image_exits_2(tmp_path, plugin_dirs):
    env = {"QT_QPA_PLATFORM": "offscreen", "LIVERVIEW_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    shot = tmp_path / "demo.png"
    done = subprocess.run([sys.executable, "main.py", "--us-demo", "--screenshot", str(shot), "--wait", "60"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    rgb = png_rgb(shot)
    assert rgb.shape[1] > 800 and rgb.std() > 20
    if plugin_dirs is None:  # the app's own segmenter loads: the demo box was segmented
        assert contour_pixels(rgb) > 30
    bad = tmp_path / "bad.jpg"
    bad.write_text("no")
    done = subprocess.run([sys.executable, "main.py", "--us", str(bad), "--screenshot", str(tmp_path / "x.png")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 2
    assert "not a readable PNG/JPEG/BMP image" in done.stderr


def test_main_window_file_menu_opens_an_ultrasound_image_in_a_workspace(qtbot, tmp_path, phantom, monkeypatch):
    from liverview.ui.main_window import MainWindow

    main = MainWindow(register_mode=None, project_root=tmp_path / "projects", user="dr-us")
    qtbot.addWidget(main)
    main.show()  # the workspace opens in the window's Ultrasound tab, visible once the window is
    qtbot.waitExposed(main)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(phantom.path), ""))
    (action,) = [a for a in main.menuBar().actions()[0].menu().actions() if a.text() == "Open ultrasound image..."]
    action.trigger()
    (workspace,) = main.findChildren(UsWorkspace)
    assert workspace.isVisible() and workspace.image.source == str(phantom.path)
    assert workspace.project_file().parent == tmp_path / "projects" / "projects"
    workspace.close()
    main.close()


def test_choosing_another_model_segments_the_same_clicks_again_with_it(qtbot, tmp_path, plugin_dirs, phantom):
    import json

    from liverview.annotate.us_segmenter import us_segmenter_contributions
    from liverview.plugin_registry import discover_plugins

    catalog = discover_plugins(plugin_dirs, False) if plugin_dirs else discover_plugins()
    weights = us_segmenter_contributions(catalog)[0].weights.resolve()
    plugin = tmp_path / "plugins" / "two_models"
    plugin.mkdir(parents=True)
    (plugin / "w.pt").symlink_to(weights)
    item = {"kind": "click-segmenter", "command": "liverview_plugins.us_clickseg.inference:load_segmenter", "modalities": ["US"],
            "weights": "w.pt"}
    (plugin / "plugin.json").write_text(json.dumps({
        "name": "two_models", "display_name": "two", "version": "1", "description": "",
        "contributes": [{**item, "title": "first model"}, {**item, "title": "second model"}]}))
    w = UsWorkspace(plugin_dirs=[tmp_path / "plugins"], device="cpu", project_path=tmp_path / "p.lvproj", user="u")
    qtbot.addWidget(w)
    w.show()
    assert [w.model_combo.itemText(i) for i in range(w.model_combo.count())] == ["first model", "second model"]
    assert w.model_combo.isEnabled()
    w.open_image(phantom.path)
    click(qtbot, w, *lesion_centre(phantom.mask))
    settle(w)
    before = w.session.prediction_id
    w.model_combo.setCurrentIndex(1)
    settle(w)
    assert w.session.prediction_id > before and w.session.has_current_prediction  # segmented again
    assert len(w.session.clicks) == 1
    w.close()


def test_fast_clicks_end_with_the_mask_of_all_of_them(workspace, qtbot, phantom):
    w = workspace
    w.open_image(phantom.path)
    settle(w)  # the model is loaded and warm
    x, y = lesion_centre(phantom.mask)
    x0, y0, x1, y1 = phantom.bbox
    for px, py, button in [(x, y, LEFT), (x1 + 15, y1 + 10, RIGHT), (x0 - 15, y0 - 10, RIGHT), (x + 3, y, LEFT)]:
        click(qtbot, w, px, py, button)  # no waiting in between: requests overtake each other
    settle(w)
    assert w.session.has_current_prediction
    assert w.session.prediction.clicks == w.session.clicks and len(w.session.clicks) == 4
    assert len(w.latencies_ms) + w.worker.skipped + w.dropped_results >= 4  # every request is accounted for


def test_real_breast_ultrasound_with_the_benign_malignant_model(qtbot, tmp_path, shared_data):
    """BUSI (real breast ultrasound, PNG): a box from the expert mask gives a mask on the lesion; the
    model knows only benign vs malignant, so the four liver classes show n/a and the lesion is saved
    with class 'unknown' and its malignancy in the notes."""
    import cv2

    from liverview.annotate.us_segmenter import NoUsSegmenterError, load_us_segmenter, us_segmenter_contributions

    titles = [c.title for c in us_segmenter_contributions()]
    busi = next((i for i, t in enumerate(titles) if "BUSI" in t), None)
    if busi is None:
        pytest.skip("no BUSI-trained ultrasound segmenter in the plugins")
    try:
        load_us_segmenter(device="cpu", choice=busi)
    except NoUsSegmenterError as exc:
        pytest.skip(f"the BUSI segmenter's weights are not here: {exc}")
    image = shared_data / "busi-subset" / "malignant" / "malignant (1).png"
    truth = cv2.imread(str(image).replace(").png", ")_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
    w = UsWorkspace(device="cpu", project_path=tmp_path / "busi.lvproj", user="u")
    qtbot.addWidget(w)
    w.show()
    assert w.open_image(image) and "pixels" in w.units_label.text()
    w.model_combo.setCurrentIndex(busi)
    ys, xs = np.nonzero(truth)
    drag(qtbot, w, (xs.min() - 10, ys.min() - 10), (xs.max() + 10, ys.max() + 10))
    settle(w)
    mask = shown_mask(w)
    assert (mask & truth).sum() / (mask | truth).sum() > 0.5
    assert w.class_bars.bars["cyst"].text() == "n/a" and w.class_bars.value("malignant") > 0
    lesion = w.save()
    assert lesion.lesion_class == "unknown" and "malignant" in lesion.notes
    w.close()


def test_file_export_lesions_writes_the_saved_lesions_and_refuses_ct_only_formats(workspace, qtbot, phantom, tmp_path):
    from liverview.io.export.nifti_labels import read_label_map

    w = workspace
    assert w.open_image(phantom.path)
    assert w.export_lesions("json", tmp_path / "early.json") is None  # nothing saved yet: said so, no file
    assert "no lesion is saved" in w.messages[-1] and not (tmp_path / "early.json").exists()
    click(qtbot, w, *lesion_centre(phantom.mask))
    settle(w)
    lesion = w.save()
    assert lesion is not None
    assert "Export lesions..." in [a.text() for a in w.menuBar().actions()[0].menu().actions()]
    result = w.export_lesions("nifti", tmp_path / "out" / "labels.nii.gz")
    assert result is not None and result.written == 1 and str(result.path) in w.messages[-1]
    read = read_label_map(result.path)
    saved = w._project().get_mask(lesion.id, "ultrasound").array[0]
    assert np.array_equal(read.grid.array[0] == 1, saved)
    assert read.grid.spacing[0] == pytest.approx(phantom.pixel_spacing_mm)
    assert w.export_lesions("sr", tmp_path / "x.dcm") is None
    assert "CT studies only" in w.messages[-1] and not (tmp_path / "x.dcm").exists()


def _segmenter_plugin(tmp_path, contributions: list[dict], files: dict[str, object]):
    """A plugin folder offering ``contributions`` (click segmenters running us_clickseg's loader) with ``files``
    beside its manifest (dicts written as JSON, bytes as they are); the folder of plugins to pass on."""
    import json

    plugin = tmp_path / "plugins" / "validated_us"
    plugin.mkdir(parents=True)
    item = {"kind": "click-segmenter", "command": "liverview_plugins.us_clickseg.inference:load_segmenter",
            "modalities": ["US"], "weights": "absent.pt"}
    (plugin / "plugin.json").write_text(json.dumps({
        "name": "validated_us", "display_name": "v", "version": "1", "description": "d",
        "contributes": [{**item, **c} for c in contributions]}))
    for name, content in files.items():
        path = plugin / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(json.dumps(content))
    return tmp_path / "plugins"


def test_the_panel_shows_the_active_models_validated_figures_and_class_notes(qtbot, tmp_path):
    """Figures come from the contribution's validation JSON; a model without one says it has none."""
    plugins = _segmenter_plugin(tmp_path, [
        {"name": "with_card", "title": "With figures", "validation": "validation.json", "default": True},
        {"name": "without", "title": "Without figures"}], {"validation.json": {
            "figures": ["Liver US, 4-fold CV: two-click Jaccard 0.80 (ellipse 0.72)"],
            "notes": {"malignancy": "p(malignant) Platt-calibrated on liver images: ECE 0.10",
                      "four_class": "4-class split learnt on synthetic phantoms only"}}})
    w = UsWorkspace(plugin_dirs=[plugins], device="cpu", project_path=tmp_path / "us.lvproj")
    qtbot.addWidget(w)
    assert "two-click Jaccard 0.80" in w.model_info.text()
    assert "ECE 0.10" in w.class_note.text() and "synthetic phantoms only" in w.class_note.text()
    w.model_combo.setCurrentIndex(1)
    assert "No validated figures" in w.model_info.text()
    assert "not validated on real images" in w.class_note.text()


def test_ctrl_s_lets_the_reader_confirm_or_change_the_class_before_saving(workspace, qtbot, phantom, tmp_path):
    """The model's top class is only a suggestion (it said "hcc" at 44 % on a benign lesion): Ctrl+S first
    asks for the class, with the suggestion preselected; the reader's choice is what is saved."""
    w = workspace
    w.open_image(phantom.path)
    click(qtbot, w, *lesion_centre(phantom.mask))
    settle(w)
    probs = w.session.prediction.class_probs
    suggested = max(probs, key=probs.get)
    assert w.class_combo.currentData() == suggested and suggested in w.class_combo.currentText()
    qtbot.keyClick(w, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert w.saved_lesions == [] and "class" in w.messages[-1] and suggested in w.messages[-1]
    boxes = [x.text() for x in w.findChildren(QtWidgets.QMessageBox) if x.isVisible()]
    assert not boxes, boxes
    choice = "cyst" if suggested != "cyst" else "hemangioma"
    w.class_combo.setCurrentIndex(w.class_combo.findData(choice))
    w.class_combo.activated.emit(w.class_combo.currentIndex())  # the reader picks it
    assert choice in w.save_button.text()
    with qtbot.waitSignal(w.lesion_saved, timeout=10000):
        qtbot.keyClick(w, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert w.saved_lesions[-1].lesion_class == choice
    assert w._project().list_lesions()[0].lesion_class == choice


def test_saving_again_updates_the_same_lesion_and_esc_starts_a_new_one(workspace, qtbot, phantom):
    w = workspace
    w.open_image(phantom.path)
    x, y = lesion_centre(phantom.mask)
    click(qtbot, w, x, y)
    settle(w)
    first = w.save()
    assert first is not None
    click(qtbot, w, x + 3, y + 2)  # one more click on the same lesion, then save again
    settle(w)
    w.class_combo.setCurrentIndex(w.class_combo.findData("metastasis"))
    w.class_combo.activated.emit(w.class_combo.currentIndex())
    again = w.save()
    project = w._project()
    assert again.id == first.id and [les.id for les in project.list_lesions()] == [first.id]  # no duplicate
    assert again.lesion_class == "metastasis"
    saved_mask = project.get_mask(first.id, "ultrasound").array[0]
    assert np.array_equal(saved_mask, w.session.prediction.mask)  # the mask shown (a correction of the first)
    assert np.array_equal(saved_mask, shown_mask(w))
    assert "Updated lesion" in w.messages[-1]
    qtbot.keyClick(w, QtCore.Qt.Key.Key_Escape)  # a new lesion
    click(qtbot, w, x, y)
    settle(w)
    other = w.save()
    assert other.id != first.id and len(project.list_lesions()) == 2
    project.undo()  # one save is one undo step: the new lesion goes with its mask
    assert [les.id for les in project.list_lesions()] == [first.id]


def test_the_panel_describes_the_weights_given_not_the_chosen_models_card(qtbot, tmp_path):
    """`--us-weights PT` runs PT: the panel shows the figures of the model that ships PT, and none when no
    model ships it (before, it showed the chosen model's figures beside weights they were not measured on)."""
    unread = b"not loaded by the panel"
    plugins = _segmenter_plugin(tmp_path, [
        {"name": "model_a", "title": "A", "weights": "a.pt", "validation": "a.json", "default": True},
        {"name": "model_b", "title": "B", "weights": "b.pt", "validation": "b.json"}], {
        "a.pt": unread, "b.pt": unread, "mine.pt": unread,
        "a.json": {"figures": ["A: two-click Jaccard 0.61"]},
        "b.json": {"figures": ["B: two-click Jaccard 0.77"], "notes": {"malignancy": "B: AUROC 0.64"}}})
    shown = {}
    for given in ("b.pt", "mine.pt"):
        w = UsWorkspace(plugin_dirs=[plugins], device="cpu", weights=plugins / "validated_us" / given,
                        project_path=tmp_path / f"{given}.lvproj")
        qtbot.addWidget(w)
        shown[given] = (w.model_info.text(), w.class_note.text())
    assert "B: two-click Jaccard 0.77" in shown["b.pt"][0] and "A:" not in shown["b.pt"][0]
    assert "Weights: b.pt (the weights of 'model_b')" in shown["b.pt"][0] and "B: AUROC 0.64" in shown["b.pt"][1]
    assert "No validated figures" in shown["mine.pt"][0] and "Jaccard" not in shown["mine.pt"][0]
    assert "mine.pt (no model's shipped weights)" in shown["mine.pt"][0]
    assert "not validated on real images" in shown["mine.pt"][1]


def test_the_malignancy_bar_is_red_only_where_the_card_validates_it(qtbot, tmp_path):
    """A p(malignant) that the card does not vouch for is drawn grey and says "not validated" in the bar."""
    from liverview.ui.ultrasound.class_bars import MALIGNANT_COLOUR, UNVALIDATED_COLOUR

    plugins = _segmenter_plugin(tmp_path, [
        {"name": "vouched", "title": "Vouched", "validation": "ok.json", "default": True},
        {"name": "unvouched", "title": "Unvouched", "validation": "no.json"}], {
        "ok.json": {"figures": ["x"], "malignancy_validated": True},
        "no.json": {"figures": ["y"], "notes": {"malignancy": "not usable"}}})
    w = UsWorkspace(plugin_dirs=[plugins], device="cpu", project_path=tmp_path / "us.lvproj")
    qtbot.addWidget(w)
    bars = w.class_bars
    bars.set_probabilities({"cyst": 0.1, "hemangioma": 0.2, "metastasis": 0.3, "hcc": 0.4}, 0.7)
    assert bars.bars["malignant"].format() == "70 %" and MALIGNANT_COLOUR in bars.bars["malignant"].styleSheet()
    w.model_combo.setCurrentIndex(1)
    bars.set_probabilities({"cyst": 0.1, "hemangioma": 0.2, "metastasis": 0.3, "hcc": 0.4}, 0.7)
    assert bars.bars["malignant"].format() == "70 % (not validated)"
    assert UNVALIDATED_COLOUR in bars.bars["malignant"].styleSheet() and bars.value("malignant") == pytest.approx(0.7)


def test_main_py_us_opens_the_image_in_the_main_windows_ultrasound_tab(qtbot, tmp_path, phantom, monkeypatch):
    from liverview.ui import ultrasound
    from liverview.ui.main_window import MainWindow
    from liverview.ui.ultrasound.launch import run_ultrasound

    main = MainWindow(register_mode=None, project_root=tmp_path / "projects", user="dr-us")
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    shot = {}

    def grab(app, window, path):  # what the screenshot would show, taken before it closes the window
        shot.update(window=window, us_in_front=main.one_window.workspaces.showing_us)
        return True

    monkeypatch.setattr(ultrasound.launch, "write_screenshot", grab)
    app = QtWidgets.QApplication.instance()
    assert run_ultrasound(app, main, image=str(phantom.path), demo=False, screenshot="x.png", wait_s=60) == 0
    assert shot == {"window": main, "us_in_front": True}
    (workspace,) = main.findChildren(UsWorkspace)  # one workspace, inside the window: no window of its own
    assert workspace.image.source == str(phantom.path) and not workspace.isWindow()
    assert workspace.session.prediction is None  # no demo box on a real image: nothing segmented yet
    assert [a.text() for a in main.menuBar().actions()][:1] == ["&File"]  # the CT tab's menus are still there
    workspace.close()
    main.close()


def test_a_short_window_scrolls_the_panel_instead_of_squeezing_the_class_bars(workspace, qtbot, phantom):
    w = workspace
    w.resize(1200, 620)
    assert w.open_image(phantom.path)
    click(qtbot, w, *lesion_centre(phantom.mask))
    settle(w)
    bars = w.class_bars
    for bar in bars.bars.values():
        assert bar.height() >= 16, bar.height()  # the bars' style asks for 16 px
    for label in bars.labels.values():
        assert label.height() >= label.sizeHint().height()  # "Hemangioma" not cut
    note_top = w.class_note.mapTo(w, w.class_note.rect().topLeft()).y()
    bars_bottom = bars.mapTo(w, bars.rect().bottomLeft()).y()
    assert note_top >= bars_bottom and w.class_note.height() >= w.class_note.heightForWidth(w.class_note.width())


def test_the_save_button_is_in_view_on_a_1024_by_700_window(workspace, qtbot, phantom):
    """The panel scrolls on a short window; what the reader does last (class, then save) sits where it is seen
    without scrolling, the measurements below it."""
    w = workspace
    w.resize(1024, 700)
    assert w.open_image(phantom.path)
    click(qtbot, w, *lesion_centre(phantom.mask))
    settle(w)
    scroll = w.save_button.parentWidget().parentWidget().parentWidget()  # side panel < viewport < scroll area
    assert isinstance(scroll, QtWidgets.QScrollArea) and scroll.verticalScrollBar().value() == 0
    bottom = w.save_button.mapTo(scroll.viewport(), w.save_button.rect().bottomLeft()).y()
    assert bottom <= scroll.viewport().height(), (bottom, scroll.viewport().height())
    assert w.save_button.isEnabled()
