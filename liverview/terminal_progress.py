"""One progress line for long CLI commands: a bar, percent, elapsed time and time left, redrawn in place on a
terminal (at most ``max_per_s`` times a second) and ended with a newline; silent in a pipe or a file, where
only the command's own summary lines are wanted. Standard library only: `liverview --help` must stay fast."""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import TYPE_CHECKING, Callable, Mapping, TextIO

if TYPE_CHECKING:
    import argparse

ENV_VAR = "LIVERVIEW_PROGRESS"  # always | never | auto (default): overrides the terminal test (CI logs, tests)
BAR_CELLS = 24


def format_duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min'."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def add_quiet_option(parser: "argparse.ArgumentParser") -> None:
    """--quiet: no progress line even on a terminal (the summary lines are still printed)."""
    parser.add_argument("--quiet", action="store_true",
                        help=f"no progress line on stderr (default: one on a terminal, none in a pipe or file; "
                             f"{ENV_VAR}=always|never overrides that test)")


def progress_wanted(stream: TextIO, quiet: bool = False, env: Mapping[str, str] | None = None) -> bool:
    """Whether to draw: never with ``quiet``; else as LIVERVIEW_PROGRESS says; else only on a terminal."""
    if quiet:
        return False
    choice = (os.environ if env is None else env).get(ENV_VAR, "auto").strip().lower()
    if choice == "always":
        return True
    if choice == "never":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_keyword(func: Callable[..., object], progress: Callable[..., None]) -> dict[str, object]:
    """``{"progress": progress}`` when ``func`` takes that keyword, else ``{}``: a plugin written before its
    kind's protocol gained the hook keeps working, just without a bar."""
    import inspect

    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}
    takes = "progress" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return {"progress": progress} if takes else {}


