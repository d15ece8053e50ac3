"""Warnings that native readers (ITK, GDCM, libjpeg) write straight to the process's stderr, caught and
turned into the load's problems so the user sees them instead of a terminal line nobody reads.

The capture swaps file descriptor 2 for a temporary file while a read runs; whatever another thread writes
to stderr meanwhile ends up in the same list (rare: loading runs one file at a time; the app sends Qt's own
warnings to the terminal past this capture, liverview.ui.qt_messages)."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator

# "WARNING: In /path/itkNiftiImageIO.cxx, line 2008" (ITK's location line, dropped) and
# "NiftiImageIO (0x55a3274b1ac0): file.nii has unexpected scales in sform" (the message, kept).
_ITK_LOCATION = re.compile(r"^(WARNING|ERROR): In .*, line \d+\s*$")
_ITK_PREFIX = re.compile(r"^\w+ \(0x[0-9a-fA-F]+\): ")
_lock = threading.RLock()


def tidy_native_lines(text: str) -> list[str]:
    """The messages of captured native output, one per line, without ITK's source locations and addresses."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _ITK_LOCATION.match(line):
            continue
        line = _ITK_PREFIX.sub("", line)
        if line not in lines:
            lines.append(line)
    return lines


@contextmanager
def captured_native_output(messages: list[str]) -> Iterator[None]:
    """Collect what native code writes to stderr inside the block (and Python warnings) into ``messages``."""
    with _lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2 (embedded interpreter): capture Python warnings only
            saved = None
        with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if saved is not None:
                os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                if saved is not None:
                    try:
                        sys.stderr.flush()
                    except (OSError, ValueError):
                        pass
                    os.dup2(saved, 2)
                    os.close(saved)
                    sink.seek(0)
                    messages.extend(tidy_native_lines(sink.read().decode("utf-8", "replace")))
                for w in caught:
                    text = str(w.message).strip()
                    if text and text not in messages:
                        messages.append(text)
