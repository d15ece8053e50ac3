"""The class a lesion is saved with: the reader's choice, with the model's suggestion preselected.

The model's top class is a suggestion only (it said "hcc" at 44 % on a benign lesion), so the list
shows every class with its probability, preselects the most probable one, and remembers when the
reader has picked (or confirmed) one: a new mask then no longer overrides that choice.
"""

from __future__ import annotations

from typing import Callable, Mapping

from PySide6 import QtWidgets

from liverview.store.records import LESION_CLASSES


def suggested_class(probs: Mapping[str, float]) -> str:
    """The most probable class LiverView knows; 'unknown' when the model gave none of them."""
    known = {k: float(v) for k, v in probs.items() if k in LESION_CLASSES and k != "unknown"}
    return max(known, key=known.__getitem__) if known else "unknown"


class ClassChoice(QtWidgets.QWidget):
    """A labelled class list; ``chosen`` says whether the reader has picked or confirmed the class."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.combo = QtWidgets.QComboBox()
        for name in LESION_CLASSES:
            self.combo.addItem(name, name)
        self.combo.setToolTip("The class the lesion is saved with: the model's suggestion is preselected; "
                              "pick another, or confirm it")
        self.combo.activated.connect(self._picked)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QtWidgets.QLabel("Save as"))
        layout.addWidget(self.combo, 1)
        self.chosen = False
        self.suggestion = "unknown"
        self.on_changed: Callable[[], None] = lambda: None

    @property
    def current_class(self) -> str:
        return str(self.combo.currentData())

    def suggest(self, probs: Mapping[str, float]) -> None:
        """Show the probabilities; preselect the top class unless the reader has chosen one."""
        self.suggestion = suggested_class(probs)
        for n in range(self.combo.count()):
            name = str(self.combo.itemData(n))
            p = probs.get(name)
            self.combo.setItemText(n, name if p is None else f"{name}  {100 * float(p):.0f} %")
        if not self.chosen:
            self.combo.setCurrentIndex(self.combo.findData(self.suggestion))
        self.on_changed()

    def confirm(self) -> None:
        """The reader accepts what is selected."""
        self.chosen = True
        self.on_changed()

    def reset(self) -> None:
        """A new lesion: no choice yet, nothing suggested."""
        self.chosen = False
        self.suggestion = "unknown"
        for n in range(self.combo.count()):
            self.combo.setItemText(n, str(self.combo.itemData(n)))
        self.combo.setCurrentIndex(self.combo.findData("unknown"))
        self.on_changed()

    def _picked(self, _index: int) -> None:
        self.confirm()
