"""The Studies dock: indexed studies as a tree (patient > study > series / image) with modality, phase and image
count. Double-click (or Enter) asks to open: a CT study or series in the multi-phase viewer, an ultrasound image
in the ultrasound workspace. The widget only shows entries and says what was asked; the window opens them."""

from __future__ import annotations

from typing import Callable, Sequence

from PySide6 import QtCore, QtWidgets

from liverview.core.indexed_series import IndexedSeries
from liverview.io.study_index import group_by_patient

COLUMNS = ("Patient / study / series", "Modality", "Phase", "Images")
ENTRIES_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1  # the IndexedSeries a row opens (a study row: all of them)
SERIES_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2  # a series / image row's own entry


def _date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


class StudyBrowser(QtWidgets.QWidget):
    """``on_open(entries)`` is called with the CT series of a study or series row, or with one US image."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_open: Callable[[list[IndexedSeries]], None] = lambda entries: None
        self.on_index: Callable[[], None] = lambda: None
        self.entries: list[IndexedSeries] = []
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        # every column as wide as its text: names are never cut, a narrow dock scrolls sideways instead
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.tree.setIndentation(14)
        self.tree.itemActivated.connect(self._activated)  # double-click and Enter
        self.index_button = QtWidgets.QPushButton("Index folder...")
        self.index_button.setToolTip("Add a DICOM folder or archive, volume files or ultrasound images to the "
                                     "browser (headers only; nothing is copied)")
        self.index_button.clicked.connect(lambda: self.on_index())
        self.summary = QtWidgets.QLabel("Nothing indexed yet: index a folder, or drop folders and files on the window.")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #666;")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.index_button)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.summary)

    def show_entries(self, entries: Sequence[IndexedSeries]) -> None:
        """Show these entries (the whole index), patients, studies and series expanded."""
        self.entries = list(entries)
        self.tree.clear()
        for patient in group_by_patient(self.entries):
            name = f"{patient.patient_id} ({patient.patient_name})" if patient.patient_name else patient.patient_id
            p_item = QtWidgets.QTreeWidgetItem([name, "", "", ""])
            p_item.setToolTip(0, name)
            self.tree.addTopLevelItem(p_item)
            for study in patient.studies:
                when = _date(study.date)
                text = f"{study.description}" + (f"  {when}" if when else "")
                ct = [s for s in study.series if s.modality == "CT"]
                s_item = QtWidgets.QTreeWidgetItem([text, study.modalities, "", str(sum(s.frames for s in study.series))])
                s_item.setToolTip(0, f"{text}\n{study.study_uid}")
                # a study row opens its CT series as one multi-phase study (an ultrasound study: its first image)
                s_item.setData(0, ENTRIES_ROLE, ct or list(study.series[:1]))
                p_item.addChild(s_item)
                for series in study.series:
                    row = QtWidgets.QTreeWidgetItem([series.label, series.modality, series.phase or "-",
                                                     str(series.frames)])
                    row.setToolTip(0, "\n".join(str(f) for f in series.files[:3])
                                   + (f"\n... {len(series.files)} files" if len(series.files) > 3 else ""))
                    # a CT series row opens its whole study: the viewer shows a study's phases side by side
                    row.setData(0, ENTRIES_ROLE, ct if series.modality == "CT" else [series])
                    row.setData(0, SERIES_ROLE, series)
                    s_item.addChild(row)
        self.tree.expandAll()
        self.updateGeometry()
        n_studies = sum(len(p.studies) for p in group_by_patient(self.entries))
        self.summary.setText(f"{n_studies} stud{'y' if n_studies == 1 else 'ies'}, {len(self.entries)} series or "
                             "images. Double-click a study or series to open it." if self.entries else
                             "Nothing indexed yet: index a folder, or drop folders and files on the window.")

    def wanted_width(self) -> int:
        """The width that shows every column without cutting (the dock is sized to it, within reason)."""
        header = self.tree.header()
        return sum(header.sectionSize(c) for c in range(len(COLUMNS))) + 2 * self.tree.frameWidth() + 16

    def item_for(self, predicate: Callable[[IndexedSeries], bool]) -> QtWidgets.QTreeWidgetItem | None:
        """The first series / image row whose own entry matches (tests, and finding what was just indexed)."""
        it = QtWidgets.QTreeWidgetItemIterator(self.tree)
        while it.value() is not None:
            entry = it.value().data(0, SERIES_ROLE)
            if entry is not None and predicate(entry):
                return it.value()
            it += 1
        return None

    def _activated(self, item: QtWidgets.QTreeWidgetItem, _column: int) -> None:
        entries = item.data(0, ENTRIES_ROLE)
        if entries:
            self.on_open(list(entries))
