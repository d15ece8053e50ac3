"""Run the detector on a study: 3D lesion proposals on the reference phase's voxel grid.

What ``detect`` does with the phases:
- every phase is resampled onto the working grid of the *reference* phase (its field of view, 1.6 mm
  pixels, 2.5 mm slices) by patient (world) coordinates; phases on the reference grid are resampled
  directly. No registration is run: the model was trained on phantom phases with their breathing shifts
  of a few mm left in, so it reads phases as they lie. Register the phases first (liverview
  register-phases) when they are far apart.
- a phase the model expects but the study lacks is fed as zeros and marked absent: the cross-phase
  attention ignores it and its features are zeroed before fusion (the model was trained with random
  phase dropout for this). A single-phase CT (e.g. portal venous only) therefore works, with lower class
  accuracy, since classes differ by their enhancement across phases.
- 2D peaks on every working slice (batched) are stacked into 3D proposals by
  liverview.detection.stacking (the harvester's rule: t_G 0.1, link IoU > 0.8, one-slice extension and
  merge >= 0.8), then fragments of one lesion are joined (stacking.merge_fragments; switch off with
  ``Detector.merge_fragments = False``), and everything is mapped back to reference voxels and slices.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch

from liverview.core.axis_order import in_patient_order
from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.box_refinement import refine_proposal
from liverview.detection.proposals import Detection2D, Proposal3D, ProposalSet
from liverview.detection.stacking import (SCORE_THRESHOLD, SLICE_BOX_WINDOW_MM, cap_depth, detected_extent,
                                         merge_fragments, stack_detections, trim_poles, widen_slice_boxes)
from liverview.detection.stored_grid import proposal_on_stored_grid
from liverview.ml.device import resolve_device
from liverview.plugin_api.errors import Cancelled, ModelError, WeightsMissingError
from .config import DetectorConfig
from .dataset import slice_stack
from .decoding import decode
from .model import MultiPhaseCenterNet
from .preprocess import InvalidInputError, prepare_phases

MODEL_NAME = "mscn_detector"
# The harvester's rule extends every chain by one slice each way before merging (to bridge one-slice gaps)
# and keeps the extended range; here the extension still decides what merges, but a proposal spans only the
# slices it was detected on: the extra slices only stretched 3D extents past the lesion. On 3 tuning
# phantoms (seeds 9200-9202, never used for training or the reported figures) recall at 1 FP/volume under
# 3D IoU >= 0.5: 61.9 % with the extended range; dropping the extension altogether reached 85.7 % but left
# more unmerged fragments (false positives). The detected slices still overshoot the poles by 1-4 slices (the
# 2.5D input sees the lesion from there), so the end slices whose box is small beside the widest are cut too
# (stacking.trim_poles): on those tuning phantoms, best-match 3D IoU 0.636 -> 0.704 (cut below 0.3 of the widest
# side; 0.4 gave 0.710, 0.5 0.691). Small lesions still kept full-size boxes past their poles, so the range is
# then capped by the widest box (stacking.cap_depth, depth <= 1.27 x width + 1 slice, a bound taken from real
# lesions' 3D boxes): on those phantoms 0.704 -> 0.715, recall at 3D IoU >= 0.5 of the best match 90.5 -> 95.2 %
# (a cap of 1.0 gave 0.735 but would cut a quarter of real lesions, whose median depth/width is 0.73, 75th
# percentile 0.96).
TIGHT_EXTENT = True
# Fitting small proposals' boxes to the blob under them (liverview.detection.box_refinement) is off: it helps
# on synthetic lesions and not on real ones. Validation inserted studies (chosen there): recall at 1 / 4 FP
# 58.3 / 60.4 -> 64.6 / 66.7 %, under 3D IoU 52.1 / 54.2 -> 56.2 / 58.3 %; fresh phantoms, strict pseudo-3D
# 94.3 -> 100 %, 3D IoU at 4 FP 77.1 -> 82.9 %. Real CT: DeepLesion key slices unchanged with DeepLesion's padded
# boxes (33.3 / 50.0 %), one lesion lost with boxes as predicted (20.8 / 25.0 -> 16.7 / 20.8 %; 9 images read at
# 0.8 mm then); IRCADb 17 unchanged. Real lesions' boxes are not too wide, as small synthetic ones are, and their
# margins are softer. Measured again with the v3 weights (2026-12-02): validation 64.6 -> 68.8 % at 1 FP, but fresh
# phantoms 100 -> 94.3 % and the key slices as predicted 12.5 / 20.8 -> 8.3 / 12.5 % (benchmarks/RESULTS.md).
REFINE_SMALL_BOXES = False
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "mscn_detector" / "mscn_detector.pt"
TRAIN_COMMAND = ("liverview train-detector --data PHANTOMS --out runs/mscn  "
                 "(see models/mscn_detector/MODEL_CARD.md for the exact data and command)")

__all__ = ["Detector", "DetectionCancelled", "InvalidInputError", "load_detector", "resolve_device"]


class DetectionCancelled(Cancelled):
    """The caller's cancelled() turned true; no proposals were produced."""


