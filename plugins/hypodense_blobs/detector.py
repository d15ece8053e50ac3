"""Hypodense blobs in the liver as lesion proposals: the baseline a learnt detector must beat.

Uses the same rule that marks a host scan's possible real lesions for lesion insertion
(liverview.synth.lesion_insertion.suspicious_regions, without the safety margin), so the baseline is
exactly "what a threshold on the liver finds"."""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from scipy import ndimage

from liverview.core.study import PhaseKind, phase_to_read
from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D, ProposalSet
from liverview.plugin_api.errors import Cancelled, ModelInputError
from liverview.synth.lesion_insertion import suspicious_regions

SCORE_SCALE_HU = 100.0  # a blob 100 HU darker than the liver scores 1


class HypodenseBlobDetector:
    name = "hypodense_blobs/0.1 (threshold baseline)"

    def __init__(self, liver_segmenter) -> None:
        self.liver_segmenter = liver_segmenter
        self.device = "cpu"

    def detect(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
               progress: Callable[[float], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> ProposalSet:
        if reference not in volumes:
            raise ModelInputError(f"the study has no {reference.value} phase")
        ref = volumes[reference]
        kind = phase_to_read(volumes, reference)  # boxes are given on the reference grid
        hu = np.asarray(volumes[kind].array, np.float32)
        if not np.isfinite(hu).any():
            raise ModelInputError(f"the {kind.value} phase holds no finite voxel")
        hu = np.where(np.isfinite(hu), hu, -1000.0)
        liver = self.liver_segmenter.segment({kind: volumes[kind]}, kind, cancelled=cancelled).array > 0
        if cancelled is not None and cancelled():
            raise Cancelled("detection cancelled")
        liver_hu = float(np.median(hu[liver]))
        blobs = suspicious_regions(hu, liver, ref.spacing, liver_hu, margin_mm=0.0)
        labels, n = ndimage.label(blobs)
        proposals = []
        for lid, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            m = labels[box] == lid
            area = m.sum(axis=(1, 2))
            key = box[0].start + int(np.argmax(area))
            slice_boxes = {}
            for dz in np.flatnonzero(area):
                rows, cols = np.flatnonzero(m[dz].any(axis=1)), np.flatnonzero(m[dz].any(axis=0))
                slice_boxes[box[0].start + int(dz)] = (box[2].start + cols[0], box[1].start + rows[0],
                                                       box[2].start + cols[-1] + 1.0, box[1].start + rows[-1] + 1.0)
            darkness = liver_hu - float(hu[box][m].mean())
            proposals.append(Proposal3D((box[2].start, box[1].start, box[2].stop, box[1].stop),
                                        (box[0].start, box[0].stop - 1), float(np.clip(darkness / SCORE_SCALE_HU, 0.0, 1.0)),
                                        key, {}, slice_boxes))
        if progress:
            progress(1.0)
        return ProposalSet.for_volume(proposals, ref, model=self.name, reference_phase=reference.value)


def load_detector(weights=None, device: str = "auto") -> HypodenseBlobDetector:
    from liverview.plugin_registry import discover_plugins

    segmenter = discover_plugins().resolve("liver-segmenter", None).create("cpu", None)
    return HypodenseBlobDetector(segmenter)
