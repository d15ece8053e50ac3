"""Training data: studies (phase volumes + lesion boxes + hard negatives) prepared once on the working
grid, and random batches of 2.5D slice stacks with their CenterNet targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from liverview.core.volume import Volume
from liverview.detection.training_data import (TrainingCase, TrainingLesion, case_in_patient_order,
                                               load_cases_from_folder)
from liverview.io.volumes import read_volume

from .config import DetectorConfig
from .preprocess import WorkingGrid, resample_onto_grid, prepare_phases
from .targets import UNKNOWN_CLASS, SliceBox, build_targets

__all__ = ["TrainingCase", "TrainingLesion", "load_cases_from_folder", "PreparedCase", "prepare_case",
           "slice_stack", "BatchSampler"]


def _as_volume(v: str | Path | Volume) -> Volume:
    return v if isinstance(v, Volume) else read_volume(v)


@dataclass
class PreparedCase:
    """A case on the working grid: uint8 slices (P, nz, ny, nx), boxes per working slice, usable slices."""

    name: str
    image: np.ndarray
    present: np.ndarray
    grid: WorkingGrid
    boxes: dict[int, list[SliceBox]]  # positives per working slice
    hard: dict[int, list[SliceBox]]  # hard negatives per working slice
    target_slices: np.ndarray  # working slices whose labels are complete
    ignore: np.ndarray | None = None  # bool (nz, ny, nx): no heatmap loss there except at lesion peaks


def _boxes_from_labels(labels: np.ndarray, lesion: TrainingLesion, grid: WorkingGrid, cls: int
                       ) -> dict[int, SliceBox]:
    x0, y0, z0, x1, y1, z1 = lesion.box_ijk
    sub = labels[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] == lesion.label_id
    out: dict[int, SliceBox] = {}
    nz = grid.shape[0]
    for kw in range(nz):
        z = int(round(grid.ref_slice(kw)))
        if not z0 <= z <= z1:
            continue
        m = sub[z - z0]
        if not m.any():
            continue
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        box = grid.box_to_work((x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1))
        out[kw] = SliceBox(*box, cls)
    return out


def prepare_case(case: TrainingCase, config: DetectorConfig) -> PreparedCase:
    volumes = {k: _as_volume(v) for k, v in case.phases.items()}
    label_volume = None if case.lesion_labels is None else _as_volume(case.lesion_labels)
    ignore_volume = None if case.ignore_mask is None else _as_volume(case.ignore_mask)
    if case.reference in volumes:  # trained in patient axis order, as detect reads scans
        case, volumes, label_volume, ignore_volume = case_in_patient_order(case, volumes, label_volume,
                                                                           ignore_volume)
    image, present, grid = prepare_phases(volumes, case.reference, config)
    nz = grid.shape[0]
    labels = None if label_volume is None else label_volume.array
    boxes: dict[int, list[SliceBox]] = {}
    covered = np.zeros(nz, bool)  # working slices inside some lesion's z-range
    complete = np.ones(nz, bool)
    for les in case.lesions:
        if les.lesion_class in (None, "", "unknown"):
            cls = UNKNOWN_CLASS
        elif les.lesion_class in config.classes:
            cls = config.classes.index(les.lesion_class)
        else:
            raise ValueError(f"{case.name}: unknown lesion class {les.lesion_class!r} "
                             f"(expected one of {', '.join(config.classes)}, or None)")
        x0, y0, z0, x1, y1, z1 = les.box_ijk
        if labels is not None and les.label_id is not None:
            per_slice = _boxes_from_labels(labels, les, grid, cls)
        else:  # only the key slice is known: a box on it, the lesion's other slices are left out
            kw = int(round(grid.work_slice(les.key_slice)))
            per_slice = {kw: SliceBox(*grid.box_to_work((x0, y0, x1 + 1, y1 + 1)), cls)} if 0 <= kw < nz else {}
            lo, hi = int(np.floor(grid.work_slice(z0))), int(np.ceil(grid.work_slice(z1)))
            complete[max(0, lo):hi + 1] = False
            if 0 <= kw < nz:
                complete[kw] = True
        for kw, b in per_slice.items():
            boxes.setdefault(kw, []).append(b)
            covered[kw] = True
    hard: dict[int, list[SliceBox]] = {}
    for hn in case.hard_negatives:
        kw0 = max(0, int(round(grid.work_slice(hn.z_range[0]))))
        kw1 = min(nz - 1, int(round(grid.work_slice(hn.z_range[1]))))
        for kw in range(kw0, kw1 + 1):
            hard.setdefault(kw, []).append(SliceBox(*grid.box_to_work(hn.box), -1))
    ignore = None
    if ignore_volume is not None:
        mask = ignore_volume.array
        if mask.shape != grid.ref_shape:
            raise ValueError(f"{case.name}: the ignore mask's grid {mask.shape} is not the reference's {grid.ref_shape}")
        ignore = resample_onto_grid((mask > 0).astype(np.float32), grid) > 0.01  # any overlap counts
    return PreparedCase(case.name, image, present, grid, boxes, hard, np.flatnonzero(complete), ignore)


def zoom_stack(x: np.ndarray, size: int) -> np.ndarray:
    """(..., n, n) uint8 images resized to (..., size, size), bilinear (pixel areas aligned, not corners)."""
    t = torch.from_numpy(x.reshape(-1, 1, *x.shape[-2:]).astype(np.float32))
    z = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return z.round().clamp(0, 255).to(torch.uint8).numpy().reshape(*x.shape[:-2], size, size)


def slice_stack(image: np.ndarray, k: int, n_slices: int) -> np.ndarray:
    """(P, S, ny, nx) slices k - S//2 .. k + S//2, edge slices repeated beyond the volume."""
    half = n_slices // 2
    idx = np.clip(np.arange(k - half, k + half + 1), 0, image.shape[1] - 1)
    return image[:, idx]


