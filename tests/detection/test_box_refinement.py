"""Small proposals' boxes fitted to the image (liverview.detection.box_refinement): hand-made slices with a
known lesion box, and each case where the box must stay as the detector gave it."""

import numpy as np
import pytest

from liverview.detection.box_refinement import BoxRefinement, refine_box, refine_proposal
from liverview.detection.proposals import Proposal3D

LIVER_HU, CYST_HU = 110.0, 10.0


def liver_slice(seed=0, size=96):
    rng = np.random.default_rng(seed)
    return (LIVER_HU + rng.normal(0, 8, (size, size))).astype(np.float32)


def with_disk(hu, cx, cy, r, value=CYST_HU):
    yy, xx = np.mgrid[:hu.shape[0], :hu.shape[1]] + 0.5
    hu = hu.copy()
    hu[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = value
    return hu


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


LESION = (44.0, 44.0, 52.0, 52.0)  # a disk of radius 4 px centred at (48, 48)
LOOSE = (41.0, 42.0, 57.0, 58.0)  # twice as wide, off by 2-3 px: the detector's small-lesion box


def test_a_loose_box_on_a_dark_blob_is_fitted_to_the_blob():
    hu = with_disk(liver_slice(), 48, 48, 4)
    assert iou(LOOSE, LESION) < 0.5
    fitted = refine_box(hu, LOOSE)
    assert fitted is not None and iou(fitted, LESION) >= 0.75


def test_a_bright_blob_is_fitted_too():
    hu = with_disk(liver_slice(1), 48, 48, 4, value=220.0)  # a hyperdense lesion (hemangioma in the PV phase)
    fitted = refine_box(hu, LOOSE)
    assert fitted is not None and iou(fitted, LESION) >= 0.75


def test_no_blob_no_fit():
    assert refine_box(with_disk(liver_slice(2), 48, 48, 4, value=LIVER_HU - 8), LOOSE) is None  # 8 HU: not visible
    assert refine_box(liver_slice(3), LOOSE) is None


def test_a_blob_that_runs_out_of_the_window_or_far_past_the_box_is_not_taken():
    hu = liver_slice(4)
    hu[44:52, :] = CYST_HU  # a vessel across the slice, as wide as the lesion would be
    assert refine_box(hu, LOOSE) is None
    # two lesions touching: their blob reaches far past the detector's box on one side
    merged = with_disk(with_disk(liver_slice(5), 48, 48, 4), 57, 48, 5)
    assert refine_box(merged, (43.0, 43.0, 53.0, 53.0)) is None


def test_a_large_proposal_keeps_its_boxes_and_a_small_one_is_fitted_on_every_slice():
    hu = np.stack([with_disk(liver_slice(10 + z), 48, 48, r) for z, r in enumerate((2.5, 4, 4, 2.5))])
    small = Proposal3D(LOOSE, (0, 3), 0.8, 1, {"cyst": 1.0}, {z: LOOSE for z in range(4)})
    out = refine_proposal(small, hu, (0.8, 0.8, 2.5))  # 16 px x 0.8 mm = 13 mm: small
    assert out.score == small.score and out.z_range == small.z_range and out.class_probs == small.class_probs
    assert iou(out.slice_boxes[1], LESION) >= 0.75 and iou(out.slice_boxes[2], LESION) >= 0.75
    assert iou(out.box, LESION) > iou(LOOSE, LESION)  # the union box follows
    large = Proposal3D(LOOSE, (0, 3), 0.8, 1, {}, {z: LOOSE for z in range(4)})
    assert refine_proposal(large, hu, (1.5, 1.5, 2.5)) == large  # 16 px x 1.5 mm = 24 mm > 20 mm


def test_slices_without_a_blob_shrink_as_the_fitted_ones_did():
    hu = np.stack([with_disk(liver_slice(20), 48, 48, 4), liver_slice(21)])  # the pole slice shows nothing
    p = Proposal3D(LOOSE, (0, 1), 0.8, 0, {}, {0: LOOSE, 1: LOOSE})
    out = refine_proposal(p, hu, (0.8, 0.8, 2.5))
    fitted = out.slice_boxes[0]
    kept = out.slice_boxes[1]
    assert (kept[0] + kept[2]) / 2 == pytest.approx((LOOSE[0] + LOOSE[2]) / 2)  # same centre
    assert kept[2] - kept[0] == pytest.approx((fitted[2] - fitted[0]), rel=1e-6)  # same shrink as slice 0
    assert kept[2] - kept[0] < LOOSE[2] - LOOSE[0]


def test_a_proposal_without_slice_boxes_is_fitted_on_its_key_slice():
    hu = with_disk(liver_slice(30), 48, 48, 4)[None]
    p = Proposal3D(LOOSE, (0, 0), 0.5, 0)
    out = refine_proposal(p, hu, (0.8, 0.8, 2.5))
    assert out.slice_boxes == {} and iou(out.box, LESION) >= 0.75
    assert refine_proposal(p, hu, (0.8, 0.8, 2.5), BoxRefinement(max_side_mm=5.0)) == p
