"""The read-only, one-row-at-a-time table the side panels list lesions and proposals in."""

from __future__ import annotations

from typing import Sequence

from PySide6 import QtWidgets


def row_table(columns: Sequence[str]) -> QtWidgets.QTableWidget:
    """A table whose rows are selected whole, one at a time, and never edited in place."""
    table = QtWidgets.QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    return table
