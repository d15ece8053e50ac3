"""Export the lesions saved on an ultrasound image (or cine): lesion JSON, a NIfTI label map, a label PNG.

An ultrasound study holds one "ultrasound" phase; each lesion has a 2D mask (stored as a one-slice
volume) and a RECIST mark whose key slice is the cine frame. Lengths are mm when the image states its
pixel size, else pixels, and every file says which. DICOM SR/SEG and DeepLesion CSV describe CT series
(patient geometry, slice positions), so they are refused for ultrasound with an ExportError.

JSON (``"format": "liverview-us-lesions"``, schema 1)::

    {"image": {"source", "size_hw", "n_frames", "pixel_spacing_mm": [row, col] | null, "units"},
     "lesions": [{"lesion_id", "lesion_class", "status", "note", "class_probabilities": {...},
                  "malignant_probability", "frame_index", "units", "long_axis_length",
                  "short_axis_length", "long_axis_px": [[col, row], [col, row]], "short_axis_px", "area"}]}

Label files: value n is the n-th lesion written (0 background). The NIfTI map is [frames, rows, cols],
each mask on its own frame, with the image's pixel spacing (1 when unknown, marked "px" in the
sidecar). The PNG is one 8-bit [rows, cols] image with its sidecar ``<name>.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np

from liverview.core.volume import Volume
from liverview.io.export.nifti_labels import LabelMapError, LesionMask, sidecar_path, write_label_map
from liverview.io.export.project_export import ExportError, ExportResult
from liverview.io.replace_on_success import replaced_on_success
from liverview.store.project import Project
from liverview.store.records import US_PHASE, LesionRecord
from liverview.store.ultrasound import us_study_key
from liverview.us.image import UsImage

US_EXPORT_FORMATS: dict[str, str] = {
    "json": "LiverView ultrasound lesion JSON (RECIST in mm, or px without a pixel size)",
    "nifti": "NIfTI label map of lesion masks on the image grid (+ JSON sidecar)",
    "png": "8-bit label PNG of lesion masks (+ JSON sidecar)",
}
US_DEFAULT_SUFFIX = {"json": ".json", "nifti": ".nii.gz", "png": ".png"}
CT_ONLY_FORMATS = {"sr": "DICOM SR", "seg": "DICOM SEG", "csv": "DeepLesion CSV"}
US_JSON_FORMAT = "liverview-us-lesions"
US_PNG_SIDECAR_FORMAT = "liverview-us-label-png"
_PROBS = re.compile(r"class probabilities: ([^;]*)")
_MALIGNANT = re.compile(r"malignant ([0-9.]+)")


def find_us_study(project: Project, source: str | Path) -> int | None:
    """The id of the image's study in the project, or None when nothing was saved on it."""
    key = us_study_key(source)
    return next((s.id for s in project.list_studies() if s.uid == key), None)


def _image_info(image: UsImage) -> dict:
    f, h, w = image.frames.shape
    return {"source": str(image.source), "size_hw": [int(h), int(w)], "n_frames": int(f),
            "pixel_spacing_mm": None if image.pixel_spacing_mm is None else [float(v) for v in image.pixel_spacing_mm],
            "units": image.units}


def _spacing_xy(image: UsImage) -> tuple[float, float]:
    sy, sx = image.pixel_spacing_mm or (1.0, 1.0)
    return float(sx), float(sy)


def _class_probabilities(note: str) -> tuple[dict[str, float], float | None]:
    """The probabilities save_us_lesion wrote into the note ("class probabilities: cyst 0.10, ...")."""
    probs: dict[str, float] = {}
    found = _PROBS.search(note)
    if found:
        for item in found.group(1).split(","):
            name, _, value = item.strip().rpartition(" ")
            try:
                probs[name] = float(value)
            except ValueError:
                continue
    malignant = _MALIGNANT.search(note)
    return probs, (float(malignant.group(1)) if malignant else None)


def _lesion_json(lesion: LesionRecord, image: UsImage, mask: np.ndarray | None) -> dict:
    sx, sy = _spacing_xy(image)
    probs, malignant = _class_probabilities(lesion.notes)
    r = lesion.recist

    def to_px(segment):
        return None if segment is None else [[p[0] / sx, p[1] / sy] for p in segment]

    return {
        "lesion_id": str(lesion.id), "lesion_class": lesion.lesion_class, "status": lesion.status,
        "note": lesion.notes, "class_probabilities": probs, "malignant_probability": malignant,
        "frame_index": None if r is None else r.key_slice, "units": image.units,
        "long_axis_length": None if r is None else r.long_mm,
        "short_axis_length": None if r is None else r.short_mm,
        "long_axis_px": None if r is None else to_px(r.long_axis),
        "short_axis_px": None if r is None else to_px(r.short_axis),
        "area": None if mask is None else float(mask.sum()) * sx * sy,
    }


def _masks(project: Project, lesions: list[LesionRecord], image: UsImage, skipped: list[str]
           ) -> list[tuple[LesionRecord, np.ndarray]]:
    """Each lesion's 2D mask on the image's pixel grid; lesions without a usable mask are reported."""
    _, h, w = image.frames.shape
    out = []
    for lesion in lesions:
        stored = project.get_mask(lesion.id, US_PHASE)
        if stored is None:
            skipped.append(f"lesion {lesion.id}: has no mask")
            continue
        mask = np.asarray(stored.array, bool)
        if mask.ndim == 3 and mask.shape[0] == 1:
            mask = mask[0]
        if mask.shape != (h, w):
            skipped.append(f"lesion {lesion.id}: its mask is {mask.shape}, the image {h}x{w} px: was it saved on "
                           "another image?")
            continue
        if not mask.any():
            skipped.append(f"lesion {lesion.id}: its mask is empty")
            continue
        out.append((lesion, mask))
    return out


