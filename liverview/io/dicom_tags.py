"""The DICOM tags of the file behind the image on screen, read without its pixel data, for the tag view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverview.core.study import Phase

MAX_VALUE_CHARS = 200  # long values (private blobs, LUTs) are cut: the view is for reading, not export


@dataclass(frozen=True)
class TagRow:
    """One element: tag "(gggg,eeee)", keyword, VR, value as text; depth > 0 inside a sequence item."""

    tag: str
    keyword: str
    vr: str
    value: str
    depth: int = 0

    def matches(self, text: str) -> bool:
        needle = text.strip().casefold()
        return not needle or any(needle in f.casefold() for f in (self.tag, self.keyword, self.value))


@dataclass(frozen=True)
class SliceSource:
    """Which file stands behind the slice of ``phase`` at a point, or why none does (``note``)."""

    path: Path | None
    slice_index: int | None
    note: str = ""


class TagReadError(ValueError):
    """The file behind the slice cannot be read as DICOM any more (moved, changed, damaged)."""


def slice_source(phase: Phase, point_world: np.ndarray) -> SliceSource:
    """The file of the slice of ``phase`` nearest to a point (the pane's focus), or a note saying why there is
    none: a study not from DICOM, or a point outside the series."""
    if not phase.slice_files:
        return SliceSource(None, None, f"'{phase.label}' was not loaded from DICOM files ({phase.source or 'no file'}): "
                                       "it has no DICOM tags")
    ijk = phase.volume.world_to_index(np.asarray(point_world, float))
    k = int(np.rint(ijk[2]))
    if not 0 <= k < len(phase.slice_files):
        return SliceSource(None, None, "the focus point lies outside this series: no slice, no tags")
    if not phase.slice_files[k]:
        return SliceSource(None, k, f"slice {k + 1} is missing from the series: no file, no tags")
    return SliceSource(Path(phase.slice_files[k]), k)


def _value_text(element) -> str:
    if element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") and isinstance(element.value, bytes):
        return f"<{len(element.value)} bytes>"
    text = str(element.value) if element.value is not None else ""
    text = " ".join(text.split())
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + " ..."


def _rows(dataset, depth: int) -> list[TagRow]:
    rows: list[TagRow] = []
    for element in dataset:
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        keyword = element.keyword or element.name
        if element.VR == "SQ":
            rows.append(TagRow(tag, keyword, "SQ", f"{len(element.value)} item(s)", depth))
            for n, item in enumerate(element.value, start=1):
                rows.append(TagRow("", f"item {n}", "", "", depth + 1))
                rows += _rows(item, depth + 2)
        else:
            rows.append(TagRow(tag, keyword, element.VR, _value_text(element), depth))
    return rows


def read_tags(path: Path) -> list[TagRow]:
    """File meta and data set elements of a DICOM file, sequences flattened with their depth; the pixel data
    is not read (stop_before_pixels), so large files answer fast."""
    import pydicom  # imported on use: the CLI and the viewer start without it
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, InvalidDicomError) as exc:
        raise TagReadError(f"{path}: cannot read its DICOM tags ({exc})") from exc
    meta = _rows(ds.file_meta, 0) if getattr(ds, "file_meta", None) is not None else []
    return meta + _rows(ds, 0)
