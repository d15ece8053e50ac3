"""Proposals between a scan's stored grid and the scan re-laid in patient axis order (liverview.core.axis_order):
a detector's proposals go back to the stored grid, where the viewer, the liver filter and the evaluation read
them; known non-lesions of a training study come to the patient-ordered grid the detector trains on."""

from __future__ import annotations

import math

import numpy as np

from liverview.core.axis_order import AxisOrder
from liverview.detection.proposals import Box2D, Proposal3D


def _box_to_stored(box: Box2D, order: AxisOrder, shape: tuple[int, int, int]) -> Box2D:
    """An in-plane box (x0, y0, x1, y1, voxel edges) on a patient-ordered slice -> the stored slice's box; only
    for orders that keep slices (the z coordinate does not move x or y then)."""
    x0, y0, x1, y1 = box
    corners = order.edges_to_stored(np.array([[0.0, y0, x0], [0.0, y1, x1]]), shape)
    j, i = corners[:, 1], corners[:, 2]
    return float(i.min()), float(j.min()), float(i.max()), float(j.max())


def _slice_to_stored(z: int, order: AxisOrder, shape: tuple[int, int, int]) -> int:
    return shape[0] - 1 - z if order.flip[0] else z


def proposal_on_stored_grid(p: Proposal3D, order: AxisOrder, shape: tuple[int, int, int]) -> Proposal3D:
    """``p`` (on the patient-ordered array of a scan stored as ``shape`` [k, j, i] in ``order``) on the stored
    grid. Flips keep every slice's box; a scan stored with its slices along another axis (sagittal, coronal) gets
    the proposal's 3D box only, its slices being other cuts than the ones the boxes were found on."""
    if order.is_identity:
        return p
    if order.keeps_slices:
        z0, z1 = sorted(_slice_to_stored(z, order, shape) for z in p.z_range)
        slice_boxes = {_slice_to_stored(z, order, shape): _box_to_stored(b, order, shape)
                       for z, b in p.slice_boxes.items()}
        return Proposal3D(_box_to_stored(p.box, order, shape), (z0, z1), p.score,
                          _slice_to_stored(p.key_slice, order, shape), p.class_probs, slice_boxes)
    x0, y0, x1, y1 = p.box
    z0, z1 = p.z_range
    corners = np.array([[z, y, x] for z in (z0, z1 + 1.0) for y in (y0, y1) for x in (x0, x1)])
    stored = order.edges_to_stored(corners, shape)
    lo, hi = stored.min(axis=0), stored.max(axis=0)
    k0 = int(min(max(round(lo[0]), 0), shape[0] - 1))  # the stored slices whose centres the box spans
    k1 = int(min(max(round(hi[0]) - 1, k0), shape[0] - 1))
    key_point = order.edges_to_stored(np.array([[p.key_slice + 0.5, (y0 + y1) / 2, (x0 + x1) / 2]]), shape)[0]
    key = int(min(max(math.floor(key_point[0]), k0), k1))
    return Proposal3D((float(lo[2]), float(lo[1]), float(hi[2]), float(hi[1])), (k0, k1), p.score, key,
                      p.class_probs)


def proposal_in_patient_order(p: Proposal3D, order: AxisOrder, patient_shape: tuple[int, int, int]) -> Proposal3D:
    """``p`` on the stored grid of a scan stored in ``order`` -> on its patient-ordered array ([z, y, x] shape
    ``patient_shape``)."""
    return proposal_on_stored_grid(p, order.inverse, patient_shape)
