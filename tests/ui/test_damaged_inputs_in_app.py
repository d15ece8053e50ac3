"""The app's open path with damaged inputs: a refused file says what failed and why, a left-out slice is
named in the window, a stale lock from another computer can be taken over from a dialog that says who holds
it and since when, and a damaged project opens read-only (or not at all), never written to."""

from __future__ import annotations

import hashlib
import json

import pytest

from liverview.io.study_loader import load_study
from liverview.store.project import Project, lock_path, read_lock_holder
from liverview.store.study_link import ensure_study
from liverview.ui.app import load_for_window
from liverview.ui.main_window import MainWindow, failure_text
from tests import malformed_corpus as corpus

pytestmark = pytest.mark.gui


class Answers:
    """Stands in for the dialog: records each question and gives the prepared answer."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, title: str, text: str, yes: str) -> bool:
        self.asked.append((title, text, yes))
        return self.answer


@pytest.fixture
def make_window(qtbot, tmp_path):
    def make(answer: bool = False) -> MainWindow:
        win = MainWindow(study_loader=load_for_window, register_mode=None,
                         project_path=tmp_path / "p.lvproj", user="reader")
        win.ask = Answers(answer)
        qtbot.addWidget(win)
        win.show()
        return win
    return make


@pytest.mark.parametrize("write", [corpus.truncated_nifti_gz, corpus.zero_spacing_nifti, corpus.bad_magic_nifti,
                                   corpus.huge_header_nifti])
def test_a_refused_volume_says_what_failed_and_why(make_window, tmp_path, write):
    win = make_window()
    path = write(tmp_path / ("v.nii.gz" if write is corpus.truncated_nifti_gz else "v.nii"))
    assert not win.open_paths([str(path)])
    title, _, reason = win.messages[-1].partition(": ")
    assert title == "Could not open the study" and str(path) in reason and len(reason) > len(str(path)) + 10
    assert win.study is None


def test_a_left_out_slice_is_named_in_the_window(make_window, tmp_path):
    win = make_window()
    folder, bad = corpus.series_with_damaged_slice(tmp_path / "ct", "bits_allocated_8")
    assert win.open_paths([str(folder)])
    volume = win.study.reference.volume
    # The slices keep their heights: the left-out one is a marked gap on the 2.5 mm grid, not closed up.
    assert volume.array.shape[0] == 9 and volume.missing_slices == (4,)
    assert any(bad.name in m and "left out" in m for m in win.messages)
    assert any("1 slice(s) missing" in m and "hatch" in m for m in win.messages)


def test_an_empty_error_message_is_never_shown_empty():
    assert "memory" in failure_text(MemoryError())
    assert failure_text(RuntimeError()) == "RuntimeError (no details were given)"


def stale_note(path) -> dict:
    note = {"user": "dan", "hostname": "ward-3-pc", "pid": 4242, "since": "2024-01-01T08:15:00"}
    lock_path(path).write_text(json.dumps(note))
    return note


@pytest.mark.parametrize("take_over", [True, False])
def test_a_stale_lock_from_another_computer_can_be_taken_over_from_the_dialog(make_window, tmp_path, take_over):
    folder = tmp_path / "ct"
    corpus.write_ct_series(folder)
    with Project.create(tmp_path / "p.lvproj", "dan") as project:
        ensure_study(project, load_study([folder]).study)
    stale_note(tmp_path / "p.lvproj")
    win = make_window(answer=take_over)
    assert win.open_paths([str(folder)])
    (title, text, yes), = win.ask.asked
    assert "another computer" in title and yes == "Take over the lock"
    assert "dan" in text and "ward-3-pc" in text and "2024-01-01T08:15:00" in text
    project = win.session.project
    assert project.read_only is (not take_over)
    assert win.measure_action.isEnabled() is take_over
    if take_over:
        assert project.took_over_lock_from.hostname == "ward-3-pc"
        assert read_lock_holder(project.path).user == "reader"
    else:
        assert any("read-only" in m for m in win.messages)


@pytest.mark.parametrize("open_read_only", [True, False])
def test_a_damaged_project_is_offered_read_only_and_never_written(make_window, tmp_path, open_read_only):
    folder = tmp_path / "ct"
    corpus.write_ct_series(folder)
    path = tmp_path / "p.lvproj"
    first = make_window()
    assert first.open_paths([str(folder)])
    first._close_session()
    first.close()
    corpus.damage_project_page(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    win = make_window(answer=open_read_only)
    assert win.open_paths([str(folder)])  # the images open either way
    (title, text, yes), = win.ask.asked
    assert title == "Project damaged" and yes == "Open read-only" and "damaged" in text
    if open_read_only:
        assert win.session.project.read_only and win.session.project.damage
        assert any("open read-only because it is damaged" in m for m in win.messages)
        assert not win.lesion_panel.class_combo.isEnabled() and not win.undo_action.isEnabled()
    else:
        assert win.session is None and any("Annotations unavailable" in m for m in win.messages)
    assert not win.measure_action.isEnabled()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
