"""The worklist dock: the project's studies in a table (patient, date, phases, proposals to review / accepted /
rejected / flagged), sorted by any column, filtered by text and by "to review only"; a double-click opens a study.
The rows come from the store (liverview.store.worklist); this is only their table."""

from __future__ import annotations

from typing import Callable, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from liverview.store.scan_methods import ScanRecord
from liverview.store.worklist import WorklistRow

# The study's description last: it takes the room left, so the counts stay in sight in a narrow dock.
# Flagged (kept for a second look) has its own column: the counts then add up to the study's proposals.
COLUMNS = ("Patient", "Date", "Phases", "To review", "Accepted", "Rejected", "Flagged", "Study")
# Short headers for the narrow counts (a full word is wider than any count): the Flagged column stays in a
# 580 px dock; each header's tooltip says the whole word.
HEADERS = {"Accepted": "Acc.", "Rejected": "Rej.", "Flagged": "Flag."}
HEADER_TIPS = {"To review": "proposals not decided yet", "Accepted": "accepted, as proposed or after editing",
               "Rejected": "rejected", "Flagged": "flagged for a second look"}
TO_REVIEW = COLUMNS.index("To review")
_COUNT_COLUMNS = {TO_REVIEW: "to_review", COLUMNS.index("Accepted"): "accepted", COLUMNS.index("Rejected"): "rejected",
                  COLUMNS.index("Flagged"): "flagged"}
_STUDY = COLUMNS.index("Study")
FAILED_NAMED = 3  # failed studies named on the panel; the tooltip lists them all
SORT_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1  # numbers sort as numbers, not as text
STUDY_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2


class WorklistModel(QtCore.QAbstractTableModel):
    """The rows as a Qt table; ``current_id`` is the open study, shown in bold."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[WorklistRow] = []
        self.current_id: int | None = None

    def set_rows(self, rows: Sequence[WorklistRow], current_id: int | None) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.current_id = current_id
        self.endResetModel()

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=QtCore.Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != QtCore.Qt.Orientation.Horizontal:
            return None
        name = COLUMNS[section]
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return HEADERS.get(name, name)
        if role == QtCore.Qt.ItemDataRole.ToolTipRole and name in HEADER_TIPS:
            return f"{name}: {HEADER_TIPS[name]}"
        return None

    def data(self, index: QtCore.QModelIndex, role=QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r, col = self.rows[index.row()], index.column()
        if role in (QtCore.Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            if col in _COUNT_COLUMNS:
                return getattr(r, _COUNT_COLUMNS[col])
            text = {0: r.patient_id or "-", 1: r.date, 2: " ".join(r.phases), _STUDY: r.description or r.uid}[col]
            return text.lower() if role == SORT_ROLE else text
        if role == STUDY_ID_ROLE:
            return r.study_id
        if role == QtCore.Qt.ItemDataRole.TextAlignmentRole and col in _COUNT_COLUMNS:
            return int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        if role == QtCore.Qt.ItemDataRole.FontRole and r.study_id == self.current_id:
            font = QtGui.QFont()
            font.setBold(True)
            return font
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            return f"{r.label}: {r.proposals} proposals\n{r.uid}"
        return None


class WorklistFilter(QtCore.QSortFilterProxyModel):
    """Text in any column (case-insensitive), and optionally only the studies with proposals to review."""

    def __init__(self) -> None:
        super().__init__()
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.to_review_only = False

    def set_to_review_only(self, on: bool) -> None:
        self.to_review_only = on
        self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QtCore.QModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if self.to_review_only and not model.rows[row].to_review:
            return False
        return super().filterAcceptsRow(row, parent)


class WorklistPanel(QtWidgets.QWidget):
    """Filter field, "to review only" box, the table and a count line. ``on_open(study_id)`` on double-click or
    Enter."""

    def __init__(self) -> None:
        super().__init__()
        self.on_open: Callable[[int], None] = lambda study_id: None
        self.model = WorklistModel()
        self.proxy = WorklistFilter()
        self.proxy.setSourceModel(self.model)
        self.filter_edit = QtWidgets.QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: patient, study, date, phase")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._text_changed)
        self.to_review_box = QtWidgets.QCheckBox("To review only")
        self.to_review_box.toggled.connect(self._to_review_toggled)
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, QtCore.Qt.SortOrder.AscendingOrder)  # the project's order until a click
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        # the study's name takes the width left (wrapped; the row's tooltip names it in full): a fixed width put it
        # past the dock's edge at the default width, behind a horizontal scroll bar
        header.setSectionResizeMode(_STUDY, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._activated)
        self.table.activated.connect(self._activated)  # Enter on a row
        self.count_label = QtWidgets.QLabel("")
        # studies whose scan failed have no row: said here, or a reader takes the archive for read in full
        self.failed_label = QtWidgets.QLabel("")
        self.failed_label.setWordWrap(True)
        self.failed_label.setStyleSheet("color: #c0392b;")
        self.failed_label.setVisible(False)
        self.next_label = QtWidgets.QLabel("")  # which study the review goes to after this one
        self.next_label.setWordWrap(True)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.to_review_box)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)
        layout.addWidget(self.failed_label)
        layout.addWidget(self.next_label)

    def show_rows(self, rows: Sequence[WorklistRow], current_id: int | None,
                  failed: Sequence[ScanRecord] = ()) -> None:
        self.model.set_rows(rows, current_id)
        self._update_count()
        self._show_failed(failed)
        self.select(current_id)

    def _show_failed(self, failed: Sequence[ScanRecord]) -> None:
        self.failed_label.setVisible(bool(failed))
        if not failed:
            self.failed_label.setText("")
            self.failed_label.setToolTip("")
            return
        n = len(failed)
        named = ", ".join(record.source for record in failed[:FAILED_NAMED]) + (", ..." if n > FAILED_NAMED else "")
        self.failed_label.setText(
            f"{n} stud{'y' if n == 1 else 'ies'} of the archive could not be scanned and "
            f"{'is' if n == 1 else 'are'} not listed: {named}. `liverview scan` tries them again.")
        self.failed_label.setToolTip("\n".join(f"{record.source}: {record.message}" for record in failed))

    def show_next(self, text: str) -> None:
        self.next_label.setText(text)

    def ordered_rows(self) -> list[WorklistRow]:
        """The rows as the table shows them now: sorted and filtered."""
        return [self.model.rows[self.proxy.mapToSource(self.proxy.index(n, 0)).row()]
                for n in range(self.proxy.rowCount())]

    def select(self, study_id: int | None) -> None:
        for n in range(self.proxy.rowCount()):
            if self.proxy.index(n, 0).data(STUDY_ID_ROLE) == study_id:
                self.table.selectRow(n)
                self.table.scrollTo(self.proxy.index(n, 0))
                return
        self.table.clearSelection()

    def _activated(self, index: QtCore.QModelIndex) -> None:
        study_id = index.data(STUDY_ID_ROLE)
        if study_id is not None:
            self.on_open(int(study_id))

    def _text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self._update_count()

    def _to_review_toggled(self, on: bool) -> None:
        self.proxy.set_to_review_only(on)
        self._update_count()

    def _update_count(self) -> None:
        rows = self.model.rows
        shown, pending = self.proxy.rowCount(), sum(r.to_review for r in rows)
        waiting = sum(1 for r in rows if r.to_review)
        flagged = sum(r.flagged for r in rows)
        text = f"{len(rows)} studies" if shown == len(rows) else f"{shown} of {len(rows)} studies shown"
        self.count_label.setText(f"{text}; {pending} proposals to review in {waiting} studies"
                                 + (f"; {flagged} flagged for a second look" if flagged else ""))
