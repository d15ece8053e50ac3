"""Lesion masks as one NIfTI label map on the reference grid, plus a JSON sidecar naming the labels.

Voxel value n (1, 2, ...) is the n-th lesion written, 0 is background. The sidecar
``<name>.json`` beside ``<name>.nii.gz`` maps each value to the lesion id and class::

    {"format": "liverview-label-map", "schema_version": 1, "label_map": "<name>.nii.gz",
     "labels": [{"value": 1, "lesion_id": "L1", "lesion_class": "hcc"}, ...]}

A label map holds one label per voxel, so overlapping lesions are refused rather than silently
cropped. Label maps from other tools (no sidecar) read as lesions named by their values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from liverview.core.volume import Volume
from liverview.io.replace_on_success import replaced_on_success

SIDECAR_FORMAT = "liverview-label-map"


class LabelMapError(ValueError):
    """Lesion masks cannot be written as, or read from, a label map; the message says why."""


@dataclass(eq=False)
class LesionMask:
    """One lesion's voxels on the reference grid: ``mask`` is bool, indexed [k, j, i]."""

    lesion_id: str
    mask: np.ndarray
    lesion_class: str = ""
    tracking_uid: str = ""  # DICOM SEG: the lesion's tracking UID, shared with its SR measurement group


@dataclass(eq=False)
class LabelMap:
    """A label map read back: the grid it lies on and one mask per label."""

    grid: Volume  # the label values themselves, with the file's geometry
    lesions: list[LesionMask]


_IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
_WRITTEN_SUFFIXES = _IMAGE_SUFFIXES[:4]  # .mhd keeps its voxels in a second file: not replaced as one


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def sidecar_path(path: str | Path) -> Path:
    """``lesions.nii.gz`` -> ``lesions.labels.json`` (also for ``.nii``, ``.nrrd``, ``.mha``). Not
    ``lesions.json``: that is the default name of the lesion JSON export, which a label map written beside
    it would silently replace."""
    path = Path(path)
    return path.with_name(_stem(path) + ".labels.json")


def find_sidecar(path: str | Path) -> Path | None:
    """The sidecar of a label map: ``<name>.labels.json``, or the ``<name>.json`` that exports before
    2026-12-02 wrote when it is a label-map sidecar (not some other JSON of that name); None when neither."""
    path = Path(path)
    current = sidecar_path(path)
    if current.is_file():
        return current
    legacy = path.with_name(_stem(path) + ".json")
    try:
        if legacy.is_file() and json.loads(legacy.read_text(encoding="utf-8")).get("format") == SIDECAR_FORMAT:
            return legacy
    except (OSError, ValueError, AttributeError):
        pass
    return None


def write_label_map(lesions: Sequence[LesionMask], reference: Volume, path: str | Path) -> Path:
    """Write lesion n as value n on ``reference``'s grid and the sidecar; returns the sidecar path."""
    path = Path(path)
    if not path.name.lower().endswith(_WRITTEN_SUFFIXES):
        raise LabelMapError(f"cannot write {path.name}: a label map is written as one file, "
                            f"{' / '.join(_WRITTEN_SUFFIXES)}")
    if len(lesions) > np.iinfo(np.uint16).max:
        raise LabelMapError(f"cannot write {path}: {len(lesions)} lesions exceed the 65535 labels of a uint16 map")
    ids = [lesion.lesion_id for lesion in lesions]
    if len(set(ids)) != len(ids):
        raise LabelMapError(f"cannot write {path}: lesion ids repeat ({ids})")
    dtype = np.uint8 if len(lesions) <= np.iinfo(np.uint8).max else np.uint16
    labels = np.zeros(reference.array.shape, dtype)
    for value, lesion in enumerate(lesions, start=1):
        mask = np.asarray(lesion.mask).astype(bool)
        if mask.shape != reference.array.shape:
            raise LabelMapError(
                f"mask of lesion '{lesion.lesion_id}' has shape {mask.shape}, the reference grid "
                f"'{reference.name}' {reference.array.shape}: resample it onto the reference first"
            )
        clash = labels[mask]
        if np.any(clash):
            other = lesions[int(clash[clash > 0][0]) - 1].lesion_id
            raise LabelMapError(
                f"lesions '{other}' and '{lesion.lesion_id}' share {int(np.count_nonzero(clash))} voxels; "
                "a label map holds one lesion per voxel: separate them or export DICOM SEG"
            )
        labels[mask] = value
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing(reference.spacing)
    image.SetOrigin(reference.origin)
    image.SetDirection(tuple(float(x) for x in np.asarray(reference.direction).reshape(-1)))
    sidecar = sidecar_path(path)
    try:
        with replaced_on_success(path, sidecar) as (partial_image, partial_sidecar):
            sitk.WriteImage(image, str(partial_image), useCompression=True)
            partial_sidecar.write_text(
                json.dumps(
                    {
                        "format": SIDECAR_FORMAT,
                        "schema_version": 1,
                        "label_map": path.name,
                        "labels": [
                            {"value": n, "lesion_id": lesion.lesion_id, "lesion_class": lesion.lesion_class}
                            for n, lesion in enumerate(lesions, start=1)
                        ],
                    },
                    indent=2,
                )
                + "\n",
                encoding="utf-8",
            )
    except (OSError, RuntimeError) as e:
        raise LabelMapError(f"cannot write {path}: {e}") from e
    return sidecar


def _sidecar_labels(sidecar: Path) -> list[tuple[int, str, str]]:
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        if data.get("format") != SIDECAR_FORMAT:
            raise LabelMapError(f"{sidecar} is not a LiverView label-map sidecar (format {data.get('format')!r})")
        out = []
        for item in data["labels"]:
            value = item["value"]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise LabelMapError(f"{sidecar}: label value {value!r} must be a positive integer")
            out.append((value, str(item["lesion_id"]), str(item.get("lesion_class", ""))))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise LabelMapError(f"cannot read the sidecar {sidecar}: {e}") from e
    values = [v for v, _, _ in out]
    if len(set(values)) != len(values):
        raise LabelMapError(f"{sidecar}: label values repeat ({values})")
    return out


def read_label_map(path: str | Path) -> LabelMap:
    """Read a label map and its sidecar (if any) into one mask per lesion.

    Sidecar labels absent from the image read as empty masks; values in the image that the sidecar
    does not list read as lesions named by their value, so no voxel is dropped.
    """
    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise LabelMapError(f"cannot read the label map {path}: {e}") from e
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise LabelMapError(f"{path} is not a 3D single-component label map")
    array = sitk.GetArrayFromImage(image)
    if not np.issubdtype(array.dtype, np.integer):
        raise LabelMapError(f"{path} holds {array.dtype} values; a label map holds integers")
    if array.size and array.min() < 0:
        raise LabelMapError(f"{path} holds negative values; lesion labels are 1, 2, ... and 0 is background")
    grid = Volume(
        array, image.GetSpacing(), image.GetOrigin(), np.array(image.GetDirection()).reshape(3, 3), path.name
    )
    sidecar = find_sidecar(path)
    listed = _sidecar_labels(sidecar) if sidecar is not None else []
    present = [int(v) for v in np.unique(array) if v > 0]
    known = {v for v, _, _ in listed}
    entries = listed + [(v, str(v), "") for v in present if v not in known]
    lesions = [LesionMask(lesion_id, array == value, lesion_class) for value, lesion_id, lesion_class in entries]
    return LabelMap(grid=grid, lesions=lesions)
