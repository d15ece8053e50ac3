"""Cross-sections of a 3D box with axial, coronal, sagittal and oblique planes."""

import numpy as np

from liverview.review.box_section import box_section, boxes_cut_by_plane

LO, HI = (-10.0, 0.0, 5.0), (20.0, 8.0, 30.0)


def test_axis_planes_give_the_box_faces():
    axial = box_section(LO, HI, (0, 0, 12.0), (0, 0, 1.0))
    assert len(axial) == 4
    assert np.allclose(sorted(set(axial[:, 0])), [-10, 20]) and np.allclose(sorted(set(axial[:, 1])), [0, 8])
    assert np.allclose(axial[:, 2], 12.0)
    coronal = box_section(LO, HI, (0, 3.0, 0), (0, 1.0, 0))
    assert len(coronal) == 4 and np.allclose(coronal[:, 1], 3.0)
    assert np.ptp(coronal[:, 0]) == 30.0 and np.ptp(coronal[:, 2]) == 25.0
    sagittal = box_section(LO, HI, (0, 0, 0), (1.0, 0, 0))
    assert len(sagittal) == 4 and np.ptp(sagittal[:, 1]) == 8.0 and np.ptp(sagittal[:, 2]) == 25.0


def test_missed_plane_and_oblique_plane():
    assert len(box_section(LO, HI, (0, 0, 31.0), (0, 0, 1.0))) == 0
    n = np.array([1.0, 1.0, 1.0]) / np.sqrt(3)
    centre = (np.array(LO) + np.array(HI)) / 2
    poly = box_section(LO, HI, centre, n)
    assert len(poly) == 6  # a cube-like box cut through its centre across the diagonal is a hexagon
    assert np.allclose((poly - centre) @ n, 0, atol=1e-9)
    # ordered around the centre: consecutive edges never cross (signed areas all the same sign)
    rel = poly - poly.mean(axis=0)
    cross = np.cross(rel, np.roll(rel, -1, axis=0)) @ n
    assert np.all(cross > 0) or np.all(cross < 0)


def test_prefilter_matches_the_section():
    rng = np.random.default_rng(1)
    mins = rng.uniform(-50, 50, (200, 3))
    maxs = mins + rng.uniform(1, 20, (200, 3))
    for normal in ((0, 0, 1.0), (0, 1.0, 0), (0.6, 0.0, 0.8)):
        hit = boxes_cut_by_plane(mins, maxs, (0, 0, 0), normal)
        direct = [len(box_section(a, b, (0, 0, 0), normal)) >= 3 for a, b in zip(mins, maxs)]
        assert list(hit) == direct
