"""DeepLesion key slices as released (16-bit PNG, HU = value - 32768) with the manifest of
../shared/data/deeplesion-liver-keyslices: image, box (x1, y1, x2, y2 px: the RECIST extent padded by
5 px, DeepLesion's own box), pixel spacing. Each becomes a one-slice Volume the detector can read. A row
without a spacing takes it from DeepLesion's DL_info table when one is given (``dl_info_spacings``), which
records it for every key slice; only without either is a typical pixel assumed."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from liverview.core.volume import Volume

HU_OFFSET = 32768
DEFAULT_SLICE_MM = 2.5  # only the key slice is released: its thickness matters for nothing but the metadata
# Rows without a spacing (a few in the release) get a typical abdominal CT pixel; KeySlice says so.
DEFAULT_PIXEL_MM = 0.8


class KeySliceError(ValueError):
    """A manifest row or image that cannot be used; the message names the file and the row."""


@dataclass(frozen=True)
class KeySlice:
    name: str  # DeepLesion file name without suffix: one image = one evaluated "volume"
    volume: Volume  # (1, 512, 512) float32 HU
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 px
    spacing_known: bool = True
    spacing_from: str = "manifest"  # "manifest", "DL_info" or "assumed"


Spacing = tuple[float, float, float]


def _numbers(text: str, n: int, what: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    if len(values) < n or not all(np.isfinite(values)):
        raise ValueError(f"{what} needs {n} numbers, got {text!r}")
    return values


def dl_info_spacings(paths: Iterable[str | Path]) -> dict[str, Spacing]:
    """File name (e.g. 000047_10_01_051.png) -> (x, y, z) mm from DL_info-layout CSVs (Spacing_mm_px_)."""
    from liverview.io.export.deeplesion_import import read_deeplesion_table

    out: dict[str, Spacing] = {}
    for path in paths:
        if not Path(path).is_file():
            raise KeySliceError(f"{path} does not exist")
        table, _ = read_deeplesion_table(path)  # rows it cannot parse are left out; the others are checked
        for name, spacing in zip(table.file_name, table.spacing):
            out.setdefault(Path(name).name, tuple(float(v) for v in spacing))  # type: ignore[arg-type]
    return out


def read_keyslices(manifest: str | Path, spacings: Mapping[str, Spacing] | None = None) -> list[KeySlice]:
    """Every row of the manifest, images read relative to its folder. ``spacings`` (``dl_info_spacings``) fills
    rows without a spacing and must agree with those that have one."""
    import cv2  # reads 16-bit PNG unchanged; already a dependency (Pillow is not)

    manifest = Path(manifest)
    if not manifest.is_file():
        raise KeySliceError(f"{manifest} does not exist")
    out = []
    with open(manifest, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for col in ("image", "bbox_x1y1x2y2", "spacing_mm"):
            if col not in (reader.fieldnames or []):
                raise KeySliceError(f"{manifest}: no column {col!r}: not a DeepLesion key-slice manifest")
        for row in reader:
            where = f"{manifest}:{reader.line_num}"
            try:
                box = _numbers(row["bbox_x1y1x2y2"], 4, "bbox_x1y1x2y2")[:4]
                known = bool(row["spacing_mm"].strip())
                spacing = _numbers(row["spacing_mm"], 2, "spacing_mm") if known else (DEFAULT_PIXEL_MM,) * 2
            except ValueError as exc:
                raise KeySliceError(f"{where}: {exc}") from None
            listed = (spacings or {}).get(Path(row.get("deeplesion_file_name") or row["image"]).name)
            source = "manifest" if known else "assumed"
            if listed is not None and known and not np.allclose(spacing[:2], listed[:2], rtol=1e-3):
                raise KeySliceError(f"{where}: pixel spacing {spacing[:2]} differs from DL_info's {listed[:2]}")
            if listed is not None and not known:
                spacing, known, source = listed, True, "DL_info"
            path = manifest.parent / row["image"]
            pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
            if pixels is None:
                raise KeySliceError(f"{where}: cannot read {path} (missing or not an image)")
            if pixels.ndim != 2 or pixels.dtype != np.uint16:
                raise KeySliceError(f"{where}: {path} is not a 16-bit grey image ({pixels.dtype}, {pixels.shape})")
            hu = pixels.astype(np.float32) - HU_OFFSET
            sz = spacing[2] if len(spacing) > 2 else DEFAULT_SLICE_MM
            name = Path(row["image"]).stem
            out.append(KeySlice(name, Volume(hu[None], (spacing[0], spacing[1], sz), (0.0, 0.0, 0.0), np.eye(3), name),
                                box, known, source))  # type: ignore[arg-type]
    if not out:
        raise KeySliceError(f"{manifest} lists no image")
    return out
