"""How much memory one opened image may take once decoded, checked against what a header claims before
anything is allocated. The limit is ``LIVERVIEW_MAX_IMAGE_BYTES`` (a number of bytes, e.g. ``4e9``; default
2e9), read each time so a test or a user can change it without restarting."""

from __future__ import annotations

import os

from liverview.io.errors import LoadError

MAX_IMAGE_BYTES_ENV = "LIVERVIEW_MAX_IMAGE_BYTES"
DEFAULT_MAX_IMAGE_BYTES = 2_000_000_000
# zlib's deflate cannot expand more than about 1032:1; a gzip stream claiming more is impossible.
MAX_DEFLATE_RATIO = 1032


class ImageTooLargeError(LoadError):
    """An image would take more memory than the limit allows, or more than its file can hold."""


def max_image_bytes() -> int:
    """The decoded-size limit in bytes (LIVERVIEW_MAX_IMAGE_BYTES, else 2e9); a bad value is an error."""
    text = os.environ.get(MAX_IMAGE_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_BYTES
    try:
        value = float(text)
    except ValueError:
        raise LoadError(f"{MAX_IMAGE_BYTES_ENV}={text!r} is not a number of bytes (e.g. 4e9)") from None
    if not value > 0 or value != value:
        raise LoadError(f"{MAX_IMAGE_BYTES_ENV}={text!r} must be a positive number of bytes")
    return int(value)


def describe_bytes(n: float) -> str:
    """A byte count for a message: '1.5 GB', '330 kB'."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def check_decoded_size(where: str, claimed_bytes: int, what: str) -> None:
    """ImageTooLargeError when ``claimed_bytes`` (what ``what`` would decode to) exceeds the limit."""
    limit = max_image_bytes()
    if claimed_bytes > limit:
        raise ImageTooLargeError(
            f"{where}: {what} would take {describe_bytes(claimed_bytes)} of memory once decoded, over the "
            f"limit of {describe_bytes(limit)}; the header may be damaged (raise {MAX_IMAGE_BYTES_ENV} "
            "if the image really is that large)")
