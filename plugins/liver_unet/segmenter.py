"""The learnt liver mask (LiverSegmenter protocol of liverview.plugin_api): the U-Net's probability on every
working slice, the largest 3D component kept, slices filled, taken back to the reference grid."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from scipy import ndimage

from liverview.core.axis_order import AxisOrder
from liverview.core.study import PhaseKind, phase_to_read
from liverview.core.volume import Volume
from liverview.plugin_api.errors import Cancelled, ModelInputError, WeightsMissingError

from .network import LiverUNet
from .training import LiverUNetConfig, pick_device
from .working_grid import input_grid_mask, neighbour_stack, to_working

MIN_VOLUME_ML = 100.0  # smaller: the study does not show the liver (or the model failed): say so
MIN_SLICE_AREA_CM2 = 70.0  # the same check on a stack of a few slices (a key slice)
BATCH_SLICES = 16
CROP_MARGIN_PX = 16  # working pixels (32 mm) of air kept around the body


class UNetLiverSegmenter:
    def __init__(self, model: LiverUNet, config: LiverUNetConfig, device: torch.device, name: str) -> None:
        self.model, self.config, self.device, self.name = model, config, device, name

    def segment(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
                progress: Callable[[float], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> Volume:
        if reference not in volumes:
            raise ModelInputError(f"the study has no {reference.value} phase to segment on")
        ref = volumes[reference]
        phase = phase_to_read(volumes, reference)  # its mask is returned on the reference grid
        mask = self.mask(volumes[phase], progress, cancelled)
        return Volume(mask, ref.spacing, ref.origin, ref.direction, name="liver")

    def probability(self, volume: Volume, progress: Callable[[float], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """float32 [z, y', x']: p(liver) on the working grid (patient-ordered axes, see AxisOrder)."""
        hu = np.asarray(volume.array)
        if hu.ndim != 3 or min(hu.shape) < 1 or not np.isfinite(hu).any():
            raise ModelInputError("the volume holds no finite values")
        order = AxisOrder.of(volume.direction)
        work = to_working(order.forward(hu), order.spacing_zyx(volume.spacing), self.config.pixel_mm)
        # The network runs on the box around everything brighter than air (plus a margin): the air around the
        # patient is 0 on the working scale, as the zero padding it is replaced by.
        rows, cols = np.flatnonzero((work > 0.05).any(axis=(0, 2))), np.flatnonzero((work > 0.05).any(axis=(0, 1)))
        if len(rows) == 0:
            raise ModelInputError("no body found (nothing brighter than -175 HU)")
        y0, y1 = max(rows[0] - CROP_MARGIN_PX, 0), min(rows[-1] + 1 + CROP_MARGIN_PX, work.shape[1])
        x0, x1 = max(cols[0] - CROP_MARGIN_PX, 0), min(cols[-1] + 1 + CROP_MARGIN_PX, work.shape[2])
        m = self.model.multiple
        ny, nx = y1 - y0, x1 - x0
        prob = np.zeros(work.shape, np.float32)
        padded = np.pad(work[:, y0:y1, x0:x1], ((0, 0), (0, (-ny) % m), (0, (-nx) % m)))
        with torch.inference_mode():
            for k0 in range(0, work.shape[0], BATCH_SLICES):
                if cancelled is not None and cancelled():
                    raise Cancelled("liver mask cancelled")
                ks = range(k0, min(k0 + BATCH_SLICES, work.shape[0]))
                x = torch.from_numpy(np.stack([neighbour_stack(padded, k) for k in ks])).to(self.device)
                prob[k0:k0 + len(ks), y0:y1, x0:x1] = torch.sigmoid(self.model(x)).cpu().numpy()[:, :ny, :nx]
                if progress:
                    progress(0.9 * (k0 + len(ks)) / work.shape[0])
        return prob

    def mask(self, volume: Volume, progress: Callable[[float], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """uint8 0/1 on ``volume``'s grid."""
        prob = self.probability(volume, progress, cancelled)
        labels, n = ndimage.label(prob >= 0.5)
        if n == 0:
            raise ModelInputError("no liver found in the study (the liver model saw none)")
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        keep = labels == int(np.argmax(sizes))
        filled = np.stack([ndimage.binary_fill_holes(s) for s in keep])
        # Keep the probability's sub-pixel edge on the input grid, but only around the kept component; filled
        # holes (vessels, tumours inside the liver) count as liver.
        near = ndimage.binary_dilation(filled, np.ones((1, 3, 3), bool))
        clean = np.where(filled & ~keep, 1.0, np.where(near, prob, 0.0)).astype(np.float32)
        order = AxisOrder.of(volume.direction)
        patient = order.forward(volume.array)
        sz, sy, sx = order.spacing_zyx(volume.spacing)
        mask = input_grid_mask(clean, patient.shape)
        if patient.shape[0] < 5:
            area = mask.sum(axis=(1, 2)).max() * sx * sy / 100.0
            if area < MIN_SLICE_AREA_CM2:
                raise ModelInputError(f"the liver found covers only {area:.0f} cm2 on its largest slice: the "
                                      "slices may not show the liver (or not enough of it)")
        else:
            ml = mask.sum() * sx * sy * sz / 1000.0
            if ml < MIN_VOLUME_ML:
                raise ModelInputError(f"the liver found is only {ml:.0f} mL: the study may not show the liver "
                                      "(or not enough of it)")
        if progress:
            progress(1.0)
        return np.ascontiguousarray(order.backward(mask), np.uint8)


def load_segmenter(weights: str | Path | None = None, device: str = "auto") -> UNetLiverSegmenter:
    if weights is None or not Path(weights).is_file():
        raise WeightsMissingError(f"liver U-Net weights not found: {weights} (train them with "
                                  "`python -m liverview_plugins.liver_unet.training`)")
    state = torch.load(weights, map_location="cpu", weights_only=False)
    if state.get("format") != "liverview-liver-unet":
        raise ModelInputError(f"{weights} is not a liver U-Net weights file")
    config = LiverUNetConfig.from_dict(state["config"])
    model = LiverUNet(3, config.widths)
    model.load_state_dict(state["model"])
    dev = pick_device(device)
    model.to(dev).eval()
    return UNetLiverSegmenter(model, config, dev, f"liver_unet/{state.get('version', 1)} ({Path(weights).name})")
