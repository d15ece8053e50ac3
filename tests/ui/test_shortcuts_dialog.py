"""Help > Keyboard shortcuts lists every key the app handles, built from the bindings the code uses."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from liverview.ui.main_window import MainWindow
from liverview.ui.panes.slice_pane import PANE_KEYS
from liverview.ui.review.review_controller import REVIEW_KEYS
from liverview.ui.shortcuts import key_text
from liverview.ui.shortcuts_dialog import ShortcutsDialog
from tests.ui.study_fixtures import multi_grid_study

pytestmark = pytest.mark.gui

NATIVE = QtGui.QKeySequence.SequenceFormat.NativeText


@pytest.fixture
def window(qtbot):
    w = MainWindow(study_loader=None, register_mode=None)
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def open_from_help_menu(window) -> ShortcutsDialog:
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    item = next(a for a in help_menu.actions() if a.text().startswith("Keyboard shortcuts"))
    item.trigger()
    QtWidgets.QApplication.processEvents()
    dialog = window.findChild(ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def listed_keys(dialog: ShortcutsDialog) -> set[str]:
    """Every single key sequence named in the dialog's Keys column."""
    return {k.strip() for text in dialog.visible_keys() for part in text.split(",") for k in part.split(" / ")}


def test_every_shortcut_of_the_main_window_is_listed(window):
    dialog = open_from_help_menu(window)
    listed = listed_keys(dialog)
    bound = {seq.toString(NATIVE) for a in window.findChildren(QtGui.QAction) for seq in a.shortcuts()}
    assert len(bound) >= 10  # open, presets 1-6, reset, RECIST, undo, redo, delete, help ...
    assert bound - listed == set()
    assert {"Ctrl+R", "M", "F1"} <= listed


def test_pane_and_review_keys_come_from_the_tables_the_handlers_use(window):
    listed = listed_keys(open_from_help_menu(window))
    assert {key_text(k) for b in PANE_KEYS for k in b.keys} <= listed
    assert set(REVIEW_KEYS) <= listed


def test_the_pane_handler_runs_the_listed_key(window, qtbot):
    """The table the help lists is the one the pane dispatches on: End goes to the last slice."""
    window.set_study(multi_grid_study())
    pane = window.grid.panes[0]
    pane.view.setFocus()
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_End)
    assert pane.shown_slice == pane.geometry.slice_count - 1
    qtbot.keyClick(pane.view, QtCore.Qt.Key.Key_Home)
    assert pane.shown_slice == 0


def test_filter_keeps_matching_rows_and_clashes_are_said(window):
    dialog = open_from_help_menu(window)
    dialog.filter.setText("undo")
    shown = dialog.visible_keys()
    assert shown and all(
        "undo" in f"{dialog.table.item(r, 1).text()}".casefold()
        for r in range(dialog.table.rowCount()) if not dialog.table.isRowHidden(r))
    dialog.filter.setText("")
    assert len(dialog.visible_keys()) == dialog.table.rowCount()
    # R resets a pane and rejects a proposal in the review: the dialog says both.
    note = dialog.findChild(QtWidgets.QLabel, "shortcut-clashes")
    assert note is not None and "R:" in note.text() and "reject" in note.text()


def test_opening_twice_keeps_one_dialog(window):
    open_from_help_menu(window)
    window.show_shortcuts()
    QtWidgets.QApplication.processEvents()
    visible = [d for d in window.findChildren(ShortcutsDialog) if d.isVisible()]
    assert len(visible) == 1
