"""Synthetic lesions inserted into real CT livers: training data that looks like patient CT.

After Hu et al., CVPR 2023 ("Label-free liver tumor segmentation"): lesions drawn by the shared lesion
model (liverview.synth.lesion_model: class-specific enhancement, lobulated shapes, texture, necrosis, rims,
capsules, soft partial-volume edges) are painted into the liver of a real host scan, carrying the host's
own pixel noise, so that only the lesion is synthetic. Sizes are log-uniform over 5-100 mm (shrunk when
the liver cannot hold them). Each generated study also varies what differs between scanners: noise,
slice thickness, reconstruction kernel, contrast timing (a liver HU offset) and patient size.

Hosts are single-phase (portal venous): a study written here holds that phase only and the detector
trains it with the other phases marked absent. A lesion looks as its class does in that phase unless other
appearance phases are asked for: then each lesion shows its contrast to the liver in one of them, drawn per
lesion (an archive's single-phase scans come from every phase, and hypervascular lesions are bright in the
arterial phase, where portal-venous lesions of these classes are mostly dark). A real host may hold real,
unlabelled tumours; they must never be taught as background, so every liver region that departs from the
parenchyma the way a lesion does (``suspicious_regions``) is written as an ignore mask, and no lesion is
inserted on top of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import ndimage

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.synth.ct_phantom import (LESION_CLASSES, LESION_LABELS_FILE, LESION_TABLE_FILE, LIVER_MASK_FILE,
                                        PHASES, STUDY_FILE, PhantomLesion, measure_lesion, write_lesion_table)
from liverview.synth.lesion_model import EDGE_MM, LesionShape, draw_lesion_shape, lesion_hu
from liverview.synth.scanner_variation import ScannerAugmentation, apply_scanner_variation
from liverview.synth.soft_shapes import membership

INSERTED_FORMAT = "liverview-ct-inserted"
INSERTED_VERSION = 1
HOST_PHASE = PhaseKind.PORTAL_VENOUS
PHASE_FILE = "portal-venous.nii.gz"
IGNORE_MASK_FILE = "ignore_mask.nii.gz"
SIZE_RANGE_MM = (5.0, 100.0)
# A lesion with its lobes fits a sphere this much wider than the largest diameter drawn. Until 2026-12-02 the
# bound was passed as a radius where a diameter is read (57.5 mm for 5-100 mm draws), so no inserted lesion
# exceeded about 55 mm; the shipped detector's recipe passes --max-extent 57.5 to make that data again.
MAX_EXTENT_FACTOR = 1.15
# Parenchyma HU per phase relative to portal venous, as in the phantom (55, 70, 110, 90): lesion_hu reads
# the non-PV entries for a few contrasts only.
_PHASE_RATIO = (0.5, 0.64, 1.0, 0.82)
_GAP_MM = 2.0


@dataclass(frozen=True)
class HostLiver:
    """A real scan prepared for insertion: HU on an identity-direction grid cropped around the liver."""

    name: str
    image: Volume  # float32 HU
    liver: np.ndarray  # bool, same grid
    suspicious: np.ndarray  # bool: may be a real, unlabelled lesion -> ignored in training, never painted over
    liver_hu: float  # median parenchyma HU outside the suspicious regions


def canonical_orientation(volume: Volume) -> Volume:
    """The same voxels on an identity-direction grid (axes flipped where the direction points backwards).

    Only axis-aligned grids are accepted: a tilted gantry would need resampling, which this does not do."""
    d = np.asarray(volume.direction, float)
    if not np.allclose(np.abs(d), np.eye(3), atol=1e-4):
        raise ValueError(f"{volume.name}: only axis-aligned scans can host lesions (direction {d.round(3).tolist()})")
    arr = volume.array
    origin = np.asarray(volume.origin, float).copy()
    for axis_xyz in range(3):
        if d[axis_xyz, axis_xyz] < 0:
            n = arr.shape[2 - axis_xyz]
            origin[axis_xyz] -= (n - 1) * volume.spacing[axis_xyz]
            arr = np.flip(arr, axis=2 - axis_xyz)
    return Volume(np.ascontiguousarray(arr), volume.spacing, tuple(origin), np.eye(3), volume.name)


def suspicious_regions(hu: np.ndarray, liver: np.ndarray, spacing: tuple[float, float, float],
                       liver_hu: float, drop_hu: float = 20.0, min_diameter_mm: float = 5.0,
                       margin_mm: float = 5.0) -> np.ndarray:
    """Liver regions darker than the parenchyma by ``drop_hu`` (after 1.5 mm smoothing), at least
    ``min_diameter_mm`` across, grown by ``margin_mm``: where a real hypodense lesion may sit.

    Portal-venous hosts show metastases, most HCCs after washout, cysts and necrosis as hypodense; bright
    structures in the liver are mostly vessels and are left alone. Conservative by design: a region
    ignored wrongly only costs training signal, a real tumour taught as background costs recall."""
    sx, sy, sz = spacing
    smooth = ndimage.gaussian_filter(hu.astype(np.float32), sigma=(1.5 / sz, 1.5 / sy, 1.5 / sx))
    inner = ndimage.binary_erosion(liver, structure=_ellipsoid_kernel(3.0, spacing))
    dark = inner & (smooth < liver_hu - drop_hu)
    labels, n = ndimage.label(dark)
    if n == 0:
        return np.zeros_like(liver, bool)
    sizes = ndimage.sum_labels(dark, labels, index=np.arange(1, n + 1)) * sx * sy * sz
    min_volume = math.pi / 6 * min_diameter_mm ** 3
    keep = np.zeros(n + 1, bool)
    keep[1:] = sizes >= min_volume
    out = keep[labels]
    if out.any():
        far = ndimage.distance_transform_edt(~out, sampling=(sz, sy, sx))
        out = far <= margin_mm
    return out


def _ellipsoid_kernel(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    sx, sy, sz = spacing
    r = [max(radius_mm / s, 0.5) for s in (sz, sy, sx)]
    n = [int(math.ceil(v)) for v in r]
    z, y, x = np.ogrid[-n[0]:n[0] + 1, -n[1]:n[1] + 1, -n[2]:n[2] + 1]
    return (z / r[0]) ** 2 + (y / r[1]) ** 2 + (x / r[2]) ** 2 <= 1.0


def prepare_host(volume: Volume, liver_mask: Volume, name: str, margin_mm: float = 30.0) -> HostLiver:
    """Orient, crop to the liver (+ margin in-plane, + 10 mm in z) and find the suspicious regions."""
    if volume.array.shape != liver_mask.array.shape:
        raise ValueError(f"{name}: the liver mask's grid {liver_mask.array.shape} is not the scan's "
                         f"{volume.array.shape}")
    image = canonical_orientation(volume)
    liver_full = canonical_orientation(liver_mask).array > 0
    if liver_full.sum() * float(np.prod(volume.spacing)) < 100_000:  # < 100 mL: no liver to host lesions
        raise ValueError(f"{name}: the liver mask holds under 100 mL: no liver to insert lesions into")
    sx, sy, sz = image.spacing
    box = ndimage.find_objects(liver_full.astype(np.uint8))[0]
    pads = (10.0 / sz, margin_mm / sy, margin_mm / sx)
    crop = tuple(slice(max(0, s.start - int(math.ceil(p))), min(n, s.stop + int(math.ceil(p))))
                 for s, p, n in zip(box, pads, liver_full.shape))
    hu = np.asarray(image.array[crop], np.float32)
    liver = liver_full[crop]
    origin = np.asarray(image.origin) + np.array([crop[2].start * sx, crop[1].start * sy, crop[0].start * sz])
    median = float(np.median(hu[liver]))
    suspicious = suspicious_regions(hu, liver, image.spacing, median)
    clean = liver & ~suspicious
    liver_hu = float(np.median(hu[clean])) if clean.any() else median
    return HostLiver(name, Volume(hu, image.spacing, tuple(origin), np.eye(3), name), liver, suspicious, liver_hu)


def _axes(box: tuple[slice, slice, slice], spacing: tuple[float, float, float]):
    """mm coordinates (x, y, z) of a box's voxels relative to voxel (0, 0, 0), shaped for broadcasting."""
    sx, sy, sz = spacing
    x = (np.arange(box[2].start, box[2].stop, dtype=np.float32) * sx)[None, None, :]
    y = (np.arange(box[1].start, box[1].stop, dtype=np.float32) * sy)[None, :, None]
    z = (np.arange(box[0].start, box[0].stop, dtype=np.float32) * sz)[:, None, None]
    return x, y, z