class BatchSampler:
    """Random 2.5D training samples: crops centred near lesions (positive_fraction), near hard negatives,
    or anywhere on usable slices; phase dropout; the random stream is (seed, step) so resume repeats it."""

    def __init__(self, cases: Sequence[PreparedCase], config: DetectorConfig) -> None:
        if not cases:
            raise ValueError("no training cases")
        self.cases = list(cases)
        self.config = config
        self.positives = [(c, k, b) for c, pc in enumerate(self.cases) for k, bs in pc.boxes.items()
                          for b in bs if k in set(pc.target_slices.tolist())]
        self.hard = [(c, k, b) for c, pc in enumerate(self.cases) for k, bs in pc.hard.items() for b in bs
                     if k in set(pc.target_slices.tolist())]

    def _crop_origin(self, rng: np.random.Generator, size: tuple[int, int], centre: tuple[float, float] | None,
                     window: int | None = None) -> tuple[int, int]:
        """Top-left corner (y, x) of a ``window``-pixel square (the crop size by default) on an image of
        ``size``; with a centre, that point lies at least 16 crop pixels inside the window."""
        crop = self.config.crop_px if window is None else window
        margin = 16 * crop / self.config.crop_px
        out = []
        for n, c in zip(size, centre if centre is not None else (None, None)):
            if n <= crop:
                out.append(-int(rng.integers(0, crop - n + 1)))  # pad: image placed anywhere in the crop
            elif c is None:
                out.append(int(rng.integers(0, n - crop + 1)))
            else:
                lo = int(np.clip(c - crop + margin, 0, n - crop))
                hi = int(np.clip(c - margin, 0, n - crop))
                out.append(int(rng.integers(lo, hi + 1)))
        return out[0], out[1]  # y, x

    def _ignore_crop(self, pc: PreparedCase, k: int, oy: int, ox: int, window: int | None = None) -> np.ndarray:
        """(1, H/stride, W/stride) float: 1 where the crop touches the case's ignore mask (max-pooled); a
        ``window`` other than the crop size is zoomed to it."""
        crop, stride = self.config.crop_px, self.config.OUTPUT_STRIDE
        window = crop if window is None else window
        out = np.zeros((window, window), bool)
        if pc.ignore is not None:
            ny, nx = pc.ignore.shape[1:]
            sy0, sx0 = max(oy, 0), max(ox, 0)
            sy1, sx1 = min(oy + window, ny), min(ox + window, nx)
            out[sy0 - oy:sy1 - oy, sx0 - ox:sx1 - ox] = pc.ignore[k, sy0:sy1, sx0:sx1]
        if window != crop:
            out = zoom_stack(out[None, None].astype(np.uint8) * 255, crop)[0, 0] > 0
        return out.reshape(crop // stride, stride, crop // stride, stride).any(axis=(1, 3))[None].astype(np.float32)

    def sample(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, step])
        crop, stride = cfg.crop_px, cfg.OUTPUT_STRIDE
        xs, presents, tgts = [], [], []
        for _ in range(cfg.batch_size):
            u = rng.random()
            centre = None
            if self.positives and u < cfg.positive_fraction:
                c, k, b = self.positives[int(rng.integers(len(self.positives)))]
                centre = ((b.y0 + b.y1) / 2, (b.x0 + b.x1) / 2)
            elif self.hard and u < cfg.positive_fraction + cfg.hard_negative_fraction:
                c, k, b = self.hard[int(rng.integers(len(self.hard)))]
                centre = ((b.y0 + b.y1) / 2, (b.x0 + b.x1) / 2)
            else:
                c = int(rng.integers(len(self.cases)))
                ts = self.cases[c].target_slices
                k = int(ts[rng.integers(len(ts))])
            pc = self.cases[c]
            _, _, ny, nx = pc.image.shape
            zoom = 1.0
            if cfg.zoom_range != (1.0, 1.0):  # drawn only when asked for: unzoomed training repeats its stream
                zoom = float(np.exp(rng.uniform(np.log(cfg.zoom_range[0]), np.log(cfg.zoom_range[1]))))
            window = max(16, int(round(crop / zoom)))
            zoom = crop / window  # exact, after rounding the window to whole pixels
            oy, ox = self._crop_origin(rng, (ny, nx), centre, window)
            stack = slice_stack(pc.image, k, cfg.n_slices)
            x = np.zeros((stack.shape[0], cfg.n_slices, window, window), np.uint8)
            sy0, sx0 = max(oy, 0), max(ox, 0)
            sy1, sx1 = min(oy + window, ny), min(ox + window, nx)
            x[:, :, sy0 - oy:sy1 - oy, sx0 - ox:sx1 - ox] = stack[:, :, sy0:sy1, sx0:sx1]
            if window != crop:
                x = zoom_stack(x, crop)
            present = pc.present.copy()
            if cfg.phase_dropout > 0 and present.sum() > 1 and rng.random() < cfg.phase_dropout:
                have = np.flatnonzero(present)
                keep = rng.choice(have, size=int(rng.integers(1, len(have))), replace=False)
                present[:] = False
                present[keep] = True
                x[~present] = 0
            shifted = [SliceBox((b.x0 - ox) * zoom, (b.y0 - oy) * zoom, (b.x1 - ox) * zoom, (b.y1 - oy) * zoom, b.label)
                       for b in pc.boxes.get(k, []) + pc.hard.get(k, [])]
            t = build_targets(shifted, crop // stride, crop // stride, cfg.n_classes, stride)
            t["background_ignore"] = self._ignore_crop(pc, k, oy, ox, window)
            tgts.append(t)
            xs.append(x)
            presents.append(present)
        batch = {k: torch.from_numpy(np.stack([t[k] for t in tgts])) for k in tgts[0]}
        batch["image"] = torch.from_numpy(np.stack(xs))
        batch["present"] = torch.from_numpy(np.stack(presents))
        return batch
