"""The app's Review > Detector menu lists a third-party detector found through its entry point, and
Detect lesions runs it: its proposals reach the review list and the project."""

import sys

import pytest
from PySide6 import QtWidgets

from liverview.core.study import Phase, PhaseKind, Study
from liverview.ui.main_window import MainWindow
from tests.plugin_seam.test_third_party_detector import blob_volume
from tests.plugin_seam.third_party import CONTRIBUTION, PACKAGE, write_distribution

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_distribution(tmp_path / "site")))
    monkeypatch.delitem(sys.modules, PACKAGE, raising=False)
    w = MainWindow(register_mode=None, project_path=tmp_path / "blob.lvproj", user="dr-blob")
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    w.set_study(Study([Phase(PhaseKind.PORTAL_VENOUS, blob_volume(), description="PV")], description="blob"))
    QtWidgets.QApplication.processEvents()
    yield w
    w.close()
    sys.modules.pop(PACKAGE, None)


def test_choose_the_third_party_detector_in_the_menu_and_detect(window, qtbot):
    review = window.review
    review.detector_menu.aboutToShow.emit()
    entries = {a.data(): a for a in review.detector_menu.actions()}
    assert set(entries) >= {"mscn_detector", CONTRIBUTION}
    assert entries["mscn_detector"].isChecked() and not entries[CONTRIBUTION].isChecked()
    entries[CONTRIBUTION].trigger()
    assert review.detection.model_name == CONTRIBUTION
    job = review.detection.start()
    assert job is not None, window.messages
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    QtWidgets.QApplication.processEvents()
    stored = window.session.project.list_proposals(window.session.study_id)
    assert [p.source_model for p in stored] == ["tiny_blob/threshold=100"]
    assert (stored[0].box.min_ijk, stored[0].box.max_ijk) == ((22, 10, 3), (29, 17, 6))
    assert review.panel.table.rowCount() == 1
    # the blob study holds no liver: the liver filter says so and keeps the proposal
    assert any("no liver mask" in m and "every proposal is kept" in m for m in window.messages), window.messages
