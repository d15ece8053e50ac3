"""Warnings that need no decision go to the status bar and the Messages panel, never to a dialog: the
demo's label maps left out of the phases, a LICENSE file inside a DICOM folder."""

from __future__ import annotations

import shutil

import pytest
from PySide6 import QtWidgets

from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study
from liverview.ui.app import load_for_window
from liverview.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(study_loader=load_for_window, register_mode=None, project_root=tmp_path / "projects",
                   user="dr-quiet")
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def dialogs(window) -> list[str]:
    return [box.text() for box in window.findChildren(QtWidgets.QMessageBox) if box.isVisible()]


def test_a_phantom_study_folder_opens_without_a_dialog(window, tmp_path):
    """What --demo opens: one NIfTI per phase beside lesion_labels / liver_mask files."""
    folder = write_phantom_study(generate_ct_study(3, n_lesions=1, shape=(16, 96, 96)), tmp_path / "demo")
    assert window.open_paths([str(folder)])
    assert len(window.study.phases) == 4
    assert dialogs(window) == []
    notes = " ".join(window.messages_panel.texts())
    assert "label map or mask" in notes and "liver_mask" in notes
    assert "Skipped" in window.statusBar().currentMessage()


def test_a_licence_file_in_a_dicom_folder_is_a_quiet_skipped_note(window, shared_data, tmp_path):
    folder = tmp_path / "hcc048"
    shutil.copytree(shared_data / "hcc048-pv-dicom" / "dicom", folder)
    assert (folder / "LICENSE").is_file()  # as it comes
    assert window.open_paths([str(folder)])
    assert dialogs(window) == []
    notes = [t for t in window.messages_panel.texts() if "LICENSE" in t]
    assert notes and "not a DICOM file" in notes[0] and "warning" not in notes[0]
    assert window.messages_button.text() == "Messages"  # nothing to look at urgently


def two_patients_folder(tmp_path):
    import numpy as np
    from pydicom.uid import generate_uid

    from liverview.core.volume import Volume
    from tests.scan.dicom_writing import write_series

    volume = Volume(np.full((4, 24, 24), 40, np.int16), spacing=(0.8, 0.8, 2.5))
    write_series(tmp_path / "two", volume, generate_uid(), "CT abdomen", patient_id="ANON-A")
    write_series(tmp_path / "two", volume, generate_uid(), "CT abdomen", patient_id="ANON-B", prefix="b")
    return tmp_path / "two"


def test_series_of_two_patients_open_only_when_the_reader_agrees(window, tmp_path):
    """Two patients' series side by side as linked phases are how a mark lands on the wrong patient: the window
    asks first, naming them; agreed, it opens with that said first in the status bar."""
    asked = []
    window.ask = lambda title, text, yes: asked.append((title, text, yes)) or True
    assert window.open_paths([str(two_patients_folder(tmp_path))])
    (title, text, yes), = asked
    assert title == "Not one exam" and "2 different patients (ANON-A, ANON-B)" in text and yes == "Open anyway"
    status = window.statusBar().currentMessage()
    assert status.startswith("Opened with problems: the series belong to 2 different patients"), status
    assert "more, see Messages" in status and dialogs(window) == []
    assert len(window.study.phases) == 2


def test_series_of_two_patients_are_not_opened_when_the_reader_declines(window, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    write_phantom_study(generate_ct_study(seed=3, shape=(8, 32, 32), n_lesions=0), folder)
    assert window.open_paths([str(folder)])
    before = window.study
    window.ask = lambda title, text, yes: False
    assert not window.open_paths([str(two_patients_folder(tmp_path))])
    assert window.study is before  # the open study stays
    assert window.statusBar().currentMessage().startswith("Not opened: these series are not one exam")
    assert "2 different patients (ANON-A, ANON-B)" in window.messages[-1]
    assert dialogs(window) == []