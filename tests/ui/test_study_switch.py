"""Opening another study, and what registration tells the reader: the second study gets registered even
when the first was still registering, panes left unaligned say so, and no readout from the old study stays."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets

from liverview.core.study import Phase, PhaseKind, Study
from liverview.ui.main_window import MainWindow
from tests.ui.study_fixtures import body_volume

pytestmark = pytest.mark.gui


def small_study(patient: str, hu_offset: int = 0) -> Study:
    """Two phases on slightly different grids: quick to register rigidly."""
    pv = body_volume((16, 48, 48), (4.0, 4.0, 4.0), (-94.0, -94.0, -30.0), hu_offset)
    art = body_volume((16, 48, 48), (4.0, 4.0, 4.0), (-92.0, -95.0, -28.0), hu_offset + 40)
    return Study([Phase(PhaseKind.ARTERIAL, art), Phase(PhaseKind.PORTAL_VENOUS, pv)], patient_id=patient,
                 reference_index=1)


def make_window(qtbot, tmp_path, register_mode: str | None) -> MainWindow:
    w = MainWindow(register_mode=register_mode, cache_dir=tmp_path / "cache", project_root=tmp_path)
    w.ask = lambda *a: False
    qtbot.addWidget(w)
    w.resize(900, 700)
    w.show()
    return w


def wait_for_registration(qtbot, w: MainWindow) -> None:
    qtbot.waitUntil(lambda: not w.runner.active, timeout=120_000)
    QtWidgets.QApplication.processEvents()


def test_a_study_opened_while_the_previous_one_registers_is_registered_too(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, "rigid")
    w.set_study(small_study("FIRST"))
    first_job = w.registration_job
    assert first_job is not None and not first_job.done
    second = small_study("SECOND", hu_offset=10)
    w.set_study(second)
    assert w.registration_job is not first_job  # a job of its own, not the old one being cancelled
    wait_for_registration(qtbot, w)
    moving = w.grid.panes[0]
    assert moving.status_text == "registered"  # not "not registered" from the old job's cancel
    assert moving.volume is not second.phases[0].volume  # the registered copy is shown
    assert moving.volume.same_grid(second.reference.volume)
    assert not any("cancelled" in m.lower() for m in w.messages)  # the old study's job is not news
    w.close()


def test_a_phase_registration_left_at_identity_says_so_and_the_reader_is_told(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, "rigid")
    ref = body_volume((24, 96, 96), (2.0, 2.0, 2.5), (-95.0, -95.0, -28.75), 60)
    one = body_volume((1, 96, 96), (2.0, 2.0, 2.5), (-95.0, -95.0, 0.0), 0)  # one slice against a volume
    study = Study([Phase(PhaseKind.ARTERIAL, one), Phase(PhaseKind.PORTAL_VENOUS, ref)], patient_id="P",
                  reference_index=1)
    w.set_study(study)
    wait_for_registration(qtbot, w)
    pane = w.grid.panes[0]
    assert pane.status_text == "not aligned (identity)"
    assert "not aligned" in pane.corner_tl.text()
    assert pane.volume is one  # the phase as read, not a copy that would pass for aligned
    told = [m for m in w.messages if "identity transform used" in m]
    assert told and "pane 1" in told[0]  # the warning reaches the reader, naming the pane
    assert "Phases registered to the reference phase" not in w.messages
    assert "not aligned" in w.messages[-1].lower() or "no phase could be aligned" in w.messages[-1].lower()
    w.close()


def test_register_phases_on_a_single_phase_study_says_there_is_nothing_to_register(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, None)
    w.set_study(Study([Phase(PhaseKind.PORTAL_VENOUS, small_study("P").reference.volume)], patient_id="P"))
    w.register_action.trigger()
    assert w.registration_job is None
    assert "nothing to register" in w.messages[-1].lower()
    w.close()


def test_the_hu_readout_of_the_previous_study_does_not_carry_over(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, None)
    w.set_study(small_study("FIRST"))
    pane = w.grid.panes[0]
    w.state.set_cursor(pane.pane_id, pane.pane_view.focus)  # what hovering the pane does
    assert "HU" in pane.corner_tr.text()
    w.set_study(small_study("SECOND", hu_offset=10))  # opened from the menu: the mouse is over no pane
    assert w.state.cursor is None
    for p in w.grid.panes:
        assert "HU" not in p.corner_tr.text()
    w.close()