def _box_around(centre: np.ndarray, radius: float, spacing, shape) -> tuple[slice, slice, slice] | None:
    out = []
    for a in (2, 1, 0):
        s, n = spacing[a], shape[2 - a]
        i0 = max(int(math.floor((centre[a] - radius) / s)), 0)
        i1 = min(int(math.ceil((centre[a] + radius) / s)) + 1, n)
        if i1 <= i0:
            return None
        out.append(slice(i0, i1))
    return out[0], out[1], out[2]


def place_lesions(liver: np.ndarray, avoid: np.ndarray, spacing: tuple[float, float, float], n: int,
                  rng: np.random.Generator, size_range_mm: tuple[float, float] = SIZE_RANGE_MM,
                  max_centre_depth_mm: float | None = None, max_extent_mm: float | None = None
                  ) -> list[LesionShape]:
    """n non-overlapping lesions centred in the liver, away from ``avoid``; largest first, shrunk to fit.
    Each fits a sphere ``max_extent_mm`` across (default: the largest diameter x MAX_EXTENT_FACTOR).

    A lesion may reach the liver's surface (subcapsular lesions are common); its centre lies at least
    0.6 of its extent inside, or ``max_centre_depth_mm`` when that is less: a host liver is rarely thick
    enough to hold a 60-100 mm lesion 0.6 deep, so without it large lesions are shrunk to about 55 mm; with
    it their outer part is cut off at the liver's surface. Fewer than n come back when even 5 mm lesions no
    longer fit."""
    sx, sy, sz = spacing
    depth = ndimage.distance_transform_edt(np.pad(liver, 1), sampling=(sz, sy, sx))[1:-1, 1:-1, 1:-1]
    clear = ndimage.distance_transform_edt(~avoid, sampling=(sz, sy, sx)) if avoid.any() else np.full(liver.shape, 1e9)
    kk, jj, ii = np.nonzero(depth > 0)
    pos = np.stack([ii * sx, jj * sy, kk * sz], axis=1).astype(np.float32)
    depth_v, clear_v = depth[kk, jj, ii], clear[kk, jj, ii]
    classes = [LESION_CLASSES[int(c)] for c in rng.integers(0, len(LESION_CLASSES), n)]
    lo, hi = np.log(size_range_mm[0]), np.log(size_range_mm[1])
    diameters = np.exp(rng.uniform(lo, hi, n))
    bound = size_range_mm[1] * MAX_EXTENT_FACTOR if max_extent_mm is None else max_extent_mm
    placed: list[LesionShape] = []
    for idx in np.argsort(diameters)[::-1]:
        cls, diameter = classes[idx], float(diameters[idx])
        lobes = float(rng.uniform(1.0, 2.5))  # real lesions are often more lobulated than the phantom's
        while True:
            shape = draw_lesion_shape(cls, diameter, np.zeros(3), rng, max_extent_mm=bound)
            ext = float(shape.radii.max()) * (1.0 + shape.lobulation * lobes)
            inside = 0.6 * ext if max_centre_depth_mm is None else min(0.6 * ext, max_centre_depth_mm)
            ok = (depth_v >= inside + _GAP_MM) & (clear_v >= ext + _GAP_MM)
            for other in placed:
                ok &= np.linalg.norm(pos - other.centre, axis=1) >= ext + other.extent + _GAP_MM
            cand = np.flatnonzero(ok)
            if cand.size:
                centre = pos[rng.choice(cand)].astype(float)
                placed.append(LesionShape(cls, centre, shape.radii, shape.rot, shape.lobes, shape.lobulation * lobes))
                break
            if diameter <= size_range_mm[0]:
                break
            diameter = max(diameter * 0.85, size_range_mm[0])
    return placed


