"""Liver masks already computed for the studies open in this process, so the viewer's liver outline and
the detector's liver filter compute a study's mask once between them.

A mask is found again by the very volumes it was computed from (identity, not content: a study opened again
from disk is new), held weakly through the reference volume: when a study is closed and its volumes are
freed, its masks go too.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume


@dataclass(frozen=True)
class _Entry:
    reference: PhaseKind
    inputs: tuple[tuple[PhaseKind, "weakref.ref[Volume]"], ...]
    mask: Volume

    def matches(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind) -> bool:
        return (reference is self.reference and len(volumes) == len(self.inputs)
                and all(volumes.get(kind) is ref() for kind, ref in self.inputs))


class LiverMaskCache:
    """Masks by the (phase -> volume) inputs and reference phase they were segmented from. Thread-safe: the
    detector's worker writes, the viewer's reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_reference: weakref.WeakKeyDictionary[Volume, list[_Entry]] = weakref.WeakKeyDictionary()

    def get(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind) -> Volume | None:
        ref = volumes.get(reference)
        if ref is None:
            return None
        with self._lock:
            for entry in self._by_reference.get(ref, []):
                if entry.matches(volumes, reference):
                    return entry.mask
        return None

    def put(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind, mask: Volume) -> None:
        ref = volumes.get(reference)
        if ref is None:
            return
        entry = _Entry(reference, tuple((kind, weakref.ref(v)) for kind, v in volumes.items()), mask)
        with self._lock:
            kept = [e for e in self._by_reference.get(ref, []) if not e.matches(volumes, reference)]
            self._by_reference[ref] = kept + [entry]


class CachingLiverSegmenter:
    """A LiverSegmenter that answers from ``cache`` when it can and keeps what ``segmenter`` computes."""

    def __init__(self, segmenter: Any, cache: LiverMaskCache) -> None:
        self.segmenter = segmenter
        self.cache = cache

    @property
    def name(self) -> str:
        return str(getattr(self.segmenter, "name", "") or "liver segmenter")

    def segment(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
                progress: Callable[[float], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> Volume:
        found = self.cache.get(volumes, reference)
        if found is not None:
            if progress is not None:
                progress(1.0)
            return found
        # Pass only the hooks given: a segmenter written before they existed still runs.
        hooks = {k: v for k, v in (("progress", progress), ("cancelled", cancelled)) if v is not None}
        mask = self.segmenter.segment(volumes, reference, **hooks)
        self.cache.put(volumes, reference, mask)
        return mask
