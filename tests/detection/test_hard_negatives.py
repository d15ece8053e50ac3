"""Hard negatives mined from a detector's proposals: only confident ones, never on a labelled lesion or in a
region that may hold unlabelled lesions, best first and capped."""

import numpy as np
import pytest

from liverview.detection.hard_negatives import MiningRule, mine_hard_negatives
from liverview.detection.proposals import Proposal3D


def _p(x0, y0, x1, y1, z0, z1, score):
    return Proposal3D((x0, y0, x1, y1), (z0, z1), score, z0)


LESION = (40, 40, 10, 59, 59, 14)  # x0, y0, z0, x1, y1, z1 inclusive


def test_confident_proposals_away_from_lesions_are_kept_best_first():
    props = [_p(100, 100, 110, 110, 3, 4, 0.5), _p(42, 42, 55, 55, 11, 13, 0.9),  # the second is the lesion
             _p(0, 0, 10, 10, 20, 21, 0.8), _p(150, 150, 160, 160, 5, 5, 0.2)]
    kept = mine_hard_negatives(props, [LESION], MiningRule(min_score=0.3, limit=10))
    assert [p.score for p in kept] == [0.8, 0.5]


def test_the_margin_around_a_lesion_and_the_limit():
    beside = _p(62, 40, 70, 50, 12, 12, 0.9)  # 3 voxels right of the lesion's box (x1 = 59): inside a 4-voxel margin
    above = _p(40, 40, 59, 59, 17, 18, 0.8)  # same x-y, 3 slices past z1 = 14: outside a 1-slice margin
    assert mine_hard_negatives([beside, above], [LESION], MiningRule(margin_vox=(4, 4, 1))) == [above]
    assert mine_hard_negatives([beside, above], [LESION], MiningRule(margin_vox=(0, 0, 0))) == [beside, above]
    many = [_p(100 + 12 * i, 0, 110 + 12 * i, 10, 0, 0, 0.9 - 0.01 * i) for i in range(8)]
    assert [p.score for p in mine_hard_negatives(many, [], MiningRule(limit=3))] == pytest.approx([0.9, 0.89, 0.88])


def test_a_proposal_touching_the_ignore_mask_is_never_a_negative():
    ignore = np.zeros((30, 200, 200), bool)
    ignore[4, 105, 105] = True  # one voxel of a region that may be an unlabelled real lesion
    props = [_p(100, 100, 110, 110, 3, 4, 0.9), _p(100, 100, 110, 110, 6, 7, 0.8)]
    assert mine_hard_negatives(props, [], MiningRule(), ignore) == [props[1]]


def test_bad_rules_are_refused():
    with pytest.raises(ValueError):
        MiningRule(min_score=1.5)
    with pytest.raises(ValueError):
        MiningRule(limit=-1)
