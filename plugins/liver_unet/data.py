"""Training data for the liver U-Net: every phase of a study with the liver mask in that phase's frame, on
the working grid (uint8 images, 0/1 labels), and random augmented crops of three adjacent slices."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import ndimage

from liverview.core.axis_order import AxisOrder
from liverview.detection.training_data import study_folders
from liverview.io.volumes import read_volume

from .working_grid import label_to_working, neighbour_stack, to_working


@dataclass
class LiverCase:
    """One phase of one study on the working grid: image uint8 [z, y, x] (0..255 = the HU window), label 0/1."""

    name: str
    group: str  # the data folder it came from: sampling gives each folder the same weight
    image: np.ndarray
    label: np.ndarray


def _label_in_phase(mask: np.ndarray, shift_xyz: Sequence[float], spacing_xyz: Sequence[float]) -> np.ndarray:
    """The reference-frame mask moved into a phase whose point p + shift shows the reference's point p
    (study.json's ``true_shift_mm``; identity directions, as synth-ct writes them)."""
    if not any(abs(s) > 1e-6 for s in shift_xyz):
        return mask
    vox = (shift_xyz[2] / spacing_xyz[2], shift_xyz[1] / spacing_xyz[1], shift_xyz[0] / spacing_xyz[0])
    return (ndimage.shift(mask.astype(np.float32), vox, order=1) >= 0.5).astype(np.uint8)


def load_study_cases(folder: Path, pixel_mm: float, group: str) -> list[LiverCase]:
    """Each phase of the study in ``folder`` (study.json with a ``liver_mask``) as a LiverCase."""
    meta = json.loads((folder / "study.json").read_text())
    if not meta.get("liver_mask"):
        raise ValueError(f"{folder} has no liver mask (study.json names none)")
    ref_mask = read_volume(folder / meta["liver_mask"]).array > 0
    cases = []
    for phase, info in meta["phases"].items():
        vol = read_volume(folder / info["file"])
        if vol.array.shape != ref_mask.shape:
            raise ValueError(f"{folder}: phase {phase} is not on the liver mask's grid")
        if not np.allclose(vol.direction, np.eye(3)):
            raise ValueError(f"{folder}: phase {phase} is not on an identity-direction grid (the label shift "
                             "assumes one)")
        label = _label_in_phase(ref_mask, info.get("true_shift_mm", (0, 0, 0)), vol.spacing)
        order = AxisOrder.of(vol.direction)
        spacing = order.spacing_zyx(vol.spacing)
        image = np.round(to_working(order.forward(vol.array), spacing, pixel_mm) * 255).astype(np.uint8)
        cases.append(LiverCase(f"{folder.name}/{phase}", group, image,
                               label_to_working(order.forward(label), spacing, pixel_mm)))
    return cases


def load_host_case(path: Path, pixel_mm: float, group: str = "hosts") -> LiverCase:
    """A whole real scan (DICOM folder or volume file), labelled by the classical ``liver_mask`` plugin. The
    inserted-lesion studies are cropped to the liver (+ 10 mm in z); whole scans also show the heart above the dome
    and the bowel below the tip as what the liver is not."""
    from liverview.core.study import PhaseKind
    from liverview.io.study_loader import load_study
    from liverview.plugin_registry import discover_plugins

    volume = load_study([path]).study.reference.volume
    classical = discover_plugins().resolve("liver-segmenter", "liver_mask").create(device="cpu")
    label = classical.segment({PhaseKind.PORTAL_VENOUS: volume}, PhaseKind.PORTAL_VENOUS).array
    order = AxisOrder.of(volume.direction)
    spacing = order.spacing_zyx(volume.spacing)
    image = np.round(to_working(order.forward(volume.array), spacing, pixel_mm) * 255).astype(np.uint8)
    return LiverCase(Path(path).name, group, image, label_to_working(order.forward(label), spacing, pixel_mm))


def load_cases(folders: Sequence[Path], pixel_mm: float) -> list[LiverCase]:
    cases: list[LiverCase] = []
    for folder in folders:
        for study in study_folders(folder):
            cases.extend(load_study_cases(study, pixel_mm, group=str(folder)))
    return cases


@dataclass(frozen=True)
class Augmentation:
    hu_offset: float = 30.0  # +- HU, contrast timing
    gain: float = 0.1  # +- relative contrast around the liver's range
    noise_hu: float = 12.0  # up to this sd added
    scale: float = 0.15  # +- zoom (patient size, field of view)
    rotate_deg: float = 10.0


class CropSampler:
    """Random batches: a case (each data folder equally likely), a slice (``liver_fraction`` of them
    holding liver), a ``crop`` px window, augmented. Left-right flips are never used: the liver's side is
    what the network should rely on."""

    def __init__(self, cases: Sequence[LiverCase], crop: int, rng: np.random.Generator,
                 augmentation: Augmentation = Augmentation(), liver_fraction: float = 0.8) -> None:
        if not cases:
            raise ValueError("no training cases")
        self.cases, self.crop, self.rng, self.aug = list(cases), crop, rng, augmentation
        self.liver_fraction = liver_fraction
        groups = sorted({c.group for c in cases})
        per_group = {g: sum(c.group == g for c in cases) for g in groups}
        w = np.array([1.0 / per_group[c.group] for c in cases])
        self.weights = w / w.sum()
        self.liver_slices = [np.flatnonzero(c.label.any(axis=(1, 2))) for c in cases]

    def _sample(self) -> tuple[np.ndarray, np.ndarray]:
        i = int(self.rng.choice(len(self.cases), p=self.weights))
        case, slices = self.cases[i], self.liver_slices[i]
        if len(slices) and self.rng.random() < self.liver_fraction:
            k = int(self.rng.choice(slices))
        else:
            k = int(self.rng.integers(case.image.shape[0]))
        x = neighbour_stack(case.image, k).astype(np.float32) / 255.0
        y = case.label[k].astype(np.float32)
        a = self.aug
        s = 1.0 + self.rng.uniform(-a.scale, a.scale)
        angle = np.deg2rad(self.rng.uniform(-a.rotate_deg, a.rotate_deg))
        # Sample the crop through one affine map (scale + rotation about a random centre).
        cy = self.rng.uniform(0.25, 0.75) * x.shape[1]
        cx = self.rng.uniform(0.25, 0.75) * x.shape[2]
        if self.rng.random() < 0.7 and y.any():  # centre near the liver
            ys, xs = np.nonzero(y)
            j = int(self.rng.integers(len(ys)))
            cy, cx = ys[j] + self.rng.normal(0, 15), xs[j] + self.rng.normal(0, 15)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / s
        half = (self.crop - 1) / 2.0
        offset = np.array([cy, cx]) - rot @ np.array([half, half])
        out_x = np.stack([ndimage.affine_transform(c, rot, offset, output_shape=(self.crop, self.crop), order=1,
                                                   mode="constant", cval=0.0) for c in x])
        out_y = ndimage.affine_transform(y, rot, offset, output_shape=(self.crop, self.crop), order=1,
                                         mode="constant", cval=0.0) >= 0.5
        width = 500.0  # the HU window's width: 1.0 on the working scale
        out_x = out_x + self.rng.uniform(-a.hu_offset, a.hu_offset) / width
        out_x = 0.4 + (out_x - 0.4) * (1.0 + self.rng.uniform(-a.gain, a.gain))
        out_x = out_x + self.rng.normal(0, self.rng.uniform(0, a.noise_hu) / width, out_x.shape)
        return np.clip(out_x, 0.0, 1.0).astype(np.float32), out_y.astype(np.float32)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = zip(*(self._sample() for _ in range(size)))
        return np.stack(xs), np.stack(ys)
