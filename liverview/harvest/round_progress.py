"""A harvest round's progress over its studies on a terminal: which pass, studies settled of all, failures,
rate and time left. Drawn by the shared liverview.terminal_progress line (quiet in a pipe or file, --quiet);
the text counts studies, like the scan's, because tasks finish in bursts."""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from liverview.terminal_progress import ProgressLine, format_duration, progress_wanted


class RoundProgress:
    """Counts a pass's finished and failed studies; redraws one line at most every ``every_s`` seconds."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, quiet: bool = False,
                 clock: Callable[[], float] = time.monotonic, every_s: float = 0.5) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.failed = 0
        self._line = ProgressLine("harvest-round", self.stream, progress_wanted(self.stream, quiet), clock=clock,
                                  max_per_s=1.0 / every_s if every_s > 0 else 0.0)

    def finished(self, ok: bool) -> None:
        if ok:
            self.done += 1
        else:
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
        return (f"harvest-round {self.label}: {settled}/{self.total} studies{failed}, {rate:.1f} studies/min, "
                f"ETA {eta}")

    def draw(self, force: bool = False) -> None:
        self._line.draw_text(self.line(), force)

    def note(self, text: str) -> None:
        """A line above the progress line (printed as is when there is none)."""
        self._line.note(text)

    def close(self) -> None:
        if self._line.redraws:
            self.draw(force=True)
        self._line.close()
