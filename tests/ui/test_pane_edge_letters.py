"""Each CT pane shows R/L/A/P/S/I at its edges, from the volume's direction and the pane's view."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets

from liverview.core.orientation_letters import EdgeLetters
from liverview.core.slicing import Orientation
from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def lits_like_study() -> Study:
    """One phase stored like LiTS volumes: direction diag(1, -1, -1)."""
    vol = Volume(np.zeros((20, 40, 50), np.int16), (1.0, 1.0, 2.5), (0.0, 0.0, 0.0), np.diag([1.0, -1.0, -1.0]))
    return Study([Phase(PhaseKind.PORTAL_VENOUS, vol, description="pv")], patient_id="LITS")


@pytest.fixture
def pane(qtbot):
    w = MainWindow(study_loader=None, register_mode=None)
    qtbot.addWidget(w)
    w.resize(900, 700)
    w.show()
    qtbot.waitExposed(w)
    w.set_study(lits_like_study())
    QtWidgets.QApplication.processEvents()
    yield w.grid.panes[0]
    w.close()


def test_letters_follow_the_view_and_sit_at_the_edges(pane):
    assert pane.edge_letters.texts() == EdgeLetters(left="R", right="L", top="A", bottom="P")
    labels = pane.edge_letters.labels
    w, h = pane.view.width(), pane.view.height()
    assert all(label.isVisible() for label in labels.values())
    assert labels["left"].x() < w * 0.1 and labels["right"].x() > w * 0.85
    assert labels["top"].y() < h * 0.1 and labels["bottom"].y() > h * 0.85
    assert abs(labels["top"].x() + labels["top"].width() / 2 - w / 2) < 5

    pane.set_orientation(Orientation.SAGITTAL)
    QtWidgets.QApplication.processEvents()
    assert pane.edge_letters.texts() == EdgeLetters(left="A", right="P", top="S", bottom="I")


def test_letters_stay_at_the_edges_after_a_resize(pane):
    window = pane.window()
    window.resize(1200, 900)
    QtWidgets.QApplication.processEvents()
    right = pane.edge_letters.labels["right"]
    assert right.x() + right.width() <= pane.view.width()
    assert right.x() > pane.view.width() * 0.85


def test_a_long_corner_text_never_hides_under_the_top_letter(pane, qtbot):
    pane.corner_tl.setText("portal venous (reference) with a long series description\naxial")
    pane._place_corners([pane.corner_tl])
    top = pane.edge_letters.labels["top"]
    assert not top.geometry().intersects(pane.corner_tl.geometry())
    assert top.y() > pane.corner_tl.geometry().bottom()