def _frame(lesion: LesionRecord, image: UsImage) -> int:
    frame = lesion.recist.key_slice if lesion.recist is not None else 0
    if not 0 <= frame < image.n_frames:
        raise ExportError(f"lesion {lesion.id} lies on frame {frame}, the image has {image.n_frames} frame(s): "
                          "was it saved on another image?")
    return frame


def check_us_export_format(fmt: str) -> None:
    """Raise ExportError unless ``fmt`` is an ultrasound export format (CT-only formats are named as such)."""
    if fmt in CT_ONLY_FORMATS:
        raise ExportError(f"{CT_ONLY_FORMATS[fmt]} export is for CT studies only: an ultrasound image has no CT "
                          f"series geometry to reference. Use one of {', '.join(US_EXPORT_FORMATS)}")
    if fmt not in US_EXPORT_FORMATS:
        raise ExportError(f"unknown ultrasound export format {fmt!r}: use one of {', '.join(US_EXPORT_FORMATS)}")


def export_us_annotations(project: Project, study_id: int, image: UsImage, fmt: str, out: str | Path
                          ) -> ExportResult:
    """Write the lesions saved on ``image`` (study ``study_id``) to ``out`` in ``fmt`` (US_EXPORT_FORMATS)."""
    check_us_export_format(fmt)
    lesions = project.list_lesions(study_id)
    if not lesions:
        raise ExportError(f"nothing to export: no lesion is saved on {image.source}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    try:
        written = {"json": _write_json, "nifti": _write_nifti, "png": _write_png}[fmt](
            project, lesions, image, out, skipped)
    except (LabelMapError, OSError) as exc:
        raise ExportError(str(exc)) from exc
    if written == 0:
        raise ExportError(f"nothing to export as {fmt}: " + "; ".join(skipped))
    return ExportResult(out, written, skipped)


def _write_json(project, lesions, image, out, skipped) -> int:
    masks = {lesion.id: mask for lesion, mask in _masks(project, lesions, image, [])}
    document = {"format": US_JSON_FORMAT, "schema_version": 1, "image": _image_info(image),
                "lesions": [_lesion_json(lesion, image, masks.get(lesion.id)) for lesion in lesions]}
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    with replaced_on_success(out) as (partial,):
        partial.write_text(text, encoding="utf-8")
    return len(lesions)


def _write_nifti(project, lesions, image, out, skipped) -> int:
    masks = _masks(project, lesions, image, skipped)
    if not masks:
        return 0
    grid_shape = image.frames.shape
    placed = []
    for lesion, mask in masks:
        on_grid = np.zeros(grid_shape, bool)
        on_grid[_frame(lesion, image)] = mask
        placed.append(LesionMask(str(lesion.id), on_grid, lesion.lesion_class))
    sx, sy = _spacing_xy(image)
    grid = Volume(np.zeros(grid_shape, np.uint8), spacing=(sx, sy, 1.0), name=Path(image.source).name)
    sidecar = write_label_map(placed, grid, out)
    # the label map's sidecar, plus what an ultrasound reader needs: units and frames
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["image"] = _image_info(image)
    data["axes"] = "k = cine frame, j = row, i = column; spacing is mm, or 1 px when the image states none"
    for item, (lesion, _) in zip(data["labels"], masks):
        item["frame_index"] = _frame(lesion, image)
    with replaced_on_success(sidecar) as (partial,):
        partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return len(placed)


def png_sidecar_path(path: str | Path) -> Path:
    """``x.png`` -> ``x.png.labels.json``: not ``x.json`` (the ultrasound JSON export's name for the same image)
    nor ``x.labels.json`` (the NIfTI label map's sidecar of the same lesions)."""
    path = Path(path)
    return path.with_name(path.name + ".labels.json")


def _write_png(project, lesions, image, out, skipped) -> int:
    if out.suffix.lower() != ".png":
        raise ExportError(f"a label PNG must be written to a .png file, got {out.name}")
    masks = _masks(project, lesions, image, skipped)
    if len(masks) > 255:
        raise ExportError(f"{len(masks)} lesions exceed the 255 labels of an 8-bit PNG: export NIfTI instead")
    labels = np.zeros(image.frames.shape[1:], np.uint8)
    entries = []
    for value, (lesion, mask) in enumerate(masks, start=1):
        clash = labels[mask]
        if clash.any():
            other = masks[int(clash[clash > 0][0]) - 1][0].id
            raise ExportError(f"lesions {other} and {lesion.id} overlap ({int(np.count_nonzero(clash))} px): one "
                              "PNG holds one lesion per pixel; export NIfTI, which keeps each cine frame apart")
        labels[mask] = value
        entries.append({"value": value, "lesion_id": str(lesion.id), "lesion_class": lesion.lesion_class,
                        "frame_index": _frame(lesion, image)})
    if not entries:
        return 0
    with replaced_on_success(out, png_sidecar_path(out)) as (partial_png, partial_sidecar):
        if not cv2.imwrite(str(partial_png), labels):
            raise ExportError(f"cannot write {out}")
        partial_sidecar.write_text(json.dumps(
            {"format": US_PNG_SIDECAR_FORMAT, "schema_version": 1, "label_png": out.name,
             "image": _image_info(image), "labels": entries}, indent=2) + "\n", encoding="utf-8")
    return len(entries)


__all__ = ["US_EXPORT_FORMATS", "US_DEFAULT_SUFFIX", "CT_ONLY_FORMATS", "export_us_annotations", "find_us_study",
           "png_sidecar_path", "sidecar_path", "ExportError", "ExportResult"]
