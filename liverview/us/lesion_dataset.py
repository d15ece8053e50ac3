"""Ultrasound lesions to train and evaluate on: records from a synthetic set (labels.csv from
`liverview synth-us`), a BUSI-style subset (manifest.csv with a ``class`` column) or an AUL-style liver
set (manifest.csv with a ``label`` column), loaded as grey image + boolean mask."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from liverview.us.click_simulation import lesion_distances
from liverview.us.image import load_us_image
from liverview.us.prediction import MALIGNANT_CLASSES, US_CLASS_NAMES as CLASS_NAMES

BUSI_TEST_FROM = 36  # BUSI has no patient ids: images numbered >= 36 of each class are the test part


class UsDatasetError(ValueError):
    """The data folder is not a synth-us set nor a BUSI subset, or it lists missing files."""


@dataclass(frozen=True)
class LesionRecord:
    image_path: Path
    mask_path: Path
    label: str  # a CLASS_NAMES entry, or "benign" / "malignant" (BUSI)
    pixel_spacing_mm: tuple[float, float] | None
    split: str | None  # "train" / "test" where the source defines a split, else None
    key: str  # stable id used to seed evaluation clicks
    source: str = ""  # "synthetic", "busi" (breast) or "aul" (liver): what a model learnt from

    @property
    def malignant(self) -> bool:
        return self.label in MALIGNANT_CLASSES or self.label == "malignant"

    @property
    def class_index(self) -> int:
        """Index into CLASS_NAMES, or -1 when only benign/malignant is known."""
        return CLASS_NAMES.index(self.label) if self.label in CLASS_NAMES else -1


def load_records(data_dir: str | Path, split: str = "all") -> list[LesionRecord]:
    """Records of a synth-us folder (labels.csv), a BUSI subset (manifest.csv with ``class``; normals
    skipped) or an AUL liver set (manifest.csv with ``label``; it defines no split: cross-validate)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise UsDatasetError(f"{root} is not a folder")
    if (root / "labels.csv").is_file():
        records = _synthetic_records(root)
    elif (root / "manifest.csv").is_file():
        with open(root / "manifest.csv", newline="") as fh:
            columns = csv.DictReader(fh).fieldnames or []
        records = _aul_records(root) if "label" in columns and "class" not in columns else _busi_records(root)
    else:
        raise UsDatasetError(f"{root} has neither labels.csv (liverview synth-us) nor manifest.csv (BUSI subset)")
    if split != "all":
        if split not in ("train", "test"):
            raise UsDatasetError(f"split must be all, train or test, got {split!r}")
        if any(r.split is None for r in records):
            raise UsDatasetError(f"{root} defines no train/test split (use separate folders and --split all)")
        records = [r for r in records if r.split == split]
    if not records:
        raise UsDatasetError(f"{root} holds no lesion for split {split!r}")
    return records


def _check(path: Path) -> Path:
    if not path.is_file():
        raise UsDatasetError(f"listed file {path} does not exist")
    return path


def _synthetic_records(root: Path) -> list[LesionRecord]:
    out = []
    with open(root / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["class"] not in CLASS_NAMES:
                raise UsDatasetError(f"labels.csv: unknown class {row['class']!r} for {row['image']}")
            s = row.get("pixel_spacing_mm") or ""
            spacing = (float(s), float(s)) if s else None
            out.append(LesionRecord(_check(root / row["image"]), _check(root / row["mask"]), row["class"],
                                    spacing, None, row["image"], "synthetic"))
    return out


def _busi_records(root: Path) -> list[LesionRecord]:
    out = []
    with open(root / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["class"] not in ("benign", "malignant"):
                continue  # "normal" images have no lesion to segment
            m = re.search(r"\((\d+)\)", row["image"])
            if not m:
                raise UsDatasetError(f"manifest.csv: cannot read the image number of {row['image']}")
            split = "test" if int(m.group(1)) >= BUSI_TEST_FROM else "train"
            out.append(LesionRecord(_check(root / row["image"]), _check(root / row["mask"]), row["class"],
                                    None, split, row["mask"], "busi"))
    return out


def _aul_records(root: Path) -> list[LesionRecord]:
    out = []
    with open(root / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["label"] not in ("benign", "malignant"):
                raise UsDatasetError(f"manifest.csv: label must be benign or malignant, got {row['label']!r} "
                                     f"for {row['image']}")
            out.append(LesionRecord(_check(root / row["image"]), _check(root / row["mask"]), row["label"],
                                    None, None, f"aul/{row['image']}", "aul"))
    return out


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A lesion mask image as bool: any non-zero grey or colour value is lesion. An alpha channel is not
    a label (BUSI ships RGBA masks whose alpha is opaque everywhere); it is read only when the colour
    channels are all zero, as in masks drawn into transparency."""
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise UsDatasetError(f"cannot read mask {path}")
    if m.ndim == 3:
        colour = m[..., :3].max(axis=2) if m.shape[2] >= 3 else m[..., 0]
        m = colour if m.shape[2] != 4 or colour.any() else m[..., 3]
    if m.shape != shape:
        raise UsDatasetError(f"mask {path} is {m.shape}, its image is {shape}")
    return m > 0


@dataclass
class LoadedLesion:
    image: np.ndarray  # uint8 grey
    mask: np.ndarray  # bool
    record: LesionRecord
    distances: tuple[np.ndarray, np.ndarray] | None = None  # cached for click simulation (unflipped)
    distances_flipped: tuple[np.ndarray, np.ndarray] | None = None


def load_lesions(records: list[LesionRecord]) -> list[LoadedLesion]:
    out = []
    for r in records:
        img = load_us_image(r.image_path).frames[0]
        mask = read_mask(r.mask_path, img.shape)
        if mask.any():
            d = lesion_distances(mask)
            out.append(LoadedLesion(np.clip(img, 0, 255).astype(np.uint8), mask, r, d,
                                    (d[0][:, ::-1], d[1][:, ::-1])))
    if not out:
        raise UsDatasetError("no record has a non-empty lesion mask")
    return out


def split_spec(spec: str, default_split: str = "all") -> tuple[Path, str]:
    """'DIR' or 'DIR:train' / 'DIR:test' / 'DIR:all' -> (folder, split)."""
    head, sep, tail = str(spec).rpartition(":")
    if sep and tail in ("train", "test", "all"):
        return Path(head), tail
    return Path(spec), default_split


def load_sets(specs: list[str], default_split: str = "all") -> tuple[list[LoadedLesion], list[str]]:
    """Lesions of several sets given as DIR[:SPLIT], and a line per set saying what was read."""
    lesions, lines = [], []
    for spec in specs:
        folder, split = split_spec(spec, default_split)
        these = load_lesions(load_records(folder, split))
        lines.append(f"{len(these)} lesions from {folder} (split {split})")
        lesions += these
    return lesions, lines