class ProgressLine:
    """Callable as ``line(fraction, phase="")`` (fraction 0..1): the Progress callback models take.

    The first report and the one reaching 1.0 are always drawn; the line ends with a newline at 1.0 (or at
    ``close()``). ``note(text)`` prints a line above the bar (everywhere: notes are output, not progress)."""

    def __init__(self, label: str = "", stream: TextIO | None = None, enabled: bool | None = None,
                 quiet: bool = False, clock: Callable[[], float] = time.monotonic, max_per_s: float = 10.0,
                 width: int | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = progress_wanted(self.stream, quiet) if enabled is None else enabled
        self.clock = clock
        self.min_interval = 1.0 / max_per_s if max_per_s > 0 else 0.0
        self.width = width
        self.started = clock()
        self.fraction = 0.0
        self.phase = ""
        self.redraws = 0  # lines drawn (tests count them to check the rate limit)
        self._drawn_at: float | None = None
        self._shown = ""  # text of the open line ("" = no line open)

    # -- the Progress callback -------------------------------------------------------------------------------
    def __call__(self, fraction: float, phase: str = "") -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction >= 1.0 and self.fraction >= 1.0:
            return  # already drawn at 100 % (a closing report after the model's own last one)
        self.fraction = fraction
        if phase:
            self.phase = phase
        if not self.enabled:
            return
        done = self.fraction >= 1.0
        now = self.clock()
        if self._shown and not done and self._drawn_at is not None and now - self._drawn_at < self.min_interval:
            return  # rate limit: a fast loop must not spend its time writing to the terminal
        self.draw_text(self.line(now), force=True)
        if done:
            self.end_line()

    def span(self, start: float, stop: float, phase: str = "") -> Callable[[float], None]:
        """A Progress callback for one part of the work: its 0..1 maps onto ``start..stop`` of this line."""
        def report(fraction: float) -> None:
            self(start + (stop - start) * min(1.0, max(0.0, float(fraction))), phase)
        return report

    def steps(self, done: int, total: int, phase: str = "") -> None:
        """``done`` of ``total`` items (studies, images, folds) finished."""
        self(done / total if total else 1.0, phase)

    # -- text ------------------------------------------------------------------------------------------------
    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left at the average rate so far; None before any progress."""
        elapsed = (self.clock() if now is None else now) - self.started
        if self.fraction <= 0.0:
            return None
        return max(0.0, elapsed / self.fraction - elapsed)

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        cells = int(self.fraction * BAR_CELLS)
        eta = self.eta_s(now)
        left = "?" if eta is None else format_duration(eta)
        head = f"{self.label}: " if self.label else ""
        tail = f"  {self.phase}" if self.phase else ""
        return (f"{head}[{'#' * cells}{'-' * (BAR_CELLS - cells)}] {int(self.fraction * 100):3d} %  "
                f"{format_duration(now - self.started)} elapsed, ~{left} left{tail}")

    # -- drawing ---------------------------------------------------------------------------------------------
    def draw_text(self, text: str, force: bool = False) -> None:
        """Redraw the line with ``text`` (rate-limited unless ``force``); a no-op when not enabled."""
        if not self.enabled:
            return
        now = self.clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < self.min_interval:
            return
        text = text[:self._columns() - 1]  # a wrapped line cannot be redrawn with '\r'
        pad = " " * max(0, len(self._shown) - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._shown = text
        self._drawn_at = now
        self.redraws += 1

    def note(self, text: str, to: TextIO | None = None) -> None:
        """A line of output above the progress line (printed as is when there is no progress line), on
        the line's stream or on ``to`` (stdout for commands that log there: pipes keep getting it)."""
        out = self.stream if to is None else to
        if not self.enabled or not self._shown:
            out.write(text + "\n")
            out.flush()
            return
        shown = self._shown
        if out is self.stream:
            self.stream.write("\r" + text + " " * max(0, len(shown) - len(text)) + "\n")
        else:  # clear the bar, write the line elsewhere, draw the bar again below it
            self.stream.write("\r" + " " * len(shown) + "\r")
            self.stream.flush()
            out.write(text + "\n")
            out.flush()
        self._shown = ""
        self.draw_text(shown, force=True)

    def printer(self, to: TextIO | None = None) -> Callable[[str], None]:
        """A ``log`` callback for a model: its lines as notes on ``to`` (default stdout, read when called)."""
        return lambda text: self.note(text, to if to is not None else sys.stdout)

    def end_line(self) -> None:
        """Leave the line as it is and move to the next one."""
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = ""

    def close(self) -> None:
        self.end_line()

    def __enter__(self) -> "ProgressLine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _columns(self) -> int:
        if self.width is not None:
            return self.width
        return max(20, shutil.get_terminal_size((100, 24)).columns)


class StudyCountLine:
    """A batch of studies on one progress line: settled of all, failures, rate and time left. For batches
    whose tasks finish in bursts (scan, harvest on Ray), where a bar would jump; subclasses write the text
    (``line``) from ``counts_text`` and ``rate_text``. Redraws at most every ``every_s`` seconds."""

    def __init__(self, name: str, total: int, stream: TextIO | None = None, interactive: bool | None = None,
                 quiet: bool = False, clock: Callable[[], float] = time.monotonic, every_s: float = 0.5) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = progress_wanted(self.stream, quiet) if interactive is None else interactive
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.failed = 0
        self._line = ProgressLine(name, self.stream, self.interactive, clock=clock,
                                  max_per_s=1.0 / every_s if every_s > 0 else 0.0)

    def settle(self, ok: bool) -> None:
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self.draw()

    def rate_per_min(self) -> float:
        elapsed = self.clock() - self.started
        settled = self.done + self.failed
        return settled / elapsed * 60.0 if elapsed > 0 and settled else 0.0

    def counts_text(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done + self.failed}/{self.total} studies{failed}"

    def rate_text(self) -> str:
        rate = self.rate_per_min()
        remaining = self.total - self.done - self.failed
        eta = format_duration(remaining / rate * 60.0) if rate > 0 else "?"
        return f"{rate:.1f} studies/min, ETA {eta}"

    def line(self) -> str:
        return f"{self.counts_text()}, {self.rate_text()}"

    def draw(self, force: bool = False) -> None:
        self._line.draw_text(self.line(), force)

    def note(self, text: str) -> None:
        """A line above the progress line (printed as is when there is none)."""
        self._line.note(text)

    def close(self) -> None:
        """Leave the last state on its own line (when a line was drawn)."""
        if self._line.redraws:
            self.draw(force=True)
        self._line.close()
