"""What a long study load reports to its caller and asks of it: progress, cancel, and each phase as soon as it
is read (so a viewer can show the first image while the rest loads). No Qt: a worker thread, the CLI or a test
passes plain callables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from liverview.core.study import Phase


class LoadCancelled(Exception):
    """The caller asked to stop the load; nothing was opened. Not a LoadError: nothing is wrong with the files."""


def _ignore(_value: object) -> None:
    return None


def _never() -> bool:
    return False


@dataclass(frozen=True)
class LoadMonitor:
    """Callbacks of one load. ``progress`` gets fractions 0..1 (never decreasing); ``cancelled`` is polled between
    files and between chunks of a large file; ``phase_read`` gets a provisional Phase (kind not yet inferred) the
    moment its voxels are read."""

    progress: Callable[[float], None] = _ignore
    cancelled: Callable[[], bool] = _never
    phase_read: Callable[[Phase], None] = _ignore

    def check(self) -> None:
        """Raise LoadCancelled when the caller asked to stop."""
        if self.cancelled():
            raise LoadCancelled("the load was cancelled")

    def part(self, start: float, end: float) -> "LoadMonitor":
        """The same monitor with progress mapped into [start, end] of this one's range."""
        span = end - start
        return LoadMonitor(lambda f: self.progress(start + span * max(0.0, min(1.0, f))), self.cancelled,
                           self.phase_read)


QUIET = LoadMonitor()  # reports nothing, never cancelled: the default of every loader
