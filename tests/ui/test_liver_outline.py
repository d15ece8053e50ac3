"""View > Liver outline on a phantom study: the real liver-segmenter plugin (through the registry) runs in
the background, its outline is drawn on every pane (axial and coronal), the liver volume is stated, and
toggling off removes it. A mask the detection already made is reused; failure and cancel draw nothing."""

import numpy as np
import pytest
from PySide6 import QtWidgets

from liverview.core.slicing import Orientation
from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.detection.proposals import ProposalSet
from liverview.measure.mask_outline import outline_on_cut, outline_source
from liverview.synth.ct_phantom import generate_ct_study
from liverview.ui.main_window import MainWindow
from liverview.ui.screenshot import write_screenshot

pytestmark = pytest.mark.gui
SCREENSHOT = "/tmp/liver_outline.png"


@pytest.fixture(scope="module")
def phantom():
    return generate_ct_study(5, n_lesions=2, shape=(24, 128, 128), spacing_mm=(1.5, 1.5, 2.5))


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(register_mode=None, project_path=tmp_path / "liver.lvproj", user="dr-liver")
    qtbot.addWidget(w)
    w.resize(1300, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def _true_ml(phantom) -> float:
    m = phantom.liver_mask
    return float((m.array > 0).sum() * np.prod(m.spacing) / 1000.0)


def _open(window, study: Study) -> None:
    window.set_study(study)
    QtWidgets.QApplication.processEvents()


def _focus_on_liver(window, phantom) -> None:
    """Put the shared focus at the true liver's centre (the volume's centre may miss a small liver)."""
    m = phantom.liver_mask
    k, j, i = np.argwhere(m.array > 0).mean(axis=0)
    window.state.set_focus(window.grid.panes[0].pane_id, m.index_to_world((i, j, k)))
    QtWidgets.QApplication.processEvents()


def _wait(qtbot, job) -> None:
    qtbot.waitUntil(lambda: job.done, timeout=60000)
    QtWidgets.QApplication.processEvents()


def test_no_study_no_action(window):
    assert not window.liver_outline.action.isEnabled()
    assert window.liver_outline.action in window.view_menu.actions()


def test_outline_on_every_pane_volume_stated_and_removed(window, qtbot, phantom):
    study = phantom.to_study()
    _open(window, study)
    _focus_on_liver(window, phantom)
    outline = window.liver_outline
    assert outline.action.isEnabled()
    outline.action.setChecked(True)
    job = outline.job
    assert job is not None and outline.bar.isVisible()
    _wait(qtbot, job)
    assert outline.overlay is not None, window.messages
    panes = window.grid.panes
    assert len(panes) == 4
    items = [outline.overlay.items[p.pane_id] for p in panes]
    assert all(outline.overlay.segment_count(p) > 20 for p in panes)

    # Stated volume within 15 % of the phantom's true liver.
    true_ml = _true_ml(phantom)
    assert abs(outline.shown.volume_ml - true_ml) <= 0.15 * true_ml
    assert outline.label.isVisible() and outline.label.text() == f"Liver {outline.shown.volume_ml:.0f} mL"
    assert any(m.startswith(f"Liver volume {outline.shown.volume_ml:.0f} mL") for m in window.messages)

    # Drawn where the true liver is, on the reference pane: its box in scene mm within 10 mm.
    ref = panes[study.reference_index]
    x, y = items[study.reference_index].getData()
    truth = outline_on_cut(outline_source(phantom.liver_mask), ref.geometry, ref.shown_slice).reshape(-1, 2)
    assert np.allclose([x.min(), x.max(), y.min(), y.max()],
                       [truth[:, 0].min(), truth[:, 0].max(), truth[:, 1].min(), truth[:, 1].max()], atol=10.0)

    # Coronal: the outline follows the pane's new cut.
    panes[1].set_orientation(Orientation.CORONAL)
    QtWidgets.QApplication.processEvents()
    after = items[1].getData()[1]
    assert outline.overlay.segment_count(panes[1]) > 20
    assert after.max() - after.min() < 24 * 2.5 + 1  # a coronal cut spans at most the 60 mm of slices

    # Slice steps keep it cheap: the overlay does not re-run the segmenter (no job), only redraws.
    panes[0].step_slices(2)
    assert outline.job is job and job.done

    draw = outline.overlay.draw
    outline.action.setChecked(False)
    assert outline.overlay is None and not outline.label.isVisible()
    assert all(item.scene() is None for item in items)  # the items are off the panes
    assert all(draw not in p.overlays for p in panes)  # and nothing redraws them on a slice step


def test_screenshot_of_the_outlined_study(window, qtbot, phantom):
    """The window with the outline on, for a look (written to SCREENSHOT; the grab closes the window)."""
    _open(window, phantom.to_study())
    _focus_on_liver(window, phantom)
    window.liver_outline.action.setChecked(True)
    _wait(qtbot, window.liver_outline.job)
    window.grid.panes[1].set_orientation(Orientation.CORONAL)
    assert write_screenshot(QtWidgets.QApplication.instance(), window, SCREENSHOT)


def test_a_one_slice_study_gets_an_outline_and_an_area_not_a_volume(window, qtbot, phantom):
    # a key slice (DeepLesion style): the mask is made on the one slice, and a volume would mean nothing there
    big = generate_ct_study(901)
    k = int(np.argmax((big.liver_mask.array > 0).sum(axis=(1, 2))))
    nc = big.phases[PhaseKind.NON_CONTRAST]
    one = Volume(np.ascontiguousarray(nc.array[k:k + 1], np.float32), nc.spacing, nc.origin, nc.direction)
    _open(window, Study([Phase(PhaseKind.PORTAL_VENOUS, one, description="key slice")], patient_id="KEY"))
    outline = window.liver_outline
    outline.action.setChecked(True)
    _wait(qtbot, outline.job)
    assert outline.overlay is not None, window.messages
    assert outline.overlay.segment_count(window.grid.panes[0]) > 20
    true_cm2 = (big.liver_mask.array[k] > 0).sum() * nc.spacing[0] * nc.spacing[1] / 100.0
    text = outline.label.text()
    assert text.startswith("Liver ") and text.endswith(" cm² on its one slice") and "mL" not in text
    shown_cm2 = float(text.split()[1])
    assert abs(shown_cm2 - true_cm2) <= 0.3 * true_cm2
    assert any(m.startswith("Liver area ") for m in window.messages)
    assert write_screenshot(QtWidgets.QApplication.instance(), window, "/tmp/liver_outline_one_slice.png")


class NothingFound:
    """Stands in for the detector plugin (trained weights are not the point here): it finds no lesion, so
    Detect lesions still runs its real liver filter, with the registry's liver segmenter."""

    name = "nothing-found"

    def detect(self, volumes, reference, progress=None, cancelled=None):
        return ProposalSet.for_volume([], volumes[reference], model=self.name)


def test_the_mask_made_by_detect_lesions_is_reused_at_once(window, qtbot, phantom):
    _open(window, phantom.to_study())
    detection = window.review.detection
    detection.factory_override = lambda device="auto": NothingFound()
    _wait(qtbot, detection.start())
    assert any("liver mask" in note for note in detection.last_notes), detection.last_notes
    outline = window.liver_outline
    outline.action.setChecked(True)
    assert outline.job is None  # no second segmentation
    assert outline.shown is not None and outline.shown.reused and outline.overlay is not None
    assert f"{outline.shown.volume_ml:.0f} mL" in " ".join(detection.last_notes)  # the detection's own mask
    assert any("already computed" in m for m in window.messages)
    outline.action.setChecked(False)
    outline.action.setChecked(True)  # on again: still from memory
    assert outline.job is None and outline.overlay is not None


def test_a_study_without_a_liver_says_why_and_draws_nothing(window, qtbot):
    air = Volume(np.full((12, 64, 64), -1000, np.int16), (3.0, 3.0, 5.0))
    _open(window, Study([Phase(PhaseKind.PORTAL_VENOUS, air, description="air")], patient_id="AIR"))
    outline = window.liver_outline
    outline.action.setChecked(True)
    _wait(qtbot, outline.job)
    assert outline.overlay is None and not outline.action.isChecked() and not outline.label.isVisible()
    error = [m for m in window.messages if m.startswith("Liver outline unavailable")]
    assert error and "no body found" in error[-1], window.messages
    assert any("Liver outline unavailable" in t and "no body found" in t for t in window.messages_panel.texts())


def test_cancel_draws_nothing_and_a_later_run_still_works(window, qtbot, phantom):
    _open(window, phantom.to_study())
    outline = window.liver_outline
    outline.action.setChecked(True)
    job = outline.job
    outline.bar.cancel_button.click()
    _wait(qtbot, job)
    assert outline.overlay is None and not outline.action.isChecked()
    assert any("cancelled" in m for m in window.messages)
    outline.action.setChecked(True)
    _wait(qtbot, outline.job)
    assert outline.overlay is not None and outline.shown.volume_ml > 0


def test_opening_another_study_drops_the_old_outline_and_outlines_the_new(window, qtbot, phantom):
    _open(window, phantom.to_study())
    outline = window.liver_outline
    outline.action.setChecked(True)
    _wait(qtbot, outline.job)
    first = outline.shown
    _open(window, generate_ct_study(6, n_lesions=1, shape=(24, 128, 128), spacing_mm=(1.5, 1.5, 2.5)).to_study())
    assert outline.action.isChecked() and outline.job is not None
    _wait(qtbot, outline.job)
    assert outline.shown is not None and outline.shown is not first
    assert set(outline.overlay.items) == {p.pane_id for p in window.grid.panes}
