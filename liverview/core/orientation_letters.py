"""Orientation letters (R/L, A/P, S/I) for the four edges of a pane: which way the patient lies on screen.

A pane draws in a display frame fixed to the patient (liverview.core.slicing), but the image it shows is
the volume's own cut, placed by an exact affine: for a volume whose axes are tilted against the frame (a
gantry tilt, an oblique acquisition) the screen directions *on the cut plane* are not the frame's axes.
The letters are therefore read from the cut's plane (the direction matrix) and the screen frame together:
the patient direction of the in-plane vector that runs to the screen's right (and down), its main letter
first, then any other axis that contributes at least ``MIN_SHARE`` of it ("PS": mostly posterior, also
superior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liverview.core.slicing import Orientation, SliceGeometry, slice_geometry
from liverview.core.volume import Volume

# LPS: +x is the patient's left, +y posterior, +z superior; (letter for -axis, letter for +axis).
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))
MIN_SHARE = 0.2  # a secondary letter from ~12 degrees of obliquity on; below that one letter is clearer


@dataclass(frozen=True)
class EdgeLetters:
    """The patient direction each screen edge points to."""

    left: str
    right: str
    top: str
    bottom: str


def direction_letters(vector: np.ndarray, min_share: float = MIN_SHARE) -> str:
    """Letters of an LPS direction, largest component first; components under ``min_share`` of the unit
    vector are left out (the largest never is)."""
    v = np.asarray(vector, float)
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        raise ValueError("a zero vector has no direction")
    v = v / norm
    order = np.argsort(-np.abs(v), kind="stable")
    return "".join(_LETTERS[a][int(v[a] > 0)] for n, a in enumerate(order) if n == 0 or abs(v[a]) >= min_share)


def screen_directions(geom: SliceGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Unit LPS vectors, on the plane of the cut, that the pane shows running right and down."""
    origin = geom.world(geom.pixel_to_index(0.0, 0.0, 0.0))
    per_col = geom.world(geom.pixel_to_index(1.0, 0.0, 0.0)) - origin
    per_row = geom.world(geom.pixel_to_index(0.0, 1.0, 0.0)) - origin
    in_plane = np.column_stack([per_col, per_row])  # 3x2: world step per pixel column / row
    to_scene = np.array([geom.u, geom.v]) @ in_plane  # 2x2: pixel step -> screen mm (u right, v down)
    right = in_plane @ np.linalg.solve(to_scene, [1.0, 0.0])
    down = in_plane @ np.linalg.solve(to_scene, [0.0, 1.0])
    return right / np.linalg.norm(right), down / np.linalg.norm(down)


def edge_letters(geom: SliceGeometry, min_share: float = MIN_SHARE) -> EdgeLetters:
    """Letters for the four edges of a pane showing the cut ``geom``."""
    right, down = screen_directions(geom)
    return EdgeLetters(left=direction_letters(-right, min_share), right=direction_letters(right, min_share),
                       top=direction_letters(-down, min_share), bottom=direction_letters(down, min_share))


def edge_letters_for(direction: np.ndarray, orientation: Orientation, min_share: float = MIN_SHARE) -> EdgeLetters:
    """Letters for a volume with this direction matrix seen in ``orientation`` (size and spacing do not
    change them)."""
    probe = Volume(np.zeros((2, 2, 2), np.int8), direction=np.asarray(direction, float))
    return edge_letters(slice_geometry(probe, orientation), min_share)
