"""Measuring a phase's contrast from its image (phase inference when no tag names the phase) never holds a
float copy of the whole volume: a 600-slice int16 phase took 2x its size again as float32 (4x with the
NaN-free copy); the coarse grid and its masks are what remains."""

from __future__ import annotations

import tracemalloc

import numpy as np

from liverview.core.volume import Volume
from liverview.io import contrast_enhancement


def test_the_image_is_measured_slab_by_slab_not_as_one_float_copy(monkeypatch):
    rng = np.random.default_rng(0)
    array = rng.integers(-1000, 200, (64, 256, 256), dtype=np.int16)
    volume = Volume(array, (0.7, 0.7, 2.0))
    monkeypatch.setattr(contrast_enhancement, "_SLAB_VOXELS", 1 << 18)  # 1 MB of float32 per slab
    tracemalloc.start()
    try:
        contrast_enhancement.measure_enhancement(volume)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < array.nbytes, f"peak {peak} bytes while measuring a {array.nbytes}-byte int16 volume"


def test_slabs_give_the_same_block_means_as_one_pass(monkeypatch):
    rng = np.random.default_rng(1)
    volume = Volume(rng.integers(-1000, 200, (37, 128, 128), dtype=np.int16), (0.7, 0.7, 1.0))
    whole = contrast_enhancement._coarse(volume)
    monkeypatch.setattr(contrast_enhancement, "_SLAB_VOXELS", 1 << 15)
    slabs = contrast_enhancement._coarse(volume)
    assert whole is not None and slabs is not None and whole[2] == slabs[2]
    assert np.array_equal(whole[0], slabs[0]) and np.array_equal(whole[1], slabs[1])
