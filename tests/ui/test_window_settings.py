"""Layout, W/L preset and dialog folders kept in QSettings, always in a test's own ini file."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from liverview.core.view_state import WINDOW_PRESETS
from liverview.ui.main_window import MainWindow
from liverview.ui.window_settings import ini_settings
from tests.ui.study_fixtures import multi_grid_study

pytestmark = pytest.mark.gui


@pytest.fixture
def ini(tmp_path) -> Path:
    return tmp_path / "liverview.ini"


def make_window(qtbot, ini: Path) -> MainWindow:
    w = MainWindow(study_loader=None, register_mode=None, settings=ini_settings(ini))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_layout_is_kept_across_windows(qtbot, ini):
    first = make_window(qtbot, ini)
    first.resize(720, 560)  # within the offscreen screen (800 x 800): restoreGeometry keeps windows on screen
    first.tags_dock.dock.show()
    first._messages_dock.show()
    QtWidgets.QApplication.processEvents()
    size = (first.width(), first.height())
    first.close()
    assert ini.is_file()

    second = make_window(qtbot, ini)
    QtWidgets.QApplication.processEvents()
    assert (second.width(), second.height()) == size
    assert second.tags_dock.dock.isVisible() and second._messages_dock.isVisible()
    second.close()


def test_the_preset_chosen_last_opens_the_next_study(qtbot, ini):
    first = make_window(qtbot, ini)
    first.set_study(multi_grid_study())
    bone = next(n for n, p in enumerate(WINDOW_PRESETS) if p.name == "Bone")
    first._apply_preset(bone)
    first.close()

    second = make_window(qtbot, ini)
    second.set_study(multi_grid_study())
    for pane in second.grid.panes:
        assert (pane.pane_view.window_center, pane.pane_view.window_width) == (400.0, 1800.0)
    second.close()


def test_dialogs_start_in_the_folder_used_last(qtbot, ini, tmp_path, monkeypatch):
    studies = tmp_path / "archive"
    (studies / "patient1").mkdir(parents=True)
    asked: list[str] = []

    def fake_dir(parent, caption, start=""):
        asked.append(start)
        return str(studies / "patient1")

    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", staticmethod(fake_dir))
    first = make_window(qtbot, ini)
    monkeypatch.setattr(first, "open_paths", lambda paths: True)
    first._open_folder_dialog()
    first.close()
    second = make_window(qtbot, ini)
    monkeypatch.setattr(second, "open_paths", lambda paths: True)
    second._open_folder_dialog()
    assert asked == ["", str(studies)]  # the parent of the folder opened: the next study is a sibling
    second.close()


def test_a_window_without_settings_keeps_nothing(qtbot, tmp_path, monkeypatch):
    """Tests and screenshots build windows without settings: the user's file is never touched."""
    monkeypatch.setattr(QtCore.QSettings, "setValue", lambda *a: pytest.fail("settings written"))
    w = MainWindow(study_loader=None, register_mode=None)
    qtbot.addWidget(w)
    w.show()
    w.set_study(multi_grid_study())
    w._apply_preset(0)
    w.close()
    assert w.kept is None
