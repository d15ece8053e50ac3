"""One editor per project: ``<project>.lock`` beside the file holds an advisory ``flock`` while the project
is open for editing (the kernel releases it when the process dies, even by SIGKILL) and a JSON note of who
holds it (user, host, pid, since) for the message a second opener gets."""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from liverview.store.records import StoreError
from liverview.store.timestamps import utc_timestamp

try:  # POSIX only; without it a project can still be opened read-only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class LockHolder:
    """Who holds a project for editing, as written in its lock file."""

    user: str
    hostname: str
    pid: int
    since: str

    def describe(self) -> str:
        return f"{self.user} on {self.hostname} (process {self.pid}, since {self.since})"


class ProjectLockedError(StoreError):
    """Another LiverView holds the project for editing. ``holder`` says who, when known."""

    def __init__(self, message: str, holder: LockHolder | None) -> None:
        super().__init__(message)
        self.holder = holder


def lock_path(project_path: Path) -> Path:
    """The lock file beside a project: ``<name>.lock``. It stays after close, emptied."""
    return project_path.with_name(project_path.name + ".lock")


def _parse_holder(data: bytes) -> LockHolder | None:
    try:
        d = json.loads(data.decode("utf-8"))
        return LockHolder(str(d["user"]), str(d["hostname"]), int(d["pid"]), str(d["since"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def read_lock_holder(project_path: str | os.PathLike[str]) -> LockHolder | None:
    """Who the lock file names (it may be stale: only the flock tells whether they still hold it)."""
    try:
        return _parse_holder(lock_path(Path(project_path)).read_bytes())
    except OSError:
        return None


class ProjectLock:
    """The editor's hold on a project: an flock on the lock file plus a note of who holds it. The file
    object owns the descriptor, so a Project dropped without close() still lets go when collected."""

    def __init__(self, file: BinaryIO, took_over: LockHolder | None) -> None:
        self._file: BinaryIO | None = file
        self.took_over = took_over

    @classmethod
    def acquire(cls, project_path: Path, user: str, break_lock: bool) -> "ProjectLock":
        if fcntl is None:  # pragma: no cover - Windows
            raise StoreError("editing a project needs file locking (fcntl), which this platform lacks: "
                             "open it read-only")
        file = os.fdopen(os.open(lock_path(project_path), os.O_RDWR | os.O_CREAT, 0o644), "r+b", buffering=0)
        fd = file.fileno()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = _parse_holder(os.pread(fd, 4096, 0))
                who = holder.describe() if holder else "another LiverView"
                raise ProjectLockedError(
                    f"{project_path} is open for editing by {who}: open it read-only, "
                    "or ask them to close it", holder) from None
            previous = _parse_holder(os.pread(fd, 4096, 0))
            host = socket.gethostname()
            if previous is not None and previous.hostname != host and not break_lock:
                # The flock may not reach across computers on a network share, so trust the note.
                raise ProjectLockedError(
                    f"{project_path} is open for editing by {previous.describe()} on another computer: "
                    "open it read-only; if LiverView is no longer running there, open it with "
                    "break_lock=True", previous)
            # Same host: we hold the flock, so the process the note names is gone (or is a reused pid).
            me = LockHolder(user, host, os.getpid(), utc_timestamp())
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me.__dict__).encode("utf-8"), 0)
            os.fsync(fd)
            return cls(file, previous)
        except BaseException:
            file.close()  # closing the descriptor also drops the flock
            raise

    def release(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            os.ftruncate(file.fileno(), 0)  # keep the file (deleting it races with the next opener)
        finally:
            file.close()