def paint_lesions(hu: np.ndarray, liver: np.ndarray, spacing: tuple[float, float, float], shapes: list[LesionShape],
                  liver_hu: float, rng: np.random.Generator, appearance: Sequence[PhaseKind] = (HOST_PHASE,)
                  ) -> tuple[np.ndarray, np.ndarray, list[PhaseKind]]:
    """(new HU, int16 labels, each lesion's appearance phase): each lesion blended in with its soft edge,
    inside the liver (+1 voxel), with the host's own pixel-scale texture (noise) kept on top, and a contrast
    drawn per lesion (0.5-1.2 x the textbook difference to the liver in its appearance phase, drawn per lesion
    from ``appearance``, so subtle lesions occur too; cysts stay water). The difference is taken to the
    phantom's parenchyma in that phase and added to the host's liver HU. One appearance phase draws nothing
    from ``rng`` (the data of earlier versions stay the same)."""
    if not appearance or any(p not in PHASES for p in appearance):
        raise ValueError(f"appearance phases must be among {[p.value for p in PHASES]}, got {list(appearance)}")
    out = hu.copy()
    texture = hu - ndimage.gaussian_filter(hu, sigma=(0.0, 1.0, 1.0))
    allowed = ndimage.binary_dilation(liver, iterations=1)
    labels = np.zeros(hu.shape, np.int16)
    phase_hu = tuple(liver_hu * r for r in _PHASE_RATIO)
    phases: list[PhaseKind] = []
    for lesion_id, shape in enumerate(shapes, start=1):
        phase = appearance[0] if len(appearance) == 1 else appearance[int(rng.integers(len(appearance)))]
        phases.append(phase)
        box = _box_around(shape.centre, shape.extent + 3.0, spacing, hu.shape)
        if box is None:
            continue
        x, y, z = _axes(box, spacing)
        d, n = shape.normalized(x, y, z)
        r_mean = float(np.prod(shape.radii) ** (1 / 3))
        inside = allowed[box]
        m = membership((d - 1.0) * r_mean, EDGE_MM[shape.lesion_class]) * inside
        index = PHASES.index(phase)  # lesion_hu's HU tuple is in PHASES' order
        value = lesion_hu(shape, d, n, x, y, z, phase_hu, rng)[index]
        if shape.lesion_class != "cyst":
            value = liver_hu + float(rng.uniform(0.5, 1.2)) * (value - phase_hu[index])
        target = value + texture[box]
        out[box] = out[box] * (1.0 - m) + target * m
        labels[box][(d <= 1.0) & inside] = lesion_id
    return out, labels, phases


