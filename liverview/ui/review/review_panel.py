"""The review dock: progress, filters, the queue sorted by score, thumbnails, decision buttons."""

from __future__ import annotations

from typing import Callable

from PySide6 import QtCore, QtWidgets

from liverview.review.review_queue import QueueFilter, ReviewProgress, box_volume_mm3
from liverview.store.records import PROPOSAL_STATUSES, ProposalRecord
from liverview.ui.panels.row_table import row_table
from liverview.ui.review.proposal_overlay import STATUS_COLORS
from liverview.ui.review.thumbnails import TriPlanarThumbnails

COLUMNS = ["#", "Score", "Class", "Status", "Box (mL)", "Slice"]
BOX_VOLUME_TIP = ("Volume of the proposal's 3D box, not of the lesion: a round lesion fills about half of its "
                  "box (an ellipsoid pi/6, 52 %)")
KEYS_HELP = "A accept   R reject   E edit RECIST   F flag   N / P next / previous   U undo"


def _spin(lo: float, hi: float, decimals: int, step: float, special: str) -> QtWidgets.QDoubleSpinBox:
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setSpecialValueText(special)  # shown at the minimum: "no limit"
    box.setValue(lo)
    box.setKeyboardTracking(False)
    return box


class ReviewPanel(QtWidgets.QWidget):
    """Shows a ReviewQueue; user actions go out through the on_* callbacks."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.progress_label = QtWidgets.QLabel("0 / 0 reviewed")
        self.progress_label.setStyleSheet("font-weight: bold;")
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(8)
        self.status_combo = QtWidgets.QComboBox()
        self.status_combo.addItem("all", None)
        for s in PROPOSAL_STATUSES:
            self.status_combo.addItem(s, s)
        self.min_score = _spin(-0.01, 1.0, 2, 0.05, "any")
        self.max_score = _spin(-0.01, 1.0, 2, 0.05, "any")
        self.min_volume = _spin(-0.01, 1e5, 2, 0.5, "any")
        self.max_volume = _spin(-0.01, 1e5, 2, 0.5, "any")
        filters = QtWidgets.QGridLayout()
        filters.addWidget(QtWidgets.QLabel("Status"), 0, 0)
        filters.addWidget(self.status_combo, 0, 1, 1, 3)
        filters.addWidget(QtWidgets.QLabel("Score"), 1, 0)
        filters.addWidget(self.min_score, 1, 1)
        filters.addWidget(QtWidgets.QLabel("to"), 1, 2)
        filters.addWidget(self.max_score, 1, 3)
        box_label = QtWidgets.QLabel("Box (mL)")
        box_label.setToolTip(BOX_VOLUME_TIP)
        filters.addWidget(box_label, 2, 0)
        filters.addWidget(self.min_volume, 2, 1)
        filters.addWidget(QtWidgets.QLabel("to"), 2, 2)
        filters.addWidget(self.max_volume, 2, 3)
        self.zoom_box = QtWidgets.QCheckBox("Zoom to the box")
        self.zoom_box.setToolTip("Zoom every pane so the proposal's box fills about a third of it")
        self.zoom_box.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        filters.addWidget(self.zoom_box, 3, 0, 1, 4)

        self.table = row_table(COLUMNS)
        self.table.horizontalHeaderItem(COLUMNS.index("Box (mL)")).setToolTip(BOX_VOLUME_TIP)
        # A/R/E/N/P/U reach the review wherever the focus is (ReviewKeys); click focus keeps Tab order short.
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.table.setMinimumHeight(200)

        self.thumbnails = TriPlanarThumbnails()
        self.recist_label = QtWidgets.QLabel("")
        self.recist_label.setWordWrap(True)
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        row = QtWidgets.QHBoxLayout()
        for key, text in (("accept", "Accept (A)"), ("reject", "Reject (R)"), ("edit", "Edit (E)"),
                          ("flag", "Flag (F)")):
            b = QtWidgets.QPushButton(text)
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            row.addWidget(b)
            self.buttons[key] = b
        nav = QtWidgets.QHBoxLayout()
        for key, text in (("previous", "< Prev (P)"), ("next", "Next (N) >"), ("undo", "Undo (U)")):
            b = QtWidgets.QPushButton(text)
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            nav.addWidget(b)
            self.buttons[key] = b
        help_label = QtWidgets.QLabel(KEYS_HELP)
        help_label.setStyleSheet("color: #777; font-size: 10px;")
        help_label.setWordWrap(True)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.progress_bar)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.thumbnails)
        layout.addWidget(self.recist_label)
        layout.addLayout(row)
        layout.addLayout(nav)
        layout.addWidget(help_label)

        self.items: list[ProposalRecord] = []
        self.on_action: Callable[[str], None] = lambda action: None
        self.on_row_chosen: Callable[[int], None] = lambda index: None
        self.on_filter_changed: Callable[[QueueFilter], None] = lambda f: None
        self._updating = False
        for key, b in self.buttons.items():
            b.clicked.connect(lambda _=False, k=key: self.on_action(k))
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.status_combo.currentIndexChanged.connect(self._filter_changed)
        for box in (self.min_score, self.max_score, self.min_volume, self.max_volume):
            box.valueChanged.connect(self._filter_changed)

    # --- filters ---------------------------------------------------------------------------------
    def current_filter(self) -> QueueFilter:
        def value(box: QtWidgets.QDoubleSpinBox, scale: float = 1.0) -> float | None:
            return None if box.value() <= box.minimum() else box.value() * scale

        status = self.status_combo.currentData()
        return QueueFilter(statuses=None if status is None else frozenset({status}),
                           min_score=value(self.min_score), max_score=value(self.max_score),
                           min_volume_mm3=value(self.min_volume, 1000.0),
                           max_volume_mm3=value(self.max_volume, 1000.0))

    def _filter_changed(self, *_args) -> None:
        if self._updating:
            return
        try:
            f = self.current_filter()
        except ValueError as exc:  # an empty range: say so, keep the old list
            self.recist_label.setText(str(exc))
            return
        self.on_filter_changed(f)

    # --- contents --------------------------------------------------------------------------------
    def show_queue(self, items: list[ProposalRecord], index: int | None, progress: ReviewProgress) -> None:
        self._updating = True
        try:
            if [(p.id, p.status) for p in items] != [(p.id, p.status) for p in self.items]:
                self.items = list(items)
                self.table.setRowCount(len(items))
                for r, p in enumerate(items):
                    cells = [str(p.id), f"{p.score:.3f}", p.lesion_class, p.status,
                             f"{box_volume_mm3(p) / 1000:.2f}",
                             "" if p.key_slice is None else str(p.key_slice + 1)]
                    for c, text in enumerate(cells):
                        item = QtWidgets.QTableWidgetItem(text)
                        if c == 3:
                            item.setForeground(QtCore.Qt.GlobalColor.black)
                            item.setBackground(_qcolor(STATUS_COLORS.get(p.status, (200, 200, 200))))
                        if c in (0, 1, 4, 5):
                            item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight
                                                  | QtCore.Qt.AlignmentFlag.AlignVCenter)
                        self.table.setItem(r, c, item)
                self.table.resizeColumnsToContents()
            self.select_row(index)
            self.progress_label.setText(f"{progress}" + (f"  ({progress.shown} shown)"
                                                         if progress.shown != progress.total else ""))
            self.progress_bar.setRange(0, max(progress.total, 1))
            self.progress_bar.setValue(progress.reviewed)
        finally:
            self._updating = False

    def select_row(self, index: int | None) -> None:
        was = self._updating
        self._updating = True
        try:
            if index is None or not 0 <= index < self.table.rowCount():
                self.table.clearSelection()
            else:
                self.table.selectRow(index)
                self.table.scrollToItem(self.table.item(index, 0))
        finally:
            self._updating = was

    def _selection_changed(self) -> None:
        if self._updating:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.on_row_chosen(rows[0].row())


def _qcolor(rgb: tuple[int, int, int]):
    from PySide6 import QtGui

    return QtGui.QColor(*rgb)
