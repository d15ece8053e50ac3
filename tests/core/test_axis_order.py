"""Patient axis order: a scan stored flipped or sideways, re-laid with every voxel at its world position."""

import numpy as np
import pytest

from liverview.core.axis_order import AxisOrder, in_patient_order
from liverview.core.volume import Volume

LITS_LIKE = np.diag([1.0, -1.0, -1.0])  # rows posterior to anterior, slices head to feet
SAGITTAL = np.array([[0, 0, -1.0], [0, 1.0, 0], [1.0, 0, 0]])  # slices along x, columns along -z


@pytest.mark.parametrize("direction", [LITS_LIKE, SAGITTAL, np.diag([-1.0, 1.0, 1.0])])
def test_every_voxel_keeps_its_world_position(direction):
    arr = np.random.default_rng(0).normal(size=(5, 6, 7)).astype(np.float32)
    stored = Volume(arr, (0.7, 0.8, 2.5), (10, 20, 30), direction, "s")
    relaid, order = in_patient_order(stored)
    assert not order.is_identity
    assert np.allclose(np.sign(np.diag(relaid.direction)), 1) and np.allclose(np.abs(relaid.direction), np.eye(3))
    k, j, i = np.meshgrid(*(np.arange(n) for n in arr.shape), indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)
    where = np.rint(relaid.world_to_index(stored.index_to_world(ijk))).astype(int)
    assert np.array_equal(relaid.array[where[:, 2], where[:, 1], where[:, 0]], arr.ravel())
    assert np.array_equal(order.backward(relaid.array), arr)


def test_a_scan_stored_in_patient_order_is_returned_as_it_is():
    v = Volume(np.zeros((3, 4, 5)), (1, 1, 2))
    relaid, order = in_patient_order(v)
    assert relaid is v and order.is_identity


def test_missing_slices_follow_a_flip_of_the_slice_axis():
    v = Volume(np.zeros((6, 4, 4)), direction=LITS_LIKE, missing_slices=(1, 2))
    assert in_patient_order(v)[0].missing_slices == (3, 4)


@pytest.mark.parametrize("direction", [LITS_LIKE, SAGITTAL])
def test_edges_go_to_the_stored_grid_and_back(direction):
    order = AxisOrder.of(direction)
    stored_shape = (5, 6, 7)
    patient_shape = tuple(stored_shape[a] for a in order.perm)
    points = np.array([[0.0, 0.0, 0.0], [1.5, 2.25, 3.0], [patient_shape[0], patient_shape[1], patient_shape[2]]])
    back = order.inverse.edges_to_stored(order.edges_to_stored(points, stored_shape), patient_shape)
    assert np.allclose(back, points)
