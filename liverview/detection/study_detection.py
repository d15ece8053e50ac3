"""Detect lesions in one study the way a reader gets them: the detector's proposals on the reference grid,
named after the study and model, kept near the liver mask and capped (``readable_proposals``). `liverview
detect` and every study of `liverview scan` go through here, so both give the same proposals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from liverview.detection.liver_filter import DEFAULT_MARGIN_MM, DEFAULT_MAX_PROPOSALS, readable_proposals
from liverview.detection.proposals import ProposalSet
from liverview.detection.study_inputs import StudyInputs


LIVER_FROM = 0.8  # share of a study's progress bar the detector takes; the liver mask takes the rest


@dataclass(frozen=True)
class ProposalFilter:
    """How the detector's raw proposals are cut down for reading (detect's and scan's options)."""

    liver_filter: bool = True
    liver_margin_mm: float = DEFAULT_MARGIN_MM
    max_proposals: int = DEFAULT_MAX_PROPOSALS  # 0 = all


def detect_in_study(inputs: StudyInputs, detector: Any, liver: Any | None,
                    keep: ProposalFilter = ProposalFilter(),
                    progress: Callable[[float, str], None] | None = None) -> tuple[ProposalSet, list[str]]:
    """Run ``detector`` (a LesionDetector) on the study; filter by the liver mask of ``liver`` (a
    LiverSegmenter, or None to keep every proposal) and cap. Returns the proposals and a note per step.
    ``progress(fraction, phase)`` hears both models: the detector up to LIVER_FROM, the liver mask after."""
    masked = liver is not None and keep.liver_filter
    detector_share = LIVER_FROM if masked else 1.0
    # the progress keyword only when asked for: a model written before it had none still runs
    hook = {} if progress is None else {"progress": _part(progress, 0.0, detector_share, "detector")}
    result = detector.detect(inputs.volumes, inputs.reference, **hook)
    result = ProposalSet(result.proposals, inputs.name, result.model or detector.name, result.reference_phase,
                         result.shape, result.spacing_mm, result.origin_mm, result.direction)
    result, notes = readable_proposals(
        result, inputs.volumes, inputs.reference, liver if keep.liver_filter else None, keep.liver_margin_mm,
        keep.max_proposals, progress=None if progress is None or not masked else _part(progress, LIVER_FROM, 1.0,
                                                                                         "liver mask"))
    if progress is not None:
        progress(1.0, "done")
    return result, notes


def _part(progress: Callable[[float, str], None], start: float, stop: float, phase: str) -> Callable[[float], None]:
    """A model's 0..1 as ``start..stop`` of the whole study."""
    return lambda f: progress(start + (stop - start) * min(1.0, max(0.0, f)), phase)
