"""The outline of a 3D mask on the cut a pane shows, as line segments in the pane's scene mm.

The mask lives on its own grid (the reference phase's); a pane shows another phase, possibly on another
grid, in axial, coronal or sagittal. Every pixel centre of the pane's cut is taken to patient mm and into
the mask's voxel index (one affine map), the nearest mask voxel is read, and the outline is drawn along the
pixel edges between inside and outside. Only the rectangle of the cut that the mask's bounding box can
reach is sampled, so a slice step costs little even on 512 x 512 images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liverview.core.slicing import SliceGeometry
from liverview.core.volume import Volume


@dataclass(frozen=True)
class OutlineSource:
    """A mask with the index box of its voxels > 0 (found once, used on every slice step)."""

    mask: Volume
    lo_ijk: np.ndarray  # (3,) first voxel index (i, j, k) holding the mask; empty mask: lo > hi
    hi_ijk: np.ndarray  # (3,) last one

    @property
    def empty(self) -> bool:
        return bool(np.any(self.lo_ijk > self.hi_ijk))


def outline_source(mask: Volume) -> OutlineSource:
    """Find the bounding box of ``mask``'s voxels > 0."""
    inside = np.asarray(mask.array) != 0
    if not inside.any():
        return OutlineSource(mask, np.ones(3, int), np.zeros(3, int))
    # array axes are (k, j, i)
    k = np.flatnonzero(inside.any(axis=(1, 2)))
    j = np.flatnonzero(inside.any(axis=(0, 2)))
    i = np.flatnonzero(inside.any(axis=(0, 1)))
    return OutlineSource(mask, np.array([i[0], j[0], k[0]]), np.array([i[-1], j[-1], k[-1]]))


@dataclass(frozen=True)
class MaskCut:
    """The mask sampled at the pixel centres of part of a pane's cut: ``inside[r, c]`` is pixel
    (``col0 + c``, ``row0 + r``) of the cut."""

    inside: np.ndarray  # bool (rows, cols)
    col0: int
    row0: int


def _cut_to_mask_index(source: OutlineSource, geom: SliceGeometry, slice_index: int) -> np.ndarray:
    """3x3 affine: (col, row, 1) of the cut at ``slice_index`` -> continuous mask index (i, j, k)."""
    to_mask = source.mask.world_to_index_matrix @ geom.index_to_world
    corners = np.array([geom.pixel_to_index(0.0, 0.0, slice_index), geom.pixel_to_index(1.0, 0.0, slice_index),
                        geom.pixel_to_index(0.0, 1.0, slice_index)])
    q = corners @ to_mask[:3, :3].T + to_mask[:3, 3]
    return np.column_stack([q[1] - q[0], q[2] - q[0], q[0]])


def mask_on_cut(source: OutlineSource, geom: SliceGeometry, slice_index: int) -> MaskCut:
    """The mask (nearest voxel) at every pixel centre of the cut, limited to the pixels its bounding box
    can reach; an empty ``inside`` when the cut misses the mask."""
    nothing = MaskCut(np.zeros((0, 0), bool), 0, 0)
    if source.empty:
        return nothing
    rows, cols = geom.image_shape
    # The corners of the mask's box (voxel edges, +-0.5) in the pane volume's index, then in pixels of the cut.
    bits = np.array([[(n >> a) & 1 for a in range(3)] for n in range(8)], float)
    box = (source.lo_ijk - 0.5) + bits * (source.hi_ijk - source.lo_ijk + 1.0)
    mask_to_pane = np.linalg.inv(geom.index_to_world) @ source.mask.index_to_world_matrix
    pane_ijk = box @ mask_to_pane[:3, :3].T + mask_to_pane[:3, 3]
    c, r, s = geom.index_to_pixel(pane_ijk)
    if not s.min() - 0.5 <= slice_index <= s.max() + 0.5:
        return nothing
    c0, c1 = max(int(np.floor(c.min())), 0), min(int(np.ceil(c.max())), cols - 1)
    r0, r1 = max(int(np.floor(r.min())), 0), min(int(np.ceil(r.max())), rows - 1)
    if c0 > c1 or r0 > r1:
        return nothing
    a = _cut_to_mask_index(source, geom, slice_index)
    cc = np.arange(c0, c1 + 1, dtype=float)
    rr = np.arange(r0, r1 + 1, dtype=float)
    q = rr[:, None, None] * a[:, 1] + cc[None, :, None] * a[:, 0] + a[:, 2]
    ijk = np.rint(q).astype(np.int64)
    size = np.array(source.mask.size_ijk)
    ok = np.all((ijk >= 0) & (ijk < size), axis=-1)
    inside = np.zeros(ok.shape, bool)
    i, j, k = ijk[ok].T
    inside[ok] = np.asarray(source.mask.array)[k, j, i] != 0
    return MaskCut(inside, c0, r0)


def outline_segments(inside: np.ndarray) -> np.ndarray:
    """(N, 2, 2) segments [(col, row), (col, row)] along the pixel edges between inside and outside pixels
    of a 2D mask (pixel centres at integers, so edges lie at half-integers); collinear neighbouring edges
    are merged into one segment. A pixel on the image border is closed by the border."""
    m = np.pad(np.asarray(inside, bool), 1)
    segments = []
    # Each array is (edge line, position along it): edge line e lies between padded pixels e and e + 1,
    # i.e. at unpadded coordinate e - 0.5; position t along it is unpadded pixel t - 1.
    vertical = (m[:, 1:] != m[:, :-1]).T  # lines are columns, runs go down the rows
    horizontal = m[1:, :] != m[:-1, :]  # lines are rows, runs go along the columns
    for edges, is_vertical in ((vertical, True), (horizontal, False)):
        runs = np.diff(np.pad(edges.astype(np.int8), ((0, 0), (1, 1))), axis=1)
        line, start = np.nonzero(runs == 1)  # C order: the starts and stops of a line pair up
        _, stop = np.nonzero(runs == -1)  # a run covers padded positions [start, stop)
        at = line - 0.5
        a0, a1 = start - 1.5, stop - 1.5  # from the first pixel's leading edge to the last one's trailing edge
        if is_vertical:
            seg = np.stack([np.column_stack([at, a0]), np.column_stack([at, a1])], axis=1)
        else:
            seg = np.stack([np.column_stack([a0, at]), np.column_stack([a1, at])], axis=1)
        segments.append(seg)
    return np.concatenate(segments).astype(float) if segments else np.zeros((0, 2, 2))


def outline_on_cut(source: OutlineSource, geom: SliceGeometry, slice_index: int) -> np.ndarray:
    """The mask's outline on the cut at ``slice_index`` of a pane: (N, 2, 2) segments in scene mm (u, v),
    ready for a line item drawn in pairs; (0, 2, 2) when the cut misses the mask."""
    cut = mask_on_cut(source, geom, slice_index)
    if not cut.inside.any():
        return np.zeros((0, 2, 2))
    seg = outline_segments(cut.inside) + np.array([cut.col0, cut.row0], float)
    a = geom.pixel_to_scene(slice_index)
    return seg @ a[:, :2].T + a[:, 2]
