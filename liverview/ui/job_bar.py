"""The status-bar widget that shows a background job's progress and lets the user cancel it."""

from __future__ import annotations

from PySide6 import QtWidgets

from liverview.ui.workers import Job


class JobBar(QtWidgets.QWidget):
    """Progress and cancel of the running background job, in the status bar."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.label = QtWidgets.QLabel()
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(180)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.bar, self.cancel_button):
            layout.addWidget(w)
        self.job: Job | None = None
        self.cancel_button.clicked.connect(self._cancel)
        self.hide()

    def track(self, job: Job) -> None:
        self.job = job
        self.label.setText(job.title)
        self.bar.setValue(0)
        job.progress.connect(lambda f: self.bar.setValue(int(max(0.0, min(1.0, f)) * 1000)))
        job.ended.connect(self._ended)
        self.show()

    def _ended(self) -> None:
        self.job = None
        self.hide()

    def _cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.label.setText(f"{self.job.title}: cancelling...")
