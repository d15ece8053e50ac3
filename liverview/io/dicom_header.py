"""Reading a DICOM file's header only (no pixel data), for walks over many files: the archive scan and the
study browser's index. A file that is no DICOM image comes back as the reason, never as an exception: one
broken file must not stop a walk."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def read_header(path: Path, tags: Sequence[str]) -> Any | str:
    """The pydicom Dataset with ``tags`` (and nothing after the pixel data), or why the file is no image."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(tags))
    except InvalidDicomError:
        return "not a DICOM file"
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on broken files
        return f"unreadable DICOM header ({type(exc).__name__}: {exc})"
    if "DirectoryRecordSequence" in ds:
        return "DICOMDIR index file, not an image"
    return ds


def tag_text(ds: Any, keyword: str) -> str:
    """A tag's value as text ("" when absent); a multi-valued one joined by backslashes, as DICOM writes it."""
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def image_types(ds: Any) -> set[str]:
    """The ImageType values, upper case (e.g. {"ORIGINAL", "PRIMARY", "LOCALIZER"})."""
    return {v.strip().upper() for v in tag_text(ds, "ImageType").split("\\")}


# (7FE0,0010) as written in little- and big-endian files
_PIXEL_DATA_TAG_BYTES = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")


def missing_tag_reason(path: Path, keyword: str) -> str:
    """Why a DICOM file lacking ``keyword`` is left out. A copy that stopped early lacks its later tags and
    its pixel data: the reader is told so, not just which tag is missing (read in full only on this path)."""
    try:
        cut_short = not any(tag in path.read_bytes() for tag in _PIXEL_DATA_TAG_BYTES)
    except OSError:
        cut_short = False
    if cut_short:
        return f"DICOM file without {keyword} or pixel data: cut short (an interrupted copy?) or no image"
    return f"DICOM file without {keyword}"
