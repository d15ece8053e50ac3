"""A scan's progress line on a terminal: studies done of all, failures, rate and time left. Quiet when the
stream is not a terminal (a log file or a pipe gets the final summary only)."""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def format_duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min'."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class ScanProgress:
    """Counts finished studies; redraws one line (at most every ``every_s`` seconds) when interactive."""

    def __init__(self, total: int, stream: TextIO | None = None, interactive: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, every_s: float = 0.5) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.clock = clock
        self.every_s = every_s
        self.started = clock()
        self.done = 0
        self.failed = 0
        self.proposals = 0
        self._drawn_at: float | None = None
        self._width = 0

    def finished(self, proposals: int) -> None:
        self.done += 1
        self.proposals += proposals
        self.draw()

    def gave_up(self) -> None:
        """A study failed for good (after its retries)."""
        self.failed += 1
        self.draw()

    def rate_per_min(self) -> float:
        elapsed = self.clock() - self.started
        settled = self.done + self.failed
        return settled / elapsed * 60.0 if elapsed > 0 and settled else 0.0

    def line(self) -> str:
        settled = self.done + self.failed
        rate = self.rate_per_min()
        eta = format_duration((self.total - settled) / rate * 60.0) if rate > 0 else "?"
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"scan: {settled}/{self.total} studies{failed}, {self.proposals} proposals, "
                f"{rate:.1f} studies/min, ETA {eta}")

    def draw(self, force: bool = False) -> None:
        if not self.interactive:
            return
        now = self.clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < self.every_s:
            return
        self._drawn_at = now
        text = self.line()
        self.stream.write("\r" + text + " " * max(0, self._width - len(text)))
        self.stream.flush()
        self._width = len(text)

    def note(self, text: str) -> None:
        """A line printed above the progress line (interactive only: elsewhere the summary says it)."""
        if not self.interactive:
            return
        self.stream.write("\r" + text + " " * max(0, self._width - len(text)) + "\n")
        self._width = 0
        self.draw(force=True)

    def close(self) -> None:
        """Leave the last state on its own line (interactive only)."""
        if self.interactive and self._width:
            self.draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
