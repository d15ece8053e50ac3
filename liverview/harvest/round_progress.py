"""A harvest round's progress over its studies on a terminal: which pass, studies settled of all, failures,
rate and time left. Drawn by the shared liverview.terminal_progress line (quiet in a pipe or file, --quiet);
the text counts studies, like the scan's, because tasks finish in bursts."""

from __future__ import annotations

import time
from typing import Callable, TextIO

from liverview.terminal_progress import StudyCountLine


class RoundProgress(StudyCountLine):
    """Counts a pass's finished and failed studies; redraws one line at most every ``every_s`` seconds."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, quiet: bool = False,
                 clock: Callable[[], float] = time.monotonic, every_s: float = 0.5) -> None:
        super().__init__("harvest-round", total, stream, quiet=quiet, clock=clock, every_s=every_s)
        self.label = label

    def finished(self, ok: bool) -> None:
        self.settle(ok)

    def line(self) -> str:
        return f"harvest-round {self.label}: {self.counts_text()}, {self.rate_text()}"
