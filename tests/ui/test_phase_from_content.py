"""A series whose tags name no phase (real single-phase CT): the phase read from the image is shown in the
pane header for the reader to confirm or change in one click, and Detect runs with it, saying so in the
status bar, with no modal."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtWidgets

from liverview.core.study import Phase, PhaseKind, Study
from liverview.detection.proposals import ProposalSet
from liverview.io.volumes import write_volume
from liverview.ui.app import load_for_window
from liverview.ui.main_window import MainWindow
from tests.ui.review_fixtures import phantom

pytestmark = pytest.mark.gui


def visible_message_boxes(window) -> list[QtWidgets.QMessageBox]:
    return [w for w in window.findChildren(QtWidgets.QMessageBox) if w.isVisible()]


class RecordingDetector:
    """Finds nothing; remembers which phases it was given."""

    name = "recording-detector"

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def detect(self, volumes, reference, progress=None, cancelled=None):
        self.seen.append((set(volumes), reference))
        return ProposalSet.for_volume([], volumes[reference], model=self.name)


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(study_loader=load_for_window, register_mode=None, project_root=tmp_path / "projects",
                   user="dr-phase")
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def _detect(window, qtbot) -> list:
    seen: list = []
    detection = window.review.detection
    detection.factory_override = lambda device="auto": RecordingDetector(seen)
    job = detection.start()
    assert job is not None, window.messages
    qtbot.waitUntil(lambda: job.done, timeout=60000)
    QtWidgets.QApplication.processEvents()
    return seen


def test_untagged_series_gets_its_phase_from_the_image_and_detect_uses_it(window, qtbot, tmp_path):
    path = write_volume(phantom().phases[PhaseKind.PORTAL_VENOUS], tmp_path / "series3.nii.gz")
    assert window.open_paths([str(path)])
    phase = window.study.phases[0]
    assert phase.kind is PhaseKind.PORTAL_VENOUS and phase.kind_rule == "image"
    header = window.grid.headers[0]
    assert PhaseKind(header.phase_combo.currentData()) is PhaseKind.PORTAL_VENOUS
    assert header.confirm_button.isVisible()  # inferred, not yet confirmed
    assert "aorta" in header.phase_combo.toolTip()

    seen = _detect(window, qtbot)
    assert seen == [({PhaseKind.PORTAL_VENOUS}, PhaseKind.PORTAL_VENOUS)]
    said = " ".join(window.messages)
    assert "portal venous" in said and "inferred" in said and "pane header" in said
    assert not visible_message_boxes(window)

    qtbot.mouseClick(header.confirm_button, QtCore.Qt.MouseButton.LeftButton)  # one click confirms
    assert phase.kind_confirmed and not header.confirm_button.isVisible()
    assert PhaseKind(header.phase_combo.currentData()) is PhaseKind.PORTAL_VENOUS


def test_unknown_single_phase_still_detects_and_says_what_to_do(window, qtbot):
    volume = phantom().phases[PhaseKind.PORTAL_VENOUS]
    window.set_study(Study([Phase(PhaseKind.UNKNOWN, volume, description="CT series ?", kind_rule="none",
                                  kind_reason="no phase word")]))
    seen = _detect(window, qtbot)
    assert seen and seen[0][1] is PhaseKind.PORTAL_VENOUS
    said = " ".join(window.messages)
    assert "unknown" in said and "pane header" in said
    assert not visible_message_boxes(window)


def test_changing_the_phase_in_the_header_confirms_it(window, qtbot, tmp_path):
    path = write_volume(phantom().phases[PhaseKind.PORTAL_VENOUS], tmp_path / "series3.nii.gz")
    assert window.open_paths([str(path)])
    header = window.grid.headers[0]
    header.phase_combo.setCurrentIndex(header.phase_combo.findData(PhaseKind.DELAYED))
    phase = window.study.phases[0]
    assert phase.kind is PhaseKind.DELAYED and phase.kind_confirmed
    assert not header.confirm_button.isVisible()
    assert window.grid.panes[0].phase_name == "delayed"


def test_marks_made_on_a_series_follow_its_phase_when_the_reader_corrects_it(window, qtbot, tmp_path):
    """A RECIST drawn while the series was taken as portal venous belongs to that series: set to delayed,
    the mark is a delayed-phase measurement (and is exported), in one undo step."""
    from liverview.io.export.json_export import read_lesions_json
    from liverview.store.records import RecistRecord

    path = write_volume(phantom().phases[PhaseKind.PORTAL_VENOUS], tmp_path / "series3.nii.gz")
    assert window.open_paths([str(path)])
    project, sid = window.session.project, window.session.study_id
    vol = window.study.phases[0].volume
    ends = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((60, 70, 12), (90, 80, 12))]
    lesion = project.add_lesion(sid, "hcc", recist=RecistRecord(tuple(ends), None, 12, "portal venous"))
    header = window.grid.headers[0]
    header.phase_combo.setCurrentIndex(header.phase_combo.findData(PhaseKind.DELAYED))
    assert project.get_lesion(lesion.id).recist.phase == "delayed"
    result = window.export_annotations("json", tmp_path / "out.json")
    assert result is not None and result.skipped == []
    assert read_lesions_json(result.path).lesions[0].measurements[0].phase == "delayed"
