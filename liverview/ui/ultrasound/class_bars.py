"""Class probabilities of the segmented lesion: one bar per class and one for 'malignant'."""

from __future__ import annotations

from typing import Mapping

from PySide6 import QtWidgets

US_CLASSES = ("cyst", "hemangioma", "metastasis", "hcc")
_LABELS = {"cyst": "Cyst", "hemangioma": "Hemangioma", "metastasis": "Metastasis", "hcc": "HCC"}
MALIGNANT_COLOUR = "#d9534f"
UNVALIDATED_COLOUR = "#777"  # a score the model's card does not vouch for is not drawn in alarm red
_BAR_STYLE = "QProgressBar {{ border: 1px solid #666; border-radius: 2px; background: #222; color: #eee;" \
             " text-align: center; min-height: 16px; }} QProgressBar::chunk {{ background: {colour}; }}"


class ClassProbabilityBars(QtWidgets.QWidget):
    """Bars for the four classes (the most probable in bold) and for benign vs malignant."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setVerticalSpacing(3)
        self.labels: dict[str, QtWidgets.QLabel] = {}
        self.bars: dict[str, QtWidgets.QProgressBar] = {}
        rows = [(c, _LABELS[c], "#4a90d9") for c in US_CLASSES] + [("malignant", "Malignant", MALIGNANT_COLOUR)]
        for row, (key, text, colour) in enumerate(rows):
            label = QtWidgets.QLabel(text)
            bar = QtWidgets.QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setStyleSheet(_BAR_STYLE.format(colour=colour))
            if key == "malignant":
                grid.addWidget(_separator(), row, 0, 1, 2)
                row += 1
            grid.addWidget(label, row, 0)
            grid.addWidget(bar, row, 1)
            self.labels[key], self.bars[key] = label, bar
        grid.setColumnStretch(1, 1)
        self.set_malignancy_validated(False)
        self.clear()

    def set_malignancy_validated(self, validated: bool) -> None:
        """Red bar for a p(malignant) the active model's card validates on liver; grey, with "not validated" in
        the bar, otherwise."""
        self.malignancy_validated = bool(validated)
        colour = MALIGNANT_COLOUR if validated else UNVALIDATED_COLOUR
        self.bars["malignant"].setStyleSheet(_BAR_STYLE.format(colour=colour))

    def clear(self) -> None:
        for key, bar in self.bars.items():
            bar.setValue(0)
            bar.setFormat("-")
            self._bold(key, False)
        self.setEnabled(False)

    def set_probabilities(self, class_probs: Mapping[str, float], malignant: float | None) -> None:
        self.setEnabled(True)
        best = max(class_probs, key=class_probs.__getitem__) if class_probs else None
        for key in US_CLASSES:
            self._show(key, class_probs.get(key))
            self._bold(key, key == best)
        self._show("malignant", malignant)

    def value(self, key: str) -> float:
        """The probability a bar shows, 0..1 (for tests)."""
        return self.bars[key].value() / 1000.0

    def _show(self, key: str, p: float | None) -> None:
        bar = self.bars[key]
        if p is None:
            bar.setValue(0)
            bar.setFormat("n/a")
            return
        bar.setValue(int(round(max(0.0, min(1.0, float(p))) * 1000)))
        caveat = " (not validated)" if key == "malignant" and not self.malignancy_validated else ""
        bar.setFormat(f"{float(p) * 100:.0f} %{caveat}")

    def _bold(self, key: str, on: bool) -> None:
        font = self.labels[key].font()
        font.setBold(on)
        self.labels[key].setFont(font)


def _separator() -> QtWidgets.QFrame:
    line = QtWidgets.QFrame()
    line.setFrameShape(QtWidgets.QFrame.Shape.HLine)
    line.setFrameShadow(QtWidgets.QFrame.Shadow.Sunken)
    line.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
    return line