class WeightsNotFoundError(WeightsMissingError):
    """The weights file does not exist (the message says how to train it)."""


class UnusableWeightsError(ModelError, ValueError):
    """The file is not an mscn_detector checkpoint."""


class Detector:
    """A loaded model ready to detect; ``name`` (model name + version) goes into proposals.json."""

    def __init__(self, model: MultiPhaseCenterNet, config: DetectorConfig, name: str,
                 device: torch.device, batch_slices: int = 8, merge_fragments: bool = True) -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.name = name
        self.device = device
        self.batch_slices = batch_slices
        self.merge_fragments = merge_fragments  # join chain fragments of one lesion (stacking.merge_fragments)
        self.tight_extent = TIGHT_EXTENT  # proposals span their detected slices less small pole boxes (harvester: +1 slice each way)
        self.refine_small_boxes = REFINE_SMALL_BOXES  # fit small proposals' boxes to the image (box_refinement)
        self.slice_box_window_mm = SLICE_BOX_WINDOW_MM  # each slice's box takes in its neighbours' (0: off)

    def detect(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
               progress: Callable[[float], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> ProposalSet:
        """Proposals on the grid the reference phase is stored on. The network reads the scan in patient axis
        order, as every training study lies: a scan stored otherwise (LiTS: rows and slices flipped) is re-laid
        first (the same voxels; phases on its grid with it, the others are sampled by world position) and the
        proposals are put back on the stored grid."""
        if reference not in volumes:
            prepare_phases(volumes, reference, self.config)  # says which phases the study has
        stored = volumes[reference]
        relaid_reference, order = in_patient_order(stored)
        if order.is_identity:
            proposals = self._detect(volumes, reference, progress, cancelled)
        else:
            relaid = {kind: in_patient_order(v)[0] if v.same_grid(stored) else v for kind, v in volumes.items()}
            proposals = [proposal_on_stored_grid(p, order, stored.array.shape)
                         for p in self._detect(relaid, reference, progress, cancelled)]
        return ProposalSet.for_volume(proposals, stored, model=self.name, reference_phase=reference.value)

    def _detect(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
                progress: Callable[[float], None] | None,
                cancelled: Callable[[], bool] | None) -> list[Proposal3D]:
        """Proposals on the reference phase's grid as given."""
        def check() -> None:
            if cancelled is not None and cancelled():
                raise DetectionCancelled("detection cancelled")

        check()
        try:
            image, present, grid = prepare_phases(volumes, reference, self.config, cancelled)
        except InterruptedError:
            raise DetectionCancelled("detection cancelled") from None
        if progress:
            progress(0.1)
        detections = self._detect_slices(image, present, check, progress)
        stacked = stack_detections(detections, n_slices=grid.shape[0], score_threshold=SCORE_THRESHOLD)
        if self.merge_fragments:
            stacked = merge_fragments(stacked)
        if self.tight_extent:
            stacked = [cap_depth(trim_poles(detected_extent(p)), self.config.pixel_mm, self.config.slice_mm)
                       for p in stacked]
        if self.slice_box_window_mm > 0:  # after the pole cut, which reads the boxes' own sizes
            window = int(self.slice_box_window_mm / self.config.slice_mm + 1e-6)
            stacked = [widen_slice_boxes(p, window) for p in stacked]
        proposals = []
        last = grid.ref_shape[0] - 1
        for p in stacked:
            z0, z1 = grid.slices_to_ref(*p.z_range)
            z1 = min(z1, last)
            key = int(min(max(round(grid.ref_slice(p.key_slice)), z0), z1))
            box = self._ref_box(grid, p.box)
            if box is None:
                continue
            slice_boxes = {}
            for z in range(z0, z1 + 1):  # each reference slice takes the box of its nearest working slice
                kw = int(round(grid.work_slice(z)))
                ref_box = self._ref_box(grid, p.slice_boxes[kw]) if kw in p.slice_boxes else None
                if ref_box is not None:
                    slice_boxes[z] = ref_box
            proposal = Proposal3D(box, (z0, z1), p.score, key, p.class_probs, slice_boxes)
            if self.refine_small_boxes:
                proposal = refine_proposal(proposal, volumes[reference].array, volumes[reference].spacing)
            proposals.append(proposal)
        if progress:
            progress(1.0)
        return proposals

    @staticmethod
    def _ref_box(grid, work_box) -> tuple[float, float, float, float] | None:
        box = grid.box_to_ref(work_box)
        box = (max(0.0, box[0]), max(0.0, box[1]), min(float(grid.ref_shape[2]), box[2]),
               min(float(grid.ref_shape[1]), box[3]))
        return box if box[2] > box[0] and box[3] > box[1] else None

    @torch.no_grad()
    def _detect_slices(self, image: np.ndarray, present: np.ndarray, check: Callable[[], None],
                       progress: Callable[[float], None] | None) -> list[Detection2D]:
        cfg = self.config
        p, nz, ny, nx = image.shape
        hp, wp = max(16, -(-ny // 16) * 16), max(16, -(-nx // 16) * 16)
        present_t = torch.from_numpy(present)[None].to(self.device)
        out: list[Detection2D] = []
        use_amp = self.device.type == "cuda"
        for start in range(0, nz, self.batch_slices):
            check()
            ks = list(range(start, min(nz, start + self.batch_slices)))
            batch = np.zeros((len(ks), p, cfg.n_slices, hp, wp), np.uint8)
            for n, k in enumerate(ks):
                batch[n, :, :, :ny, :nx] = slice_stack(image, k, cfg.n_slices)
            x = torch.from_numpy(batch).to(self.device).float().div_(255.0)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=use_amp):
                outputs = self.model(x, present_t.expand(len(ks), -1))
            for k, peaks in zip(ks, decode(outputs, cfg.OUTPUT_STRIDE, threshold=SCORE_THRESHOLD)):
                for pk in peaks:
                    x0, y0, x1, y1 = pk.box
                    box = (max(0.0, x0), max(0.0, y0), min(float(nx), x1), min(float(ny), y1))
                    if box[2] <= box[0] or box[3] <= box[1]:
                        continue
                    out.append(Detection2D(k, box, pk.score, dict(zip(cfg.classes, pk.class_probs))))
            if progress:
                progress(0.1 + 0.85 * (start + len(ks)) / nz)
        return out


def load_detector(weights: str | Path | None = None, device: str = "auto") -> Detector:
    """Load a trained detector (None = the default weights in models/mscn_detector/)."""
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise WeightsNotFoundError(f"detector weights {path} not found; train them with: {TRAIN_COMMAND}")
    dev = resolve_device(device)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        config = DetectorConfig.from_dict(ckpt["config"])
        model = MultiPhaseCenterNet(config)
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError, ValueError, EOFError, OSError) as exc:
        raise UnusableWeightsError(f"{path} is not a usable mscn_detector checkpoint ({exc})") from None
    model.float()
    # the file's digest too: experiments and shipped weights share a version number, proposals must say which made them
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    name = f"{MODEL_NAME}/{ckpt.get('version', '0')}+{digest}"
    return Detector(model, config, name, dev)
