"""The lesion list: class, phase, long/short axis in mm, slice. Selecting a row brings every pane there."""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6 import QtCore, QtWidgets

from liverview.store.records import LESION_CLASSES, LesionRecord
from liverview.ui.panels.row_table import row_table

COLUMNS = ["#", "Class", "Phase", "Long (mm)", "Short (mm)", "Slice", "Status"]


class LesionListPanel(QtWidgets.QWidget):
    """Shows the study's lesions from the project; edits the class of the selected one."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.table = row_table(COLUMNS)
        self.class_combo = QtWidgets.QComboBox()
        self.class_combo.addItems(list(LESION_CLASSES))
        self.class_combo.setToolTip("Class of the selected lesion")
        self.delete_button = QtWidgets.QPushButton("Delete")
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Class"))
        row.addWidget(self.class_combo, 1)
        row.addWidget(self.delete_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row)
        layout.addWidget(self.table)
        self.lesions: list[LesionRecord] = []
        self.on_selected: Callable[[LesionRecord | None], None] = lambda lesion: None
        self.on_class_chosen: Callable[[int, str], None] = lambda lesion_id, cls: None
        self.on_delete: Callable[[int], None] = lambda lesion_id: None
        self._updating = False
        self._editable = True
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.class_combo.activated.connect(self._class_chosen)
        self.delete_button.clicked.connect(self._delete_clicked)
        self._show_class_of(None)
        self.table.resizeColumnsToContents()  # the headers readable before any lesion fills the columns

    def show_lesions(self, lesions: list[LesionRecord], selected_id: int | None) -> None:
        self._updating = True
        try:
            self.lesions = list(lesions)
            self.table.setRowCount(len(self.lesions))
            for r, lesion in enumerate(self.lesions):
                rec = lesion.recist
                cells = [
                    str(lesion.id),
                    lesion.lesion_class,
                    rec.phase if rec else "",
                    f"{rec.long_mm:.1f}" if rec else "",
                    f"{rec.short_mm:.1f}" if rec and rec.short_mm is not None else "",
                    str(rec.key_slice + 1) if rec else "",
                    lesion.status,
                ]
                for c, text in enumerate(cells):
                    item = QtWidgets.QTableWidgetItem(text)
                    if c in (0, 3, 4, 5):
                        item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(r, c, item)
            self.table.resizeColumnsToContents()
            self.select_id(selected_id)
        finally:
            self._updating = False

    def set_editable(self, editable: bool, why: str = "") -> None:
        """A read-only project: the list still shows and selects lesions, but Class and Delete are disabled
        (``why`` in their tooltips), so nothing looks changed that the project did not save."""
        self._editable = editable
        self.class_combo.setToolTip("Class of the selected lesion" if editable else why)
        self.delete_button.setToolTip("" if editable else why)
        self._show_class_of(self.selected())

    def select_id(self, lesion_id: int | None) -> None:
        was = self._updating
        self._updating = True
        try:
            for r, lesion in enumerate(self.lesions):
                if lesion.id == lesion_id:
                    self.table.selectRow(r)
                    self._show_class_of(lesion)
                    return
            self.table.clearSelection()
            self._show_class_of(None)
        finally:
            self._updating = was

    def selected(self) -> LesionRecord | None:
        rows = self.table.selectionModel().selectedRows()
        return self.lesions[rows[0].row()] if rows else None

    def _selection_changed(self) -> None:
        lesion = self.selected()
        self._show_class_of(lesion)
        if not self._updating:
            self.on_selected(lesion)

    def _show_class_of(self, lesion: LesionRecord | None) -> None:
        """The selected lesion's class; with none selected the class box is empty and, like Delete, disabled
        (it showed "cyst", the first class, as if a new mark would get it: new marks are "unknown")."""
        self.class_combo.setEnabled(lesion is not None and self._editable)
        self.delete_button.setEnabled(lesion is not None and self._editable)
        if lesion is None:
            self.class_combo.setCurrentIndex(-1)
        else:
            self.class_combo.setCurrentText(lesion.lesion_class)

    def _class_chosen(self, _index: int) -> None:
        lesion = self.selected()
        if lesion is not None and lesion.lesion_class != self.class_combo.currentText():
            self.on_class_chosen(lesion.id, self.class_combo.currentText())

    def _delete_clicked(self) -> None:
        lesion = self.selected()
        if lesion is not None:
            self.on_delete(lesion.id)


def lesion_focus_point(lesion: LesionRecord) -> np.ndarray | None:
    """Where to bring the panes for a lesion: the middle of its long axis."""
    if lesion.recist is None:
        return None
    a, b = (np.asarray(p, float) for p in lesion.recist.long_axis)
    return (a + b) / 2
