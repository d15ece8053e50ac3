"""Proposals between a scan's stored grid and its patient-ordered re-laying cover the same place in the patient."""

import numpy as np
import pytest

from liverview.core.axis_order import in_patient_order
from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D
from liverview.detection.stored_grid import proposal_in_patient_order, proposal_on_stored_grid

LITS_LIKE = np.diag([1.0, -1.0, -1.0])
SAGITTAL = np.array([[0, 0, -1.0], [0, 1.0, 0], [1.0, 0, 0]])


def _world_box(volume: Volume, box, z_range) -> np.ndarray:
    """World (min, max) corners of a box in voxel edges (x0, y0, x1, y1) over slices z0..z1."""
    x0, y0, x1, y1 = box
    corners = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z_range[0], z_range[1] + 1.0)])
    world = volume.index_to_world(corners - 0.5)  # edges: voxel centres sit at +0.5
    return np.stack([world.min(axis=0), world.max(axis=0)])


@pytest.mark.parametrize("direction", [LITS_LIKE, SAGITTAL])
def test_a_proposal_covers_the_same_place_on_the_stored_grid(direction):
    stored = Volume(np.zeros((20, 30, 40)), (0.7, 0.8, 2.5), (5, -7, 11), direction)
    relaid, order = in_patient_order(stored)
    nz, ny, nx = relaid.array.shape
    p = Proposal3D((3.0, 4.5, 9.0, 12.0), (2, 5), 0.8, 4, {"hcc": 0.7, "cyst": 0.3},
                   {z: (3.0 + z % 2, 4.5, 9.0, 12.0) for z in range(2, 6)})
    back = proposal_on_stored_grid(p, order, stored.array.shape)
    assert back.score == p.score and back.class_probs == p.class_probs
    assert np.allclose(_world_box(stored, back.box, back.z_range), _world_box(relaid, p.box, p.z_range))
    assert back.z_range[0] <= back.key_slice <= back.z_range[1]
    if order.keeps_slices:  # each slice's box is where it was found, and the way back is exact
        for z, box in p.slice_boxes.items():
            zs = stored.array.shape[0] - 1 - z
            assert np.allclose(_world_box(stored, back.slice_boxes[zs], (zs, zs)), _world_box(relaid, box, (z, z)))
        again = proposal_in_patient_order(back, order, relaid.array.shape)
        assert again.box == pytest.approx(p.box) and again.z_range == p.z_range and again.key_slice == p.key_slice
        assert {z: pytest.approx(b) for z, b in again.slice_boxes.items()} == p.slice_boxes
    else:  # slices of another axis: the 3D box only
        assert back.slice_boxes == {}
