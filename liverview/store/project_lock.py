"""One editor per project: ``<project>.lock`` beside the file holds an advisory ``flock`` while the project
is open for editing (the kernel releases it when the process dies, even by SIGKILL) and a JSON note of who
holds it (user, host, pid, since) for the message a second opener gets.

The editor also holds an ``flock`` on the project file itself, so deleting the ``.lock`` file while someone
edits does not let a second editor in: the project file cannot be deleted from under its editor without
losing the project, so that lock stands. (It is a BSD ``flock``, independent of SQLite's POSIX locks on
Linux; the descriptor is opened before SQLite's and closed after it, so SQLite's own locks are never
dropped by it.) Before every write the editor checks that its lock file is still in place and puts it back
when it was deleted, so the note keeps telling others who is editing.

A lock whose note names another computer may be stale (a LiverView that crashed there, on a network
share the flock does not reach): the opener can take it over (``take_over=True``; in the app a dialog
offers it, in the CLI ``--take-over-lock``)."""

from __future__ import annotations

import errno
import json
import logging
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

_log = logging.getLogger(__name__)


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
    """Another LiverView holds the project for editing. ``holder`` says who, when known; ``can_take_over``
    is True when the only thing in the way is a note naming another computer (maybe a crashed session)."""

    def __init__(self, message: str, holder: LockHolder | None, can_take_over: bool = False) -> None:
        super().__init__(message)
        self.holder = holder
        self.can_take_over = can_take_over


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


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as err:
        if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        return False


def _open_lock_file(project_path: Path) -> BinaryIO:
    return os.fdopen(os.open(lock_path(project_path), os.O_RDWR | os.O_CREAT, 0o644), "r+b", buffering=0)


class ProjectLock:
    """The editor's hold on a project: flocks on the lock file and on the project file, plus a note of who
    holds it. The file objects own the descriptors, so a Project dropped without close() still lets go when
    collected."""

    def __init__(self, project_path: Path, file: BinaryIO, project_file: BinaryIO, me: LockHolder,
                 took_over: LockHolder | None) -> None:
        self._path = project_path
        self._file: BinaryIO | None = file
        self._project_file: BinaryIO | None = project_file
        self._me = me
        self.took_over = took_over

    @classmethod
    def acquire(cls, project_path: Path, user: str, take_over: bool) -> "ProjectLock":
        if fcntl is None:  # pragma: no cover - Windows
            raise StoreError("editing a project needs file locking (fcntl), which this platform lacks: "
                             "open it read-only")
        file = _open_lock_file(project_path)
        project_file = None
        try:
            fd = file.fileno()
            if not _try_flock(fd):
                holder = _parse_holder(os.pread(fd, 4096, 0))
                who = holder.describe() if holder else "another LiverView"
                raise ProjectLockedError(
                    f"{project_path} is open for editing by {who}: open it read-only, "
                    "or ask them to close it", holder) from None
            # The project file's own flock: held by any editor, even one whose lock file was deleted.
            project_file = os.fdopen(os.open(project_path, os.O_RDONLY | os.O_CREAT, 0o644), "rb", buffering=0)
            if not _try_flock(project_file.fileno()):
                raise ProjectLockedError(
                    f"{project_path} is open for editing by another LiverView whose lock file "
                    f"{lock_path(project_path).name} was deleted: open it read-only, or close the other "
                    "session first", None)
            previous = _parse_holder(os.pread(fd, 4096, 0))
            host = socket.gethostname()
            if previous is not None and previous.hostname != host and not take_over:
                # The flock may not reach across computers on a network share, so trust the note.
                raise ProjectLockedError(
                    f"{project_path} is open for editing by {previous.describe()} on another computer: "
                    "open it read-only; if LiverView is no longer running there, take the lock over "
                    "(the app offers it; the command line takes --take-over-lock)", previous, can_take_over=True)
            # Same host: we hold the flock, so the process the note names is gone (or is a reused pid).
            me = LockHolder(user, host, os.getpid(), utc_timestamp())
            _write_note(fd, me)
            if take_over and previous is not None and previous.hostname != host:
                _log.warning("%s: took over the lock of %s", project_path, previous.describe())
            return cls(project_path, file, project_file, me, previous)
        except BaseException:
            file.close()  # closing the descriptors also drops the flocks
            if project_file is not None:
                project_file.close()
            raise

    def check(self) -> None:
        """Before a write: the lock file must still be ours. Deleted (or replaced by one nobody holds): put it
        back. Replaced by one another process holds: refuse (ProjectLockedError), since that process may be
        an editor that does not know of this one."""
        if self._file is None:
            return
        mine = os.fstat(self._file.fileno())
        try:
            now = os.stat(lock_path(self._path))
            if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                return
        except FileNotFoundError:
            pass
        replacement = _open_lock_file(self._path)
        if not _try_flock(replacement.fileno()):
            holder = _parse_holder(os.pread(replacement.fileno(), 4096, 0))
            replacement.close()
            raise ProjectLockedError(
                f"{self._path}: its lock file was replaced while you were editing, and "
                f"{holder.describe() if holder else 'another process'} now holds it; this edit was not saved. "
                "Close the project and open it again", holder)
        _write_note(replacement.fileno(), self._me)
        old, self._file = self._file, replacement
        old.close()
        _log.warning("%s: its lock file had been deleted while it was open for editing; it was put back",
                     self._path)

    def release(self) -> None:
        file, project_file = self._file, self._project_file
        self._file = self._project_file = None
        try:
            if file is not None:
                os.ftruncate(file.fileno(), 0)  # keep the file (deleting it races with the next opener)
        finally:
            if file is not None:
                file.close()
            if project_file is not None:
                project_file.close()


def _write_note(fd: int, me: LockHolder) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me.__dict__).encode("utf-8"), 0)
    os.fsync(fd)