@dataclass(eq=False)
class InsertedStudy:
    host: str
    seed: int
    image: Volume  # int16 HU, portal venous
    liver_mask: Volume
    lesion_labels: Volume
    ignore_mask: Volume  # uint8: suspicious host regions, no training signal either way
    lesions: list[PhantomLesion]
    augmentation: ScannerAugmentation
    appearance: tuple[PhaseKind, ...] = (HOST_PHASE,)  # per lesion in ``lesions``' order: the phase it looks as in


def measure_lesions(labels: np.ndarray, shapes: list[LesionShape], origin, spacing) -> list[PhantomLesion]:
    """Box, key slice, RECIST and volume diameter of every painted lesion; ids are label values (1..n in
    the order of ``shapes``); a lesion left without voxels is dropped and its id stays unused."""
    out: list[PhantomLesion] = []
    for lesion_id, (shape, box) in enumerate(zip(shapes, ndimage.find_objects(labels, max_label=len(shapes))), start=1):
        if box is not None:
            out.append(measure_lesion(labels, lesion_id, box, shape.lesion_class, np.asarray(origin) + shape.centre,
                                      shape.radii, origin, spacing))
    return out


def generate_inserted_study(host: HostLiver, seed: int, n_lesions: int = 6, augment: bool = True,
                            size_range_mm: tuple[float, float] = SIZE_RANGE_MM,
                            max_centre_depth_mm: float | None = None, max_extent_mm: float | None = None,
                            appearance: Sequence[PhaseKind] = (HOST_PHASE,)) -> InsertedStudy:
    """One training study: the host with ``n_lesions`` (or as many as fit) lesions and, when ``augment``,
    one draw of scanner variation (``max_centre_depth_mm``, ``max_extent_mm``: see :func:`place_lesions`;
    ``appearance``: see :func:`paint_lesions`). The same host, seed and options always give the same voxels."""
    if n_lesions < 1:
        raise ValueError(f"n_lesions must be >= 1, got {n_lesions}")
    rng = np.random.default_rng([seed, 7])
    aug = ScannerAugmentation.draw(rng) if augment else ScannerAugmentation.none()
    sx, sy, sz = host.image.spacing
    spacing = (sx * aug.scale, sy * aug.scale, sz)
    shapes = place_lesions(host.liver, host.suspicious, spacing, n_lesions, rng, size_range_mm, max_centre_depth_mm,
                           max_extent_mm)
    if not shapes:
        raise ValueError(f"{host.name}: no lesion fits into the liver")
    hu, labels, phases = paint_lesions(host.image.array, host.liver, spacing, shapes, host.liver_hu, rng, appearance)
    liver_soft = ndimage.gaussian_filter(host.liver.astype(np.float32), sigma=(0.5, 2.0, 2.0))
    hu = apply_scanner_variation(hu, liver_soft, spacing, aug, rng)
    origin = host.image.origin
    lesions = measure_lesions(labels, shapes, origin, spacing)
    kept = {les.lesion_id for les in lesions}
    shown_as = tuple(p for lesion_id, p in enumerate(phases, start=1) if lesion_id in kept)

    def vol(a: np.ndarray, name: str) -> Volume:
        return Volume(a, spacing, origin, np.eye(3), name)

    image = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    return InsertedStudy(host.name, int(seed), vol(image, "portal venous"), vol(host.liver.astype(np.uint8), "liver"),
                         vol(labels, "lesions"), vol(host.suspicious.astype(np.uint8), "ignore"), lesions, aug,
                         shown_as)


