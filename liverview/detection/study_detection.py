"""Detect lesions in one study the way a reader gets them: the detector's proposals on the reference grid,
named after the study and model, kept near the liver mask and capped (``readable_proposals``). `liverview
detect` and every study of `liverview scan` go through here, so both give the same proposals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liverview.detection.liver_filter import DEFAULT_MARGIN_MM, DEFAULT_MAX_PROPOSALS, readable_proposals
from liverview.detection.proposals import ProposalSet
from liverview.detection.study_inputs import StudyInputs


@dataclass(frozen=True)
class ProposalFilter:
    """How the detector's raw proposals are cut down for reading (detect's and scan's options)."""

    liver_filter: bool = True
    liver_margin_mm: float = DEFAULT_MARGIN_MM
    max_proposals: int = DEFAULT_MAX_PROPOSALS  # 0 = all


def detect_in_study(inputs: StudyInputs, detector: Any, liver: Any | None,
                    keep: ProposalFilter = ProposalFilter()) -> tuple[ProposalSet, list[str]]:
    """Run ``detector`` (a LesionDetector) on the study; filter by the liver mask of ``liver`` (a
    LiverSegmenter, or None to keep every proposal) and cap. Returns the proposals and a note per step."""
    result = detector.detect(inputs.volumes, inputs.reference)
    result = ProposalSet(result.proposals, inputs.name, result.model or detector.name, result.reference_phase,
                         result.shape, result.spacing_mm, result.origin_mm, result.direction)
    return readable_proposals(result, inputs.volumes, inputs.reference, liver if keep.liver_filter else None,
                              keep.liver_margin_mm, keep.max_proposals)
