"""Ultrasound images in a project: the study row of an image, and a segmented lesion saved with its
mask, class and RECIST axes.

An ultrasound image (or cine) is a study of modality "US" with one phase named "ultrasound". Its
plane is the image plane: a pixel (column c, row r) lies at (c * col_mm, r * row_mm, 0). When the
file states no pixel size the phase is marked ``pixel_units="px"`` and coordinates count pixels.
``key_slice`` of the RECIST mark is the cine frame the lesion was segmented on.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from liverview.core.volume import Volume
from liverview.measure.recist import RecistMeasurement, recist_from_mask
from liverview.store.project import Project
from liverview.store.records import LESION_CLASSES, US_PHASE, InvalidRecordError, LesionRecord, RecistRecord
from liverview.store.study_link import project_path_for_key

Spacing = tuple[float, float]  # (row, col) mm


@dataclass(frozen=True)
class UsLesionResult:
    """What the segmenter said about one lesion, as it is saved."""

    mask: np.ndarray  # bool [H, W]
    frame_index: int
    class_probs: Mapping[str, float]
    malignant_prob: float | None
    model_name: str

    @property
    def lesion_class(self) -> str:
        """The most probable class; 'unknown' when the model gave none LiverView knows."""
        known = {k: float(v) for k, v in self.class_probs.items() if k in LESION_CLASSES and k != "unknown"}
        return max(known, key=known.__getitem__) if known else "unknown"


def us_study_key(source: str | os.PathLike[str]) -> str:
    """The identity of an ultrasound image in a project: its resolved file path."""
    return "us-file:" + hashlib.sha1(str(Path(source).resolve()).encode()).hexdigest()[:20]


def default_us_project_path(source: str | os.PathLike[str], cache_root: Path | None = None) -> Path:
    """Per-image project under $LIVERVIEW_CACHE (or ~/.cache/liverview)/projects/, like CT studies."""
    return project_path_for_key(us_study_key(source), cache_root)


def ensure_us_study(project: Project, source: str | os.PathLike[str], pixel_spacing_mm: Spacing | None,
                    description: str = "") -> int:
    """The id of the image's study in the project, adding it (modality US, one 'ultrasound' phase)
    the first time."""
    key = us_study_key(source)
    for record in project.list_studies():
        if record.uid == key:
            return record.id
    if project.read_only:
        raise InvalidRecordError("this image is not in the project, and the project is open read-only")
    study_id = project.add_study(uid=key, description=description or Path(source).name, modality="US")
    project.add_phase(study_id, US_PHASE, str(source), reference=True,
                      pixel_units="px" if pixel_spacing_mm is None else "mm")
    return study_id


def _plane_mapping(pixel_spacing_mm: Spacing | None):
    sy, sx = (1.0, 1.0) if pixel_spacing_mm is None else (float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1]))

    def to_plane(cr: np.ndarray) -> np.ndarray:
        cr = np.asarray(cr, float).reshape(-1, 2)
        return np.column_stack([cr[:, 0] * sx, cr[:, 1] * sy, np.zeros(len(cr))])

    return to_plane, (sx, sy)


def us_recist(mask: np.ndarray, pixel_spacing_mm: Spacing | None, frame_index: int) -> RecistMeasurement:
    """RECIST long/short axes of a 2D mask on the image plane (mm, or px without a pixel size)."""
    to_plane, _ = _plane_mapping(pixel_spacing_mm)
    return recist_from_mask(np.asarray(mask, bool), to_plane, key_slice=frame_index)


def us_mask_volume(mask: np.ndarray, pixel_spacing_mm: Spacing | None) -> Volume:
    """A 2D mask as the store keeps masks: a one-slice Volume on the image plane's grid."""
    _, (sx, sy) = _plane_mapping(pixel_spacing_mm)
    return Volume(np.asarray(mask, bool)[None].copy(), spacing=(sx, sy, 1.0), name="ultrasound lesion mask")


def _notes(result: UsLesionResult, units: str, area: float) -> str:
    probs = ", ".join(f"{k} {float(v):.2f}" for k, v in sorted(result.class_probs.items(), key=lambda kv: -kv[1]))
    parts = [f"ultrasound click segmentation by {result.model_name} on frame {result.frame_index}"]
    if probs:
        parts.append(f"class probabilities: {probs}")
    if result.malignant_prob is not None:
        parts.append(f"malignant {float(result.malignant_prob):.2f}")
    parts.append(f"area {area:.1f} {units}^2")
    return "; ".join(parts)


def save_us_lesion(project: Project, study_id: int, result: UsLesionResult,
                   pixel_spacing_mm: Spacing | None, lesion_class: str | None = None,
                   lesion_id: int | None = None) -> LesionRecord:
    """Save a segmented lesion: class (the reader's ``lesion_class``, else the model's top class), RECIST
    from the mask, the mask itself, and the class probabilities in the notes. With ``lesion_id`` of a
    live lesion of the study, that lesion is updated (saving again after more clicks) instead of a new
    one added. One undo step either way."""
    mask = np.asarray(result.mask)
    if mask.ndim != 2:
        raise InvalidRecordError(f"an ultrasound lesion mask must be 2D, got shape {mask.shape}")
    mask = mask.astype(bool)
    recist = us_recist(mask, pixel_spacing_mm, result.frame_index)  # EmptyMaskError when nothing to save
    _, (sx, sy) = _plane_mapping(pixel_spacing_mm)
    units = "px" if pixel_spacing_mm is None else "mm"
    cls = lesion_class or result.lesion_class
    notes = _notes(result, units, float(mask.sum()) * sx * sy)
    record = RecistRecord.from_measurement(recist, US_PHASE)
    live = {les.id for les in project.list_lesions(study_id)}
    with project.undo_group("save_us_lesion"):
        if lesion_id is not None and lesion_id in live:
            project.update_lesion(lesion_id, lesion_class=cls, notes=notes)
            project.set_recist(lesion_id, record)
        else:
            lesion_id = project.add_lesion(study_id, cls, notes=notes, recist=record).id
        project.set_mask(lesion_id, US_PHASE, us_mask_volume(mask, pixel_spacing_mm))
    return project.get_lesion(lesion_id)