def _write_volume(volume: Volume, path: Path) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(volume.array)
    image.SetSpacing(tuple(float(v) for v in volume.spacing))
    image.SetOrigin(tuple(float(v) for v in volume.origin))
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction).flatten()))
    sitk.WriteImage(image, str(path), useCompression=True)


def write_inserted_study(study: InsertedStudy, out_dir: Path | str) -> Path:
    """Phase, masks, lesions.csv and study.json (written last: its presence means complete), in the layout
    `train-detector` reads (the phantom's, with one phase and an ignore mask)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_volume(study.image, out / PHASE_FILE)
    _write_volume(study.liver_mask, out / LIVER_MASK_FILE)
    _write_volume(study.lesion_labels, out / LESION_LABELS_FILE)
    _write_volume(study.ignore_mask, out / IGNORE_MASK_FILE)
    write_lesion_table(study.lesions, out / LESION_TABLE_FILE)
    meta = {
        "format": INSERTED_FORMAT, "version": INSERTED_VERSION, "host": study.host, "seed": study.seed,
        "shape_zyx": list(study.image.array.shape), "spacing_mm_xyz": list(study.image.spacing),
        "origin_mm_xyz": list(study.image.origin), "direction": np.eye(3).flatten().tolist(),
        "reference_phase": HOST_PHASE.value,
        "phases": {HOST_PHASE.value: {"file": PHASE_FILE, "true_shift_mm": [0.0, 0.0, 0.0]}},
        "liver_mask": LIVER_MASK_FILE, "lesion_labels": LESION_LABELS_FILE, "lesion_table": LESION_TABLE_FILE,
        "ignore_mask": IGNORE_MASK_FILE, "lesion_count": len(study.lesions),
        "augmentation": asdict(study.augmentation),
        "lesion_appearance_phases": {str(les.lesion_id): p.value for les, p in zip(study.lesions, study.appearance)},
        "note": "real host scan with synthetic lesions; ignore_mask marks host regions that may be real, "
                "unlabelled lesions (no training signal there)",
    }
    tmp = out / (STUDY_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / STUDY_FILE)
    return out
