"""A scan's progress line on a terminal: studies done of all, failures, rate and time left. Quiet when the
stream is not a terminal (a log file or a pipe gets the final summary only). Drawn by the shared
liverview.terminal_progress line; the text stays the scan's own (studies, not a bar: tasks finish in bursts)."""

from __future__ import annotations

import time
from typing import Callable, TextIO

from liverview.terminal_progress import StudyCountLine, format_duration

__all__ = ["ScanProgress", "format_duration"]


class ScanProgress(StudyCountLine):
    """Counts finished studies and their proposals; redraws one line (at most every ``every_s`` seconds)
    when interactive."""

    def __init__(self, total: int, stream: TextIO | None = None, interactive: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, every_s: float = 0.5, quiet: bool = False) -> None:
        super().__init__("scan", total, stream, interactive, quiet, clock, every_s)
        self.proposals = 0

    def finished(self, proposals: int) -> None:
        self.proposals += proposals
        self.settle(True)

    def gave_up(self) -> None:
        """A study failed for good (after its retries)."""
        self.settle(False)

    def line(self) -> str:
        return f"scan: {self.counts_text()}, {self.proposals} proposals, {self.rate_text()}"

    def note(self, text: str) -> None:
        """A line printed above the progress line (interactive only: elsewhere the summary says it)."""
        if self.interactive:
            super().note(text)
