"""Opening a study in the background: progress to 100 % in the status bar, Cancel leaves the open study as it
was, the first phase is on screen before the last one is read, int16 stays int16 from file to pane, and a
damaged file says what it said when opening blocked the window."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.io.errors import LoadError
from liverview.io.load_monitor import LoadMonitor
from liverview.io.study_loader import load_study
from liverview.io.volumes import write_volume
from liverview.ui.app import load_for_window
from liverview.ui.main_window import MainWindow, failure_text
from tests import malformed_corpus as corpus

pytestmark = pytest.mark.gui

NAMES = ("arterial", "portal-venous", "delayed")


def write_phases(folder: Path, slices: int = 12, names: tuple[str, ...] = NAMES) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, name in enumerate(names):
        array = (np.arange(slices * 48 * 48, dtype=np.int32).reshape(slices, 48, 48) % 400 - 200 + 7 * n)
        volume = Volume(array.astype(np.int16), (0.8, 0.8, 2.0), (-20.0, -20.0, 10.0))
        paths.append(str(write_volume(volume, folder / f"{name}.nii", compress=False)))
    return paths


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(study_loader=load_for_window, register_mode=None, cache_dir=tmp_path / "cache",
                     project_root=tmp_path / "projects")
    qtbot.addWidget(win)
    win.show()
    yield win
    win.study_opener.shutdown()


def held_after_first_phase(gate: threading.Event):
    """The real loader, held back on its thread right after it handed over the first phase."""
    def loader(paths, monitor):
        def first_read(phase):
            monitor.phase_read(phase)
            while not gate.wait(0.01):
                monitor.check()  # Cancel still works while held
        return load_for_window(paths, LoadMonitor(monitor.progress, monitor.cancelled, first_read))
    return loader


def test_a_background_open_shows_progress_up_to_100_percent(window, qtbot, tmp_path):
    paths = write_phases(tmp_path / "study")
    values: list[int] = []
    window.job_bar.bar.valueChanged.connect(values.append)
    job = window.open_paths_in_background(paths)
    assert window.job_bar.isVisible() and window.job_bar.label.text().startswith("Opening")
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    assert values and values[-1] == window.job_bar.bar.maximum()  # 100 %
    assert values == sorted(values)  # never goes back
    assert len(values) >= 4  # more than start and end: each file's reading is reported
    assert window.study is not None and [p.kind.value for p in window.study.phases] == [
        "arterial", "portal venous", "delayed"]
    assert window.stack.currentWidget() is window.grid and not window.job_bar.isVisible()
    assert window.session is not None  # the identity found off the UI thread opened the study's project


def test_the_first_phase_is_on_screen_before_the_last_one_is_read(window, qtbot, tmp_path):
    paths = write_phases(tmp_path / "study")
    gate = threading.Event()
    window.study_loader = held_after_first_phase(gate)
    job = window.open_paths_in_background(paths)
    qtbot.waitUntil(window.study_opener.first_image_shown, timeout=20000)
    preview = window.study_opener.preview
    assert not job.done and window.study is None
    assert window.stack.currentWidget() is preview
    assert preview.phase.source == paths[0] and preview.pane.image.image is not None
    preview.pane.step_slices(3)  # the reader can scroll the first phase while the rest loads
    focus = preview.focus()
    gate.set()
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    assert window.study is not None and len(window.grid.panes) == 3
    assert window.study_opener.preview is None and window.stack.currentWidget() is window.grid
    assert window.stack.indexOf(preview) == -1
    shown = next(p for p in window.grid.panes if p.volume is preview.phase.volume)
    assert np.allclose(shown.pane_view.focus, focus)  # the grid opens where the reader scrolled to


def test_cancel_leaves_the_previous_study_open(window, qtbot, tmp_path):
    first = write_phases(tmp_path / "first", names=("arterial", "delayed"))
    assert window.open_paths(first)
    before, panes_before = window.study, [p.volume for p in window.grid.panes]
    session_before = window.session
    gate = threading.Event()
    window.study_loader = held_after_first_phase(gate)
    job = window.open_paths_in_background(write_phases(tmp_path / "second"))
    qtbot.waitUntil(window.study_opener.first_image_shown, timeout=20000)
    window.job_bar.cancel_button.click()
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    assert window.study is before and [p.volume for p in window.grid.panes] == panes_before
    assert window.session is session_before
    assert window.stack.currentWidget() is window.grid and window.study_opener.preview is None
    assert window.messages[-1].startswith("Opening cancelled")
    gate.set()


def test_int16_stays_int16_from_file_to_pane_without_copies(window, qtbot, tmp_path):
    paths = write_phases(tmp_path / "study", names=("scan-a", "scan-b"))  # no phase word: the image is measured
    job = window.open_paths_in_background(paths)
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    assert window.study is not None
    for phase, pane in zip(window.study.phases, window.grid.panes):
        assert phase.volume.array.dtype == np.int16
        assert pane.volume is phase.volume  # the pane shows the loaded array itself, not a converted copy


def test_a_damaged_file_gives_the_message_it_gave_before(window, qtbot, tmp_path):
    path = corpus.truncated_nifti_gz(tmp_path / "v.nii.gz")
    with pytest.raises(LoadError) as raised:
        load_study([path])
    expected = f"Could not open the study: {failure_text(raised.value)}"
    assert not window.open_paths([str(path)])
    assert window.messages[-1] == expected
    job = window.open_paths_in_background([str(path)])
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    assert window.messages[-1] == expected
    assert window.study is None and window.stack.currentWidget() is window.placeholder


def test_series_of_two_patients_opened_in_the_background_ask_first(window, qtbot, tmp_path):
    from tests.ui.test_quiet_notes import two_patients_folder

    asked = []
    window.ask = lambda title, text, yes: asked.append(text) or False
    job = window.open_paths_in_background([str(two_patients_folder(tmp_path))])
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    assert len(asked) == 1 and "2 different patients" in asked[0]
    assert window.study is None and window.stack.currentWidget() is window.placeholder  # the preview is gone
    assert window.messages[-1].startswith("Not opened: these series are not one exam")
