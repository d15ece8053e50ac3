"""What the 3D view draws over the volume, as plain data: proposal boxes and RECIST axes in LPS mm.

Qt- and VTK-free so the mapping from store records to colours and segments is tested without a
display; the 3D pane only turns a ``SceneOverlays`` into line actors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from liverview.store.records import LesionRecord, ProposalRecord

RGB = tuple[int, int, int]

# The 2D proposal overlay uses the same colours, so a box reads the same in every view.
STATUS_COLORS: dict[str, RGB] = {
    "pending": (255, 140, 0),
    "accepted": (60, 220, 60),
    "edited": (60, 220, 60),
    "rejected": (200, 60, 60),
    "flagged": (220, 80, 220),
}
CURRENT_COLOR: RGB = (255, 255, 0)
RECIST_COLOR: RGB = (0, 220, 255)  # the RECIST tool's colour in the 2D panes


@dataclass(frozen=True)
class SceneBox:
    """An axis-aligned box in LPS mm, drawn as its 12 edges."""

    min_mm: tuple[float, float, float]
    max_mm: tuple[float, float, float]
    color: RGB
    current: bool = False  # the proposal under review: drawn thicker

    def edges(self) -> np.ndarray:
        """(12, 2, 3) edge end points."""
        lo, hi = np.asarray(self.min_mm, float), np.asarray(self.max_mm, float)
        corners = np.array([[(hi if (n >> a) & 1 else lo)[a] for a in range(3)] for n in range(8)])
        pairs = [(n, n | (1 << a)) for n in range(8) for a in range(3) if not (n >> a) & 1]
        return np.array([[corners[i], corners[j]] for i, j in pairs])


@dataclass(frozen=True)
class SceneSegment:
    """A line segment in LPS mm (a RECIST axis)."""

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    color: RGB


@dataclass(frozen=True)
class SceneOverlays:
    boxes: tuple[SceneBox, ...] = field(default_factory=tuple)
    segments: tuple[SceneSegment, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.boxes and not self.segments


def _point(p) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in p)
    return (x, y, z)


def overlays_from_records(proposals: Iterable[ProposalRecord], lesions: Iterable[LesionRecord],
                          current_id: int | None = None) -> SceneOverlays:
    """Every proposal as a box coloured by review status (the current one highlighted) and every live
    lesion's RECIST long and short axes as segments (records hold finite mm coordinates: they check)."""
    boxes = []
    for p in proposals:
        current = current_id is not None and p.id == current_id
        color = CURRENT_COLOR if current else STATUS_COLORS.get(p.status, STATUS_COLORS["pending"])
        boxes.append(SceneBox(_point(p.box.min_mm), _point(p.box.max_mm), color, current))
    segments = []
    for lesion in lesions:
        if lesion.deleted or lesion.recist is None:
            continue
        axes = [lesion.recist.long_axis] + ([lesion.recist.short_axis] if lesion.recist.short_axis else [])
        segments += [SceneSegment(_point(a), _point(b), RECIST_COLOR) for a, b in axes]
    # The current box last, so it is drawn over a box it shares edges with.
    boxes.sort(key=lambda box: box.current)
    return SceneOverlays(tuple(boxes), tuple(segments))
