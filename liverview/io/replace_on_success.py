"""Files written whole or not at all: an export that fails (disk full, a bad value half-way, a kill) must
leave the previous file under its name, never a truncated one that another tool would read as data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL_PREFIX = ".partial-"  # hidden, and the name keeps its extension (writers pick the format by it)


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it replaces the file of that name (same folder, same file system)."""
    return path.with_name(PARTIAL_PREFIX + path.name)


@contextmanager
def replaced_on_success(*paths: str | Path) -> Iterator[tuple[Path, ...]]:
    """Yield a temporary path beside each of ``paths``; when the block ends without an error each one
    replaces its target (in the order given), else every temporary file is removed and the targets are
    left as they were."""
    targets = tuple(Path(p) for p in paths)
    partials = tuple(partial_path(p) for p in targets)
    try:
        yield partials
        for partial, target in zip(partials, targets):
            if not partial.is_file():
                raise OSError(f"nothing was written to {target}")
            partial.replace(target)
    except BaseException:
        for partial in partials:
            partial.unlink(missing_ok=True)
        raise
