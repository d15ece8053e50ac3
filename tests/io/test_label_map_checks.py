"""Class maps read as lesion maps are caught: an organ value around lesions, one value for several tumours."""

import numpy as np

from liverview.io.label_map_checks import class_map_doubts, split_labels, surrounding_labels


def blob(labels, z, y, x, r, value):
    zz, yy, xx = np.ogrid[:labels.shape[0], :labels.shape[1], :labels.shape[2]]
    labels[(zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 <= r * r] = value


def test_an_instance_map_raises_no_doubt_even_with_a_speck():
    labels = np.zeros((20, 60, 60), np.int16)
    blob(labels, 10, 15, 15, 5, 1)
    blob(labels, 10, 40, 40, 6, 2)
    labels[10, 15, 22] = 1  # one stray voxel of lesion 1 beside it: annotation noise, not a second region
    labels[0, 0, 0] = 1
    assert class_map_doubts(labels) == []


def test_a_liver_and_tumour_class_map_is_named_as_such():
    labels = np.zeros((20, 60, 60), np.int16)
    labels[2:18, 5:55, 5:55] = 1  # the organ
    blob(labels, 10, 18, 18, 5, 2)  # two tumours, one value
    blob(labels, 10, 40, 40, 6, 2)
    assert surrounding_labels(labels) == {2: 1}
    assert split_labels(labels) == {2: 2}
    doubts = class_map_doubts(labels)
    assert len(doubts) == 2 and "value 1 surrounds value 2" in doubts[0] and "2 separate regions" in doubts[1]


def test_touching_lesions_do_not_surround_each_other():
    labels = np.zeros((20, 60, 60), np.int16)
    blob(labels, 10, 30, 24, 6, 1)
    blob(labels, 10, 30, 36, 6, 2)  # they touch along a face: a small share of each other's shell
    assert surrounding_labels(labels) == {}
