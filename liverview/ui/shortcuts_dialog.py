"""Help > Keyboard shortcuts: a filterable table of every key the app handles (see liverview.ui.shortcuts)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from liverview.ui.shortcuts import Shortcut, clashes

COLUMNS = ("Keys", "Action", "Where")


class ShortcutsDialog(QtWidgets.QDialog):
    """Shows ``rows``; typing in the filter keeps the rows whose keys, action or place contain the text."""

    def __init__(self, rows: list[Shortcut], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcuts-dialog")
        self.resize(720, 520)
        self.rows = rows
        self.filter = QtWidgets.QLineEdit()
        self.filter.setPlaceholderText("Filter (key, action or place)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.table = QtWidgets.QTableWidget(len(rows), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        for r, row in enumerate(rows):
            for c, text in enumerate((row.keys, row.what, row.where)):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        shared = clashes(rows)
        if shared:
            # A key bound in two places does different things by where the focus is: say so, do not hide it.
            note = QtWidgets.QLabel("Keys with more than one meaning (the place decides): " + "; ".join(
                f"{key}: " + ", ".join(f"{r.what} ({r.where})" for r in owners) for key, owners in sorted(shared.items())))
            note.setWordWrap(True)
            note.setObjectName("shortcut-clashes")
            layout.addWidget(note)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def visible_keys(self) -> list[str]:
        """The Keys column of the rows shown now (for tests and for copying)."""
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().casefold()
        for r, row in enumerate(self.rows):
            hay = f"{row.keys} {row.what} {row.where}".casefold()
            self.table.setRowHidden(r, bool(needle) and needle not in hay)


def show_shortcuts(window: QtWidgets.QMainWindow, rows: list[Shortcut]) -> ShortcutsDialog:
    """Open (or raise) the window's shortcuts dialog, non-modal so it can stay beside the images."""
    old = window.findChild(ShortcutsDialog, "shortcuts-dialog", QtCore.Qt.FindChildOption.FindDirectChildrenOnly)
    if old is not None:
        old.close()
        old.deleteLater()
    dialog = ShortcutsDialog(rows, window)
    dialog.show()
    dialog.raise_()
    return dialog
