"""A study's liver mask is computed once and found again by the volumes it came from, by the viewer's
outline and the detector's liver filter alike; it goes when the study's volumes are freed."""

import gc

import numpy as np
import pytest

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.liver_mask_cache import CachingLiverSegmenter, LiverMaskCache

PV, ART = PhaseKind.PORTAL_VENOUS, PhaseKind.ARTERIAL


class CountingSegmenter:
    """Stands in for a plugin: a mask of the voxels above 0 HU, and how often it was asked."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def segment(self, volumes, reference, progress=None, cancelled=None):
        self.calls += 1
        ref = volumes[reference]
        return Volume((ref.array > 0).astype(np.uint8), ref.spacing, ref.origin, ref.direction, name="liver")


class OldSegmenter:
    """A segmenter written before progress and cancel existed: it takes neither keyword."""

    name = "old"

    def segment(self, volumes, reference):
        return Volume(np.ones_like(volumes[reference].array, np.uint8))


def _volume(value: int = 50) -> Volume:
    return Volume(np.full((3, 4, 5), value, np.int16), (1.0, 1.0, 2.0))


def test_the_second_request_for_the_same_volumes_is_answered_from_the_cache():
    cache, counting = LiverMaskCache(), CountingSegmenter()
    volumes = {PV: _volume(), ART: _volume()}
    first = CachingLiverSegmenter(counting, cache).segment(volumes, PV)
    seen = []
    second = CachingLiverSegmenter(counting, cache).segment(dict(volumes), PV, progress=seen.append)
    assert counting.calls == 1 and second is first and seen == [1.0]
    assert CachingLiverSegmenter(counting, cache).name == "counting"


def test_other_volumes_or_another_reference_are_segmented_again():
    cache, counting = LiverMaskCache(), CountingSegmenter()
    volumes = {PV: _volume(), ART: _volume()}
    seg = CachingLiverSegmenter(counting, cache)
    seg.segment(volumes, PV)
    seg.segment({PV: _volume(), ART: volumes[ART]}, PV)  # equal content, another study: not the same mask
    seg.segment(volumes, ART)
    seg.segment({PV: volumes[PV]}, PV)  # fewer phases given
    assert counting.calls == 4
    assert cache.get(volumes, PV) is not None and cache.get(volumes, ART) is not None


def test_a_failure_is_not_kept_and_old_segmenters_get_no_hooks():
    class Failing:
        name = "failing"

        def segment(self, volumes, reference, progress=None, cancelled=None):
            raise ValueError("no liver")

    cache = LiverMaskCache()
    volumes = {PV: _volume()}
    with pytest.raises(ValueError):
        CachingLiverSegmenter(Failing(), cache).segment(volumes, PV, progress=lambda f: None)
    assert cache.get(volumes, PV) is None
    assert CachingLiverSegmenter(OldSegmenter(), cache).segment(volumes, PV).array.sum() == 60


def test_masks_go_with_the_study_volumes():
    cache = LiverMaskCache()
    volumes = {PV: _volume()}
    CachingLiverSegmenter(CountingSegmenter(), cache).segment(volumes, PV)
    assert len(cache._by_reference) == 1
    del volumes
    gc.collect()
    assert len(cache._by_reference) == 0
