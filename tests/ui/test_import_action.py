"""File > Import... in the main window: files of any supported format go into the open study, and the Messages
panel lists what each file gave and what did not fit."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets

from liverview.core.volume import Volume
from liverview.io.export.project_export import export_sr_with_seg
from liverview.io.study_loader import load_study
from liverview.store.records import RecistRecord
from liverview.ui.main_window import MainWindow
from tests.io.export.conftest import write_ct_series


@pytest.fixture
def window(qtbot, tmp_path):
    def loader(paths):
        loaded = load_study(paths)
        return loaded.study, loaded.problems

    win = MainWindow(study_loader=loader, register_mode=None, project_path=tmp_path / "p.lvproj", user="reader")
    qtbot.addWidget(win)
    win.show()
    folder = write_ct_series(tmp_path / "ct").paths[0].parent
    assert win.open_paths([str(folder)])
    yield win
    win.close()


def test_file_import_adds_the_lesions_of_an_sr_and_a_seg_and_lists_what_did_not_fit(window, tmp_path, monkeypatch):
    project, sid, study = window.session.project, window.session.study_id, window.study
    vol, phase = study.reference.volume, study.reference.kind
    w = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, 3), (30, 20, 3), (20, 14, 3), (20, 26, 3))]
    lesion = project.add_lesion(sid, "hcc", recist=RecistRecord((w[0], w[1]), (w[2], w[3]), 3, phase))
    mask = np.zeros(vol.array.shape, np.uint8)
    mask[2:5, 15:26, 12:29] = 1
    project.set_mask(lesion.id, phase, Volume(mask, vol.spacing, vol.origin, vol.direction))
    export_sr_with_seg(project, sid, study, tmp_path / "sr.dcm", tmp_path / "seg.dcm")
    (tmp_path / "notes.txt").write_text("not an annotation\n")
    files = [tmp_path / "sr.dcm", tmp_path / "seg.dcm", tmp_path / "notes.txt"]
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(f) for f in files], ""))

    project.delete_lesion(lesion.id)  # the files now bring back a lesion the study no longer has

    assert window.import_action.text() == "Import..."
    window.import_action.trigger()
    assert window.lesion_panel.table.rowCount() == 1  # the SR's lesion, which the SEG's mask joined
    report = window.messages[-1]
    assert report.startswith("Imported 1 lesion(s) from 3 file(s); completed 1 lesion(s) already in the study; "
                             "1 item(s) not imported")
    assert "sr.dcm: 1 lesion(s) imported (DICOM SR" in report
    assert "seg.dcm: 0 lesion(s) imported (DICOM SEG" in report and "1 lesion(s) already here completed" in report
    assert "notes.txt: nothing imported: notes.txt is not a file LiverView imports" in report
    (back,) = project.list_lesions(sid)
    assert back.recist is not None and project.get_mask(back.id, phase).array.sum() == mask.sum()

    window.import_files(files[:2])  # the same files again: nothing doubles, and the message says why
    assert window.lesion_panel.table.rowCount() == 1
    assert window.messages[-1].startswith("Imported 0 lesion(s) from 2 file(s)")
    assert f"lesion {back.id} keeps its own RECIST mark" in window.messages[-1]
