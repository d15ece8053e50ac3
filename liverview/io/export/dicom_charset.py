"""The Specific Character Set a written DICOM object needs: names outside ASCII (Zoë, Ольга, 山田) are kept,
never written as '?', while all-ASCII objects keep the default repertoire that every reader supports."""

from __future__ import annotations

from pydicom.dataset import Dataset

_TEXT_VRS = {"PN", "LO", "SH", "LT", "ST", "UT", "UC"}  # the VRs whose values the character set governs


def _texts(ds: Dataset):
    for elem in ds.iterall():
        if elem.VR in _TEXT_VRS and elem.value is not None:
            values = elem.value if elem.VM > 1 else [elem.value]
            yield from (str(v) for v in values)


def character_set_for(ds: Dataset) -> str | None:
    """None for all-ASCII text, ISO_IR 100 (Latin-1) where that holds every character, else ISO_IR 192
    (UTF-8)."""
    text = "".join(_texts(ds))
    if text.isascii():
        return None
    try:
        text.encode("latin-1")
        return "ISO_IR 100"
    except UnicodeEncodeError:
        return "ISO_IR 192"


def set_character_set(ds: Dataset) -> None:
    """Declare the character set the object's text needs (before it is written)."""
    charset = character_set_for(ds)
    if charset is not None:
        ds.SpecificCharacterSet = charset
