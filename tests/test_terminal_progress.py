"""The shared progress line of long CLI commands, driven with a fake clock: drawn on a terminal only, at most
10 times a second, with a bar, percent, elapsed time and ETA, and ended with a newline."""

from __future__ import annotations

import io

import pytest

from liverview.terminal_progress import ProgressLine, format_duration, progress_wanted


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_draws_a_bar_with_percent_elapsed_and_eta():
    clock, out = FakeClock(), io.StringIO()
    line = ProgressLine("detect", out, enabled=True, clock=clock, width=200)
    clock.now += 30.0
    line(0.25, "liver mask")
    text = out.getvalue()
    assert text.startswith("\rdetect: [######------------------]  25 %  30 s elapsed, ~1 min 30 s left  liver mask")
    assert line.eta_s() == pytest.approx(90.0)
    assert not text.endswith("\n")


def test_eta_is_unknown_before_any_progress():
    clock = FakeClock()
    line = ProgressLine("x", io.StringIO(), enabled=True, clock=clock)
    assert line.eta_s() is None
    assert "~? left" in line.line()


def test_redraws_at_most_ten_times_a_second_but_always_shows_the_end():
    clock, out = FakeClock(), io.StringIO()
    line = ProgressLine("train", out, enabled=True, clock=clock, width=200)
    for i in range(1, 1000):  # 999 reports within 0.999 s
        clock.now += 0.001
        line(i / 1000)
    assert 9 <= line.redraws <= 11
    line(1.0)
    text = out.getvalue()
    assert text.rstrip(" \n").endswith("left") and text.endswith("\n")
    assert "100 %" in text.split("\r")[-1]
    assert text.count("\n") == 1


def test_a_second_report_of_100_percent_draws_nothing_more():
    out = io.StringIO()
    line = ProgressLine("", out, enabled=True, clock=FakeClock())
    line(1.0, "detector")
    line(1.0, "done")
    assert out.getvalue().count("\r") == 1 and out.getvalue().count("\n") == 1


def test_close_ends_an_unfinished_line_once():
    out = io.StringIO()
    line = ProgressLine("", out, enabled=True, clock=FakeClock())
    line(0.5)
    line.close()
    line.close()
    assert out.getvalue().count("\n") == 1


def test_notes_go_above_the_line_and_the_line_comes_back():
    out = io.StringIO()
    line = ProgressLine("train", out, enabled=True, clock=FakeClock(), width=200)
    line(0.5)
    line.note("epoch 1 loss 0.3")
    lines = out.getvalue().split("\n")
    assert lines[0].strip().endswith("epoch 1 loss 0.3") and lines[1].startswith("\rtrain: [")


def test_notes_for_another_stream_clear_the_bar_and_redraw_it_after():
    err, out = io.StringIO(), io.StringIO()
    line = ProgressLine("train-us", err, enabled=True, clock=FakeClock(), width=200)
    line(0.5)
    line.note("step 50/100 loss 0.2", to=out)
    assert out.getvalue() == "step 50/100 loss 0.2\n"
    drawn = err.getvalue().split("\r")
    assert drawn[-2].strip() == "" and drawn[-1].startswith("train-us: [")  # cleared, then drawn again


def test_silent_in_a_pipe_but_notes_are_still_printed():
    out = io.StringIO()  # not a terminal
    line = ProgressLine("detect", out, clock=FakeClock())
    for i in range(11):
        line(i / 10)
    line.note("a note")
    line.close()
    assert out.getvalue() == "a note\n"


def test_a_line_never_wraps_on_a_narrow_terminal():
    out = io.StringIO()
    line = ProgressLine("train-detector", out, enabled=True, clock=FakeClock(), width=40)
    line(0.5, "a long phase name that would wrap")
    assert max(len(part) for part in out.getvalue().split("\r")) <= 39


def test_span_maps_a_part_of_the_work_onto_the_line():
    line = ProgressLine("", io.StringIO(), enabled=False, clock=FakeClock())
    part = line.span(0.8, 1.0, "liver mask")
    part(0.5)
    assert line.fraction == pytest.approx(0.9) and line.phase == "liver mask"
    line.steps(3, 4)
    assert line.fraction == pytest.approx(0.75)


@pytest.mark.parametrize("env, tty, quiet, wanted", [
    ({}, True, False, True),
    ({}, False, False, False),
    ({"LIVERVIEW_PROGRESS": "always"}, False, False, True),
    ({"LIVERVIEW_PROGRESS": "never"}, True, False, False),
    ({"LIVERVIEW_PROGRESS": "always"}, True, True, False),  # --quiet wins
    ({"LIVERVIEW_PROGRESS": "bogus"}, True, False, True),
])
def test_drawn_on_a_terminal_unless_told_otherwise(env, tty, quiet, wanted):
    stream = Tty() if tty else io.StringIO()
    assert progress_wanted(stream, quiet, env) is wanted


def test_durations_read_naturally():
    assert [format_duration(s) for s in (4.4, 65, 7260)] == ["4 s", "1 min 05 s", "2 h 01 min"]
