"""A filterable table of DICOM tags (the file behind the image on screen), or a note saying why there are none."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from liverview.io.dicom_tags import TagRow

COLUMNS = ("Tag", "Name", "VR", "Value")


class DicomTagsPanel(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[TagRow] = []
        self.source_label = QtWidgets.QLabel()
        self.source_label.setWordWrap(True)
        self.source_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.filter = QtWidgets.QLineEdit()
        self.filter.setPlaceholderText("Filter (tag, name or value)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.source_label)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)

    def show_tags(self, source: str, rows: list[TagRow]) -> None:
        self.source_label.setText(source)
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            indent = "    " * row.depth  # sequence items are indented under their sequence
            for c, text in enumerate((row.tag, indent + row.keyword, row.vr, row.value)):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self._apply_filter(self.filter.text())

    def show_note(self, text: str) -> None:
        """No tags to show (a study from NIfTI, a point outside the series, an unreadable file): say why."""
        self.show_tags(text, [])

    def visible_rows(self) -> list[TagRow]:
        return [row for r, row in enumerate(self.rows) if not self.table.isRowHidden(r)]

    def _apply_filter(self, text: str) -> None:
        for r, row in enumerate(self.rows):
            self.table.setRowHidden(r, not row.matches(text))
