"""One window for CT and ultrasound, driven through the real widgets: a folder holding a phantom CT study (two
DICOM series written here) and ultrasound images is indexed into the Studies browser; double-clicks open the CT
in the viewer and the ultrasound image in the Ultrasound tab of the same window; a drop opens a study; File >
Open Recent survives a new window. Settings live in each test's own ini file, never the user's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from pydicom.uid import generate_uid

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.synth.us_demo import synthetic_us_dicom
from liverview.ui.app import load_for_window
from liverview.ui.main_window import MainWindow
from liverview.ui.window_settings import ini_settings
from tests.scan.dicom_writing import write_series

pytestmark = pytest.mark.gui
SHOTS = Path("/tmp")


def _phantom_phases() -> dict[PhaseKind, Volume]:
    """Two phases of the synthetic liver phantom, small enough to write and load in a second."""
    from liverview.synth.ct_phantom import generate_ct_study

    study = generate_ct_study(seed=5, n_lesions=2, shape=(12, 128, 128), spacing_mm=(1.5, 1.5, 5.0))
    return {k: study.phases[k] for k in (PhaseKind.ARTERIAL, PhaseKind.PORTAL_VENOUS)}


@pytest.fixture(scope="module")
def phases() -> dict[PhaseKind, Volume]:
    return _phantom_phases()


@pytest.fixture
def data(tmp_path, phases) -> Path:
    """data/ct: one study, arterial and portal venous series (patient PHANTOM-CT); data/us: a DICOM US image and
    a PNG ultrasound image."""
    root = tmp_path / "data"
    study_uid = generate_uid()
    for kind, volume in phases.items():
        write_series(root / "ct", volume, study_uid, f"{kind.value} phase", patient_id="PHANTOM-CT")
    synthetic_us_dicom(root / "us" / "liver_us.dcm", seed=11, lesion_class="hemangioma")
    import cv2

    png = synthetic_us_dicom(tmp_path / "tmp_us.dcm", seed=12, lesion_class="cyst")
    from liverview.us.image import load_us_image

    cv2.imwrite(str(root / "us" / "liver_us.png"), load_us_image(png.path).frame(0).astype(np.uint8))
    return root


def make_window(qtbot, ini: Path, project_path: Path | None = None) -> MainWindow:
    w = MainWindow(study_loader=load_for_window, register_mode=None, settings=ini_settings(ini),
                   project_path=project_path, user="reader")
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitExposed(w)
    return w


def index_and_wait(qtbot, w: MainWindow, paths: list[Path]) -> None:
    job = w.one_window.index([str(p) for p in paths])
    with qtbot.waitSignal(job.ended, timeout=30000):
        pass


def double_click(qtbot, w: MainWindow, item: QtWidgets.QTreeWidgetItem) -> None:
    tree = w.one_window.browser.tree
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    # a real double-click is a click, then a double-click event (the view ignores one without the press)
    qtbot.mouseClick(tree.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())


def tree_rows(w: MainWindow) -> list[tuple[int, str, str, str]]:
    """(depth, name, modality, phase) of every row, top to bottom."""
    rows = []
    it = QtWidgets.QTreeWidgetItemIterator(w.one_window.browser.tree)
    while it.value() is not None:
        item, depth, parent = it.value(), 0, it.value().parent()
        while parent is not None:
            depth, parent = depth + 1, parent.parent()
        rows.append((depth, item.text(0), item.text(1), item.text(2)))
        it += 1
    return rows


def settle_us(w: MainWindow) -> None:
    assert w.one_window.workspaces.us.wait_idle(60)
    QtWidgets.QApplication.processEvents()


def test_the_browser_shows_patient_study_series_with_modality_and_phase(qtbot, tmp_path, data):
    w = make_window(qtbot, tmp_path / "lv.ini")
    assert not w.one_window.dock.isVisible()  # nothing indexed: the panes keep the room
    index_and_wait(qtbot, w, [data])
    assert w.one_window.dock.isVisible()
    rows = tree_rows(w)
    assert (0, "PHANTOM-CT", "", "") in rows
    assert (2, "arterial phase", "CT", "arterial") in rows
    assert (2, "portal venous phase", "CT", "portal venous") in rows
    assert (0, "US-PHANTOM (Phantom Ultrasound)", "", "") in rows
    assert any(r[0] == 2 and r[1] == "liver_us.png" and r[2] == "US" for r in rows)
    study_row = next(r for r in rows if r[0] == 1 and r[2] == "CT")
    assert study_row[1].startswith("CT liver")
    # kept in the index project: a new window shows the same tree without walking the folder again
    w.close()
    w2 = make_window(qtbot, tmp_path / "lv.ini")
    assert tree_rows(w2) == rows


def test_double_click_opens_ct_in_the_viewer_and_us_in_the_ultrasound_tab_of_the_same_window(qtbot, tmp_path, data):
    w = make_window(qtbot, tmp_path / "lv.ini")
    index_and_wait(qtbot, w, [data])
    browser, tabs = w.one_window.browser, w.one_window.workspaces.tabs

    double_click(qtbot, w, browser.item_for(lambda e: e.phase == "arterial"))
    assert w.study is not None and sorted(p.kind.value for p in w.study.phases) == ["arterial", "portal venous"]
    assert tabs.tabText(tabs.currentIndex()) == "CT" and w.stack.currentWidget() is w.grid
    QtWidgets.QApplication.processEvents()
    shot_ct = SHOTS / "liverview_browser_ct.png"
    assert w.grab().save(str(shot_ct))

    double_click(qtbot, w, browser.item_for(lambda e: e.files[0].name == "liver_us.dcm"))
    us = w.one_window.workspaces.us
    assert tabs.tabText(tabs.currentIndex()) == "Ultrasound"
    assert us is not None and us.window() is w and not us.isWindow()  # inside the main window, not its own
    assert us.image is not None and Path(us.image.source).name == "liver_us.dcm"
    assert w.study is not None  # the CT study stays open in its tab
    settle_us(w)
    shot_us = SHOTS / "liverview_browser_us.png"
    assert w.grab().save(str(shot_us))
    assert [win for win in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(win, QtWidgets.QMainWindow) and win.isVisible()] == [w]

    # the key goes to the tab shown: Ctrl+O and Ctrl+Z are the ultrasound workspace's now, the viewer's again after
    ct_open = next(a for a in w.findChildren(QtGui.QAction) if a.text() == "Open DICOM folder...")
    assert not ct_open.isEnabled() and w.one_window.workspaces.us_menu.menuAction().isVisible()
    # beside the ultrasound workspace the CT lesion list and toolbar step aside; the browser stays
    assert not w.lesion_panel.isVisible() and w.one_window.browser.isVisible()
    tabs.setCurrentIndex(w.one_window.workspaces.ct_index)
    assert ct_open.isEnabled() and not w.one_window.workspaces.us_menu.menuAction().isVisible()
    assert not us.undo_action.isEnabled()
    assert w.lesion_panel.isVisible() and w.preset_combo.isVisible()


def drop_on(w: MainWindow, paths: list[Path]) -> QtGui.QDropEvent:
    """What a file manager's drag does: enter (the window must accept it), then drop, with file URLs."""
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QtCore.QPointF(w.width() / 2, w.height() / 2)
    actions, left, none = (QtCore.Qt.DropAction.CopyAction, QtCore.Qt.MouseButton.LeftButton,
                           QtCore.Qt.KeyboardModifier.NoModifier)
    enter = QtGui.QDragEnterEvent(pos.toPoint(), actions, mime, left, none)
    QtWidgets.QApplication.sendEvent(w, enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(pos, actions, mime, left, none)
    QtWidgets.QApplication.sendEvent(w, drop)
    return drop


def test_a_drop_of_a_folder_opens_the_study_and_adds_it_to_the_browser(qtbot, tmp_path, data):
    w = make_window(qtbot, tmp_path / "lv.ini")
    assert drop_on(w, [data / "ct"]).isAccepted()
    assert w.study is not None and len(w.study.phases) == 2
    assert not w.one_window.workspaces.showing_us
    with qtbot.waitSignal(w.one_window.index_job.ended, timeout=30000):
        pass
    assert [r[1] for r in tree_rows(w) if r[0] == 2] == ["arterial phase", "portal venous phase"]


def test_a_dropped_ultrasound_image_opens_in_the_ultrasound_tab(qtbot, tmp_path, data):
    w = make_window(qtbot, tmp_path / "lv.ini")
    assert drop_on(w, [data / "us" / "liver_us.png"]).isAccepted()
    assert w.study is None and w.one_window.workspaces.showing_us
    assert Path(w.one_window.workspaces.us.image.source).name == "liver_us.png"
    settle_us(w)


def test_a_drop_of_something_else_is_refused(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "lv.ini")
    mime = QtCore.QMimeData()
    mime.setText("just text")
    enter = QtGui.QDragEnterEvent(QtCore.QPoint(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                                  QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    enter.setAccepted(False)
    QtWidgets.QApplication.sendEvent(w, enter)
    assert not enter.isAccepted()


def test_open_recent_lists_studies_and_images_and_survives_a_new_window(qtbot, tmp_path, data):
    ini = tmp_path / "lv.ini"
    w = make_window(qtbot, ini)
    assert w.open_paths([str(data / "ct")])
    assert w.one_window.open_us(data / "us" / "liver_us.png")
    settle_us(w)
    w.close()

    w2 = make_window(qtbot, ini)
    menu = w2.one_window.recent_menu
    w2.one_window.fill_recent_menu()
    titles = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert titles[:2] == ["Ultrasound: liver_us.png", "CT: ct"]  # newest first
    assert w2.study is None
    next(a for a in menu.actions() if a.text() == "CT: ct").trigger()
    assert w2.study is not None and len(w2.study.phases) == 2
    # a moved study stays listed but cannot be chosen
    (data / "us" / "liver_us.png").rename(data / "us" / "moved.png")
    w2.one_window.fill_recent_menu()
    assert not next(a for a in menu.actions() if a.text() == "Ultrasound: liver_us.png").isEnabled()


def test_a_window_without_settings_keeps_recent_items_only_while_it_lives(qtbot, tmp_path, data):
    w = MainWindow(study_loader=load_for_window, register_mode=None)
    qtbot.addWidget(w)
    assert w.open_paths([str(data / "ct")])
    assert [i.kind for i in w.one_window.recent.items()] == ["CT"]
    w2 = MainWindow(study_loader=load_for_window, register_mode=None)
    qtbot.addWidget(w2)
    assert w2.one_window.recent.items() == []


def test_the_index_goes_into_the_windows_project_when_it_has_one(qtbot, tmp_path, data):
    from liverview.store.project import Project

    project = tmp_path / "reading.lvproj"
    w = make_window(qtbot, tmp_path / "lv.ini", project_path=project)
    assert w.open_paths([str(data / "ct")])  # the annotation session holds the project's lock
    index_and_wait(qtbot, w, [data / "us"])
    w.close()
    with Project.open(project, "someone", read_only=True) as p:
        assert sorted(s.files[0].name for s in p.indexed_series()) == ["liver_us.dcm", "liver_us.png"]
