"""Hand memory that Python freed back to the operating system while a large volume is being filled.

glibc keeps freed small and mid-size blocks (a DICOM slice's 512 kB of pixel bytes) in its heap for reuse, so
releasing each slice as it is copied into the volume does not lower the process's memory by itself: the peak
of a series load stayed at 2x its size. ``malloc_trim(0)`` returns the free pages. Elsewhere (macOS, Windows,
musl) this does nothing: those allocators differ, and the load is only less frugal there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Callable


@lru_cache(maxsize=1)
def _trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def return_freed_memory() -> bool:
    """Give the free pages of the C heap back to the system; True when the C library offers it (glibc)."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
