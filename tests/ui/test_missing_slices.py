"""A DICOM series with a slice missing, in the viewer: the gap keeps its place, is hatched in the axial pane and
in the reformats, reads as 'no data' under the cursor, and nothing can be drawn on it."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from liverview.core.slicing import Orientation
from liverview.ui.app import load_for_window
from liverview.ui.main_window import MainWindow
from liverview.ui.panes.windowing import HATCH_GREYS
from tests.malformed_corpus import write_ct_series
from tests.ui.test_recist_tool import drag

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    paths = write_ct_series(tmp_path / "ct", n=9, rows=96, cols=96)
    paths[4].unlink()  # lost on the way: the positions jump from 105 to 110 mm
    w = MainWindow(study_loader=load_for_window, register_mode=None, project_path=tmp_path / "p.lvproj",
                   user="reader")
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_paths([str(tmp_path / "ct")])
    QtWidgets.QApplication.processEvents()
    yield w
    w.close()


def shown(pane) -> np.ndarray:
    return np.asarray(pane.image.image)


def is_hatch(pixels: np.ndarray) -> bool:
    return set(np.unique(pixels).tolist()) == set(HATCH_GREYS)


def test_the_study_opens_and_resets_onto_an_acquired_slice_when_its_centre_is_missing(window):
    pane = window.grid.panes[0]
    assert window.study.reference.volume.missing_slices == (4,)  # the centre slice of 9
    assert not pane.on_missing_slice and "slice 4/9" in pane.corner_bl.text()  # the lower neighbour
    pane.go_to_slice(7)
    window.grid.reset_views()
    assert not pane.on_missing_slice and "slice 4/9" in pane.corner_bl.text()


def test_the_missing_slice_is_hatched_named_and_never_read_or_drawn_on(window, qtbot, tmp_path):
    pane = window.grid.panes[0]
    volume = window.study.reference.volume
    assert volume.missing_slices == (4,) and volume.spacing[2] == pytest.approx(2.5)
    assert any("1 slice(s) missing" in m for m in window.messages)

    pane.go_to_slice(3)
    assert not pane.on_missing_slice and not is_hatch(shown(pane)) and "MISSING" not in pane.corner_bl.text()
    pane.go_to_slice(4)
    assert pane.on_missing_slice and is_hatch(shown(pane))
    assert "slice 5/9  MISSING" in pane.corner_bl.text()
    # at its true height: 100 + 4 x 2.5 mm (the mean step of the 8 files would say 100 + 4 x 2.857)
    assert "z = 110.0 mm" in pane.corner_bl.text()
    window.state.set_cursor(pane.pane_id, pane.pane_view.focus)
    assert "no data (missing slice)" in pane.corner_tr.text()
    shot = tmp_path / "missing_axial.png"
    assert window.grab().save(str(shot))

    window.measure_action.setChecked(True)
    vp = pane.view.viewport()
    centre = QtCore.QPoint(vp.width() // 2, vp.height() // 2)
    view_before = (pane.pane_view.window_center, pane.pane_view.window_width)
    drag(qtbot, vp, centre - QtCore.QPoint(60, 0), centre + QtCore.QPoint(60, 30))
    assert window.session.project.list_lesions(window.session.study_id) == []  # nothing measured on no data
    assert (pane.pane_view.window_center, pane.pane_view.window_width) == view_before
    pane.go_to_slice(3)
    # a second press on the same spot within the double-click interval would be a double click, not a drag
    qtbot.wait(QtWidgets.QApplication.doubleClickInterval() + 50)
    drag(qtbot, vp, centre - QtCore.QPoint(50, 20), centre + QtCore.QPoint(60, 30))
    assert len(window.session.project.list_lesions(window.session.study_id)) == 1  # a real slice takes marks

    window.state.set_orientation(pane.pane_id, Orientation.CORONAL)
    QtWidgets.QApplication.processEvents()
    image = shown(pane)
    hatched_rows = [r for r in range(image.shape[0]) if is_hatch(image[r])]
    assert len(hatched_rows) == 1  # one row per slice; slices run head (top) to feet: slice 5 of 9 is row 4
    assert hatched_rows == [4]
    assert "hatched: 1 missing slice(s)" in pane.corner_bl.text()
    shot_coronal = tmp_path / "missing_coronal.png"
    assert window.grab().save(str(shot_coronal))
    if os.environ.get("LIVERVIEW_SHOTS"):
        target = os.environ["LIVERVIEW_SHOTS"]
        shutil.copy(shot, target.replace(".png", "_axial.png"))
        shutil.copy(shot_coronal, target.replace(".png", "_coronal.png"))


def test_a_proposal_whose_key_slice_is_missing_is_shown_on_the_nearest_acquired_slice():
    from types import SimpleNamespace

    from liverview.core.volume import Volume
    from liverview.ui.review.thumbnails import proposal_centre

    volume = Volume(np.zeros((9, 20, 20), np.int16), (0.7, 0.7, 2.5), missing_slices=(4,))
    box = SimpleNamespace(min_ijk=(2, 2, 3), max_ijk=(8, 8, 6))
    on_gap = SimpleNamespace(box=box, key_slice=4)
    assert volume.world_to_index(proposal_centre(on_gap, volume))[2] == pytest.approx(3)
    acquired = SimpleNamespace(box=box, key_slice=5)
    assert volume.world_to_index(proposal_centre(acquired, volume))[2] == pytest.approx(5)


def test_no_mask_outline_is_drawn_on_a_missing_slice(window):
    from liverview.ui.panes.mask_outline_overlay import MaskOutlineOverlay

    pane = window.grid.panes[0]
    volume = window.study.reference.volume
    mask = np.zeros(volume.array.shape, np.uint8)
    mask[:, 30:60, 30:60] = 1  # through every slice, the missing one included
    overlay = MaskOutlineOverlay([pane], volume.with_array(mask))
    pane.go_to_slice(3)
    assert overlay.segment_count(pane) > 0
    pane.go_to_slice(4)
    assert pane.on_missing_slice and overlay.segment_count(pane) == 0
    pane.go_to_slice(5)
    assert overlay.segment_count(pane) > 0
    overlay.close()
