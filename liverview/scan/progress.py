"""A scan's progress line on a terminal: studies done of all, failures, rate and time left. Quiet when the
stream is not a terminal (a log file or a pipe gets the final summary only). Drawn by the shared
liverview.terminal_progress line; the text stays the scan's own (studies, not a bar: tasks finish in bursts)."""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from liverview.terminal_progress import ProgressLine, format_duration, progress_wanted

__all__ = ["ScanProgress", "format_duration"]


class ScanProgress:
    """Counts finished studies; redraws one line (at most every ``every_s`` seconds) when interactive."""

    def __init__(self, total: int, stream: TextIO | None = None, interactive: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, every_s: float = 0.5, quiet: bool = False) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = progress_wanted(self.stream, quiet) if interactive is None else interactive
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.failed = 0
        self.proposals = 0
        self._line = ProgressLine("scan", self.stream, self.interactive, clock=clock,
                                  max_per_s=1.0 / every_s if every_s > 0 else 0.0)

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
        self._line.draw_text(self.line(), force)

    def note(self, text: str) -> None:
        """A line printed above the progress line (interactive only: elsewhere the summary says it)."""
        if self.interactive:
            self._line.note(text)

    def close(self) -> None:
        """Leave the last state on its own line (interactive only)."""
        if self.interactive and self._line.redraws:
            self.draw(force=True)
        self._line.close()
