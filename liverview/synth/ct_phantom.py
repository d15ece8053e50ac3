"""Synthetic multi-phase liver CT: the demo study and labelled training data for the detector.

Why synthetic: lesion classes differ by how their contrast changes across phases, so a phantom whose
enhancement follows the textbook patterns exercises viewer, registration and detector end to end,
with exact ground truth (class, box, key slice, RECIST) and no patient data.

Frames: anatomy is drawn once in the *reference frame* (the non-contrast phase); every other phase is
the same anatomy moved by a small rigid "breathing" shift (``PhantomStudy.shifts_mm``: a point at
``p`` in the reference lies at ``p + shift`` in that phase). Liver mask, lesion labels and the lesion
table are in the reference frame. All phases share one grid (identity direction, LPS mm), so only an
explicit registration, not the slice index, lines them up.
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from liverview.core.study import PHASE_ORDER, Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.synth.lesion_model import DIAMETER_RANGE_MM as _DIAMETER_RANGE_MM
from liverview.synth.lesion_model import EDGE_MM as _EDGE_MM
from liverview.synth.lesion_model import MAX_EXTENT_MM as _MAX_EXTENT_MM
from liverview.synth.lesion_model import LesionShape as _LesionShape
from liverview.synth.lesion_model import draw_lesion_shape as _draw_lesion_shape
from liverview.synth.lesion_model import lesion_hu as _lesion_hu
from liverview.synth.scanner_variation import ScannerAugmentation, apply_scanner_variation
from liverview.synth.soft_shapes import Field as _Field
from liverview.synth.soft_shapes import membership as _membership
from liverview.synth.soft_shapes import smoothstep as _smoothstep

PHANTOM_VERSION = 1
LESION_CLASSES: tuple[str, ...] = ("cyst", "hemangioma", "hcc", "metastasis")
REFERENCE_PHASE = PhaseKind.NON_CONTRAST
PHASES: tuple[PhaseKind, ...] = tuple(PHASE_ORDER)  # NC, ART, PV, DEL: the order of every HU tuple
PHASE_FILES: dict[PhaseKind, str] = {k: k.value.replace(" ", "-") + ".nii.gz" for k in PHASES}
LIVER_MASK_FILE = "liver_mask.nii.gz"
LESION_LABELS_FILE = "lesion_labels.nii.gz"
LESION_TABLE_FILE = "lesions.csv"
STUDY_FILE = "study.json"

# Attenuation (HU) per phase (NC, ART, PV, DEL). Liver values follow the brief; vessels follow the bolus.
_LIVER_HU = (55.0, 70.0, 110.0, 90.0)
_AORTA_HU = (40.0, 320.0, 170.0, 120.0)
_IVC_HU = (40.0, 80.0, 150.0, 115.0)
_PORTAL_HU = (40.0, 110.0, 190.0, 125.0)
_HEPATIC_VEIN_HU = (40.0, 50.0, 160.0, 120.0)
_SPLEEN_HU = (45.0, 100.0, 125.0, 100.0)
_KIDNEY_CORTEX_HU = (32.0, 190.0, 170.0, 140.0)
_KIDNEY_MEDULLA_HU = (32.0, 70.0, 150.0, 150.0)
_AIR_HU, _FAT_HU, _MUSCLE_HU, _LUNG_HU = -1000.0, -100.0, 45.0, -850.0
_BONE_CANCELLOUS_HU, _BONE_CORTEX_HU, _DISC_HU, _CSF_HU = 400.0, 700.0, 85.0, 15.0

_MIN_DIAMETER_MM = 5.0
V2_DIAMETER_RANGE_MM = (5.0, 100.0)  # lesion model v2 (shrunk to fit the phantom's liver when needed)
LESION_MODELS = ("v1", "v2")
_LESION_GAP_MM = 2.0  # margin to the liver surface and between lesions


@dataclass(frozen=True)
class PhantomLesion:
    """One ground-truth lesion, in the reference frame. Boxes are inclusive voxel indices / LPS mm."""

    lesion_id: int
    lesion_class: str
    center_mm: tuple[float, float, float]
    radii_mm: tuple[float, float, float]  # semi-axes of the (rotated) ellipsoid before lobulation
    box_ijk: tuple[int, int, int, int, int, int]  # x0, y0, z0, x1, y1, z1
    box_mm: tuple[float, float, float, float, float, float]  # voxel centres of the box corners
    key_slice: int  # k of the axial slice with the largest cross-section
    long_axis_mm: tuple[tuple[float, float, float], tuple[float, float, float]]
    short_axis_mm: tuple[tuple[float, float, float], tuple[float, float, float]]
    long_axis_length_mm: float
    short_axis_length_mm: float
    diameter_mm: float  # diameter of the sphere with the volume of the voxel mask


@dataclass(eq=False)
class PhantomStudy:
    """A generated study: four int16 HU phases, ground-truth masks and lesions, true breathing shifts."""

    seed: int
    phases: dict[PhaseKind, Volume]
    liver_mask: Volume  # uint8, liver incl. lesions and intrahepatic vessels, reference frame
    lesion_labels: Volume  # int16, lesion_id per voxel (0 elsewhere), reference frame
    vessel_mask: Volume  # uint8, intrahepatic portal and hepatic veins, reference frame
    lesions: list[PhantomLesion]
    shifts_mm: dict[PhaseKind, tuple[float, float, float]]  # true content shift of each phase (x, y, z)
    noise_hu: float = 12.0  # standard deviation of the added (in-plane correlated) noise
    reference_phase: PhaseKind = REFERENCE_PHASE
    lesion_model: str = "v1"
    scanner: ScannerAugmentation | None = None  # lesion model v2's scanner variation

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.liver_mask.array.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return self.liver_mask.spacing

    def aligned_array(self, kind: PhaseKind) -> np.ndarray:
        """A phase moved back onto the reference frame by its true shift (float32): the ideal registration."""
        shift = self.shifts_mm[kind]
        arr = self.phases[kind].array.astype(np.float32)
        if not any(shift):
            return arr
        sx, sy, sz = self.spacing_mm
        return ndimage.shift(arr, (-shift[2] / sz, -shift[1] / sy, -shift[0] / sx), order=1, mode="nearest")

    def to_study(self) -> Study:
        """The phases as a core Study (reference = non-contrast), e.g. to open the phantom in the viewer."""
        frame = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'liverview-phantom/{self.seed}').int}"
        times = {PhaseKind.NON_CONTRAST: 36000.0, PhaseKind.ARTERIAL: 36145.0,
                 PhaseKind.PORTAL_VENOUS: 36180.0, PhaseKind.DELAYED: 36300.0}
        phases = [Phase(kind=k, volume=self.phases[k], source=f"synthetic phantom, seed {self.seed}",
                        description=f"phantom {k.value}", acquisition_time_s=times[k],
                        frame_of_reference_uid=frame) for k in PHASES]
        return Study(phases=phases, patient_id=f"PHANTOM-{self.seed}",
                     description=f"synthetic liver CT phantom, seed {self.seed}")


# --------------------------------------------------------------------------------------------------
# Grid and small geometric helpers. Internally, coordinates are "local" mm: world minus grid centre.
# --------------------------------------------------------------------------------------------------
Box = tuple[slice, slice, slice]  # (k, j, i) slices


@dataclass(frozen=True)
class _Grid:
    shape: tuple[int, int, int]  # (Z, Y, X)
    spacing: tuple[float, float, float]  # (x, y, z)
    origin: tuple[float, float, float]

    @property
    def centre(self) -> np.ndarray:
        """World position (x, y, z) of the grid centre: local coordinates are relative to it."""
        z, y, x = self.shape
        return np.array(self.origin) + np.array(self.spacing) * (np.array([x, y, z]) - 1) / 2

    def axes(self, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Local mm coordinates x (1,1,nx), y (1,ny,1), z (nz,1,1) of a box, float32, for broadcasting."""
        out = []
        for axis, (sl, n, s) in enumerate(zip(box[::-1], self.shape[::-1], self.spacing)):
            c = ((np.arange(sl.start, sl.stop, dtype=np.float32) - (n - 1) / 2) * s).astype(np.float32)
            shape = [1, 1, 1]
            shape[2 - axis] = c.size
            out.append(c.reshape(shape))
        return out[0], out[1], out[2]

    def box(self, lo: np.ndarray, hi: np.ndarray) -> Box | None:
        """Index box covering local mm corners lo..hi (x, y, z); None when it misses the grid."""
        slices = []
        for a in (2, 1, 0):
            n, s = self.shape[2 - a], self.spacing[a]
            i0 = max(int(math.floor(lo[a] / s + (n - 1) / 2)), 0)
            i1 = min(int(math.ceil(hi[a] / s + (n - 1) / 2)) + 1, n)
            if i1 <= i0:
                return None
            slices.append(slice(i0, i1))
        return slices[0], slices[1], slices[2]

    @property
    def full(self) -> Box:
        return slice(0, self.shape[0]), slice(0, self.shape[1]), slice(0, self.shape[2])

    def volume(self, array: np.ndarray, name: str) -> Volume:
        return Volume(array, self.spacing, self.origin, np.eye(3), name)


def _ellipsoid_sd(x, y, z, centre, semi, rot: np.ndarray | None = None) -> np.ndarray:
    """Approximate signed distance (mm) to an ellipsoid; a semi-axis of inf makes an elliptic cylinder.

    First-order f/|grad f| of f = q^2 - 1: exact on the surface, which is all the soft edge needs.
    """
    p = [x - float(centre[0]), y - float(centre[1]), z - float(centre[2])]
    if rot is not None:
        p = [sum(float(rot[r, a]) * p[r] for r in range(3)) for a in range(3)]
    q2 = 0.0
    g2 = 0.0
    for pa, sa in zip(p, semi):
        if np.ndim(sa) == 0:
            sa = float(sa)  # a numpy scalar would promote float32 voxels to float64
            if math.isinf(sa):
                continue
        q2 = q2 + (pa / sa) ** 2
        g2 = g2 + (pa / sa**2) ** 2
    return (q2 - 1.0) / (2.0 * np.sqrt(np.maximum(g2, 1e-12)))


def _rotation_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _tube_sd(x, y, z, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    """Signed distance (mm) to a tapered tube (capsule) from a (radius ra) to b (radius rb)."""
    d = b - a
    dd = float(d @ d)
    px, py, pz = x - float(a[0]), y - float(a[1]), z - float(a[2])
    t = np.clip((px * float(d[0]) + py * float(d[1]) + pz * float(d[2])) * (1.0 / dd), 0.0, 1.0)
    dist = np.sqrt((px - t * float(d[0])) ** 2 + (py - t * float(d[1])) ** 2 + (pz - t * float(d[2])) ** 2)
    return dist - (ra + t * (rb - ra))


# --------------------------------------------------------------------------------------------------
# Drawing: four phase images blended structure by structure, each within its own bounding box.
# --------------------------------------------------------------------------------------------------
class _Canvas:
    """The four phase images being drawn (reference frame) and the voxels later organs take from the liver."""

    def __init__(self, base: np.ndarray) -> None:
        self.images = [base.copy() for _ in PHASES]
        self.not_liver = np.zeros(base.shape, dtype=bool)

    def paint(self, box: Box, m: np.ndarray, values, claims: bool = False) -> None:
        """Blend per-phase values (scalars or arrays on the box) in with soft membership m."""
        for img, v in zip(self.images, values):
            sub = img[box]
            sub += m * (v - sub)
        if claims:
            self.not_liver[box] |= m >= 0.5


@dataclass(frozen=True)
class _Anatomy:
    """The per-seed anatomy, in local mm (patient size scales with the in-plane field of view H)."""

    h: float
    body_semi: tuple[float, float]
    body_cy: float
    fat_mm: float
    muscle_mm: float
    liver_hu: tuple[float, float, float, float]
    right_lobe: tuple[np.ndarray, np.ndarray, np.ndarray]  # centre, semi-axes, rotation
    left_lobe: tuple[np.ndarray, np.ndarray, np.ndarray]
    liver_field: _Field
    texture_field: _Field
    cavity_field: _Field

    def cavity_sd(self, x, y, z, inset: float = 0.0):
        a, b = self.body_semi
        t = self.fat_mm + self.muscle_mm + inset
        return _ellipsoid_sd(x, y, z, (0.0, self.body_cy, 0.0), (a - t, b - t, math.inf))

    def liver_level(self, x, y, z):
        """Negative inside the liver: a soft union of two ellipsoidal lobes with a smooth random bump."""
        (cr, sr, rr), (cl, sl, rl) = self.right_lobe, self.left_lobe
        fr = _ellipsoid_sd(x, y, z, cr, sr, rr) * (1.0 / float(sr.min()))
        fl = _ellipsoid_sd(x, y, z, cl, sl, rl) * (1.0 / float(sl.min()))
        k = 0.12
        m = np.minimum(fr, fl)
        union = m - k * np.log(np.exp((m - fr) / k) + np.exp((m - fl) / k))
        return union + 0.07 * self.liver_field(x, y, z)

    def liver_point(self, u: float, v: float, w: float) -> np.ndarray:
        """A point given in right-lobe units (fractions of its semi-axes, in its own axes)."""
        c, s, r = self.right_lobe
        return c + r @ (np.array([u, v, w]) * s)


def _draw_anatomy(rng: np.random.Generator, h: float) -> _Anatomy:
    """Per-seed anatomy: positions and sizes are fractions of H, jittered a little."""
    def j(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    liver_hu = tuple(v + j(-4, 4) for v in _LIVER_HU)
    right = (np.array([j(-0.41, -0.35), j(-0.01, 0.05), j(0.08, 0.16)]) * h,
             np.array([j(0.41, 0.47), j(0.46, 0.53), j(0.46, 0.54)]) * h, _rotation_z(j(-0.15, 0.15)))
    left = (np.array([j(0.04, 0.12), j(-0.33, -0.27), j(0.2, 0.3)]) * h,
            np.array([j(0.28, 0.36), j(0.17, 0.23), j(0.26, 0.34)]) * h, _rotation_z(j(-0.3, 0.1)))
    return _Anatomy(
        h=h, body_semi=(j(0.89, 0.94) * h, j(0.68, 0.72) * h), body_cy=0.03 * h,
        fat_mm=j(0.06, 0.09) * h, muscle_mm=0.05 * h, liver_hu=liver_hu,  # type: ignore[arg-type]
        right_lobe=right, left_lobe=left,
        liver_field=_Field.draw(rng, (0.5 * h, 1.0 * h)),
        texture_field=_Field.draw(rng, (20.0, 45.0)),
        cavity_field=_Field.draw(rng, (18.0, 40.0), n_waves=10),
    )


def _paint_static(grid: _Grid, an: _Anatomy) -> np.ndarray:
    """Air, subcutaneous fat, muscle wall, abdominal cavity (a fat / bowel mix) and lung bases."""
    x, y, z = grid.axes(grid.full)
    img = np.full(grid.shape, _AIR_HU, dtype=np.float32)
    a, b = an.body_semi
    wobble = (1.0 + 0.02 * np.sin(z * (2 * math.pi / (1.7 * an.h)))).astype(np.float32)
    body_sd = _ellipsoid_sd(x, y, z, (0.0, an.body_cy, 0.0), (a * wobble, b * wobble, math.inf))
    img += _membership(body_sd, 1.0) * (_FAT_HU - img)
    t = an.fat_mm
    wall_sd = _ellipsoid_sd(x, y, z, (0.0, an.body_cy, 0.0), ((a - t) * wobble, (b - t) * wobble, math.inf))
    img += _membership(wall_sd, 1.0) * (_MUSCLE_HU - img)
    t += an.muscle_mm
    cav_sd = _ellipsoid_sd(x, y, z, (0.0, an.body_cy, 0.0), ((a - t) * wobble, (b - t) * wobble, math.inf))
    m_cav = _membership(cav_sd, 1.0)
    mix = 1.0 / (1.0 + np.exp(-an.cavity_field(x, y, z) * 2.5))
    img += m_cav * (-95.0 + 130.0 * mix - img)
    h = an.h
    for side in (-1.0, 1.0):
        centre = (side * 0.42 * h, 0.15 * h, 0.97 * h)
        box = grid.box(np.array(centre) - [0.4 * h, 0.5 * h, 0.5 * h], np.array(centre) + [0.4 * h, 0.5 * h, 0.5 * h])
        if box is None:
            continue
        bx, by, bz = grid.axes(box)
        m = _membership(_ellipsoid_sd(bx, by, bz, centre, (0.36 * h, 0.45 * h, 0.48 * h)), 1.5) * m_cav[box]
        img[box] += m * (_LUNG_HU - img[box])
    return img


def _paint_liver(grid: _Grid, canvas: _Canvas, an: _Anatomy) -> tuple[Box, np.ndarray]:
    """Liver parenchyma with a faint texture; returns its box and soft membership there."""
    h = an.h
    box = grid.box(np.array([-0.95 * h, -0.8 * h, -0.6 * h]), np.array([0.6 * h, 0.75 * h, 0.95 * h]))
    assert box is not None  # the box contains the grid centre
    x, y, z = grid.axes(box)
    level = an.liver_level(x, y, z)
    m = _membership(level * (0.45 * h), 1.5) * _membership(an.cavity_sd(x, y, z, inset=0.5), 1.0)
    tex = an.texture_field(x, y, z)
    canvas.paint(box, m, [hu + 3.0 * tex for hu in an.liver_hu])
    return box, m


def _vessel_segments(an: _Anatomy, rng: np.random.Generator) -> tuple[list, list]:
    """Portal and hepatic venous trees as (a, b, ra, rb) tube segments, with random small branches."""
    p = an.liver_point
    hilum = p(0.55, 0.05, -0.25)
    split = p(0.05, 0.05, -0.1)
    cl = an.left_lobe[0]
    portal = [(p(1.0, 0.35, -0.6), hilum, 5.5, 5.0), (hilum, split, 4.5, 4.0),
              (split, p(-0.45, -0.45, 0.1), 3.5, 2.0), (split, p(-0.5, 0.45, -0.2), 3.5, 2.0),
              (hilum, cl + 0.3 * (hilum - cl), 4.0, 3.0), (cl + 0.3 * (hilum - cl), cl - [0.15 * an.h, 0, 0], 3.0, 2.0)]
    c, s, _ = an.right_lobe
    confluence = np.array([-0.12 * an.h, 0.15 * an.h, float(c[2] + 0.62 * s[2])])
    hepatic = [(confluence, p(-0.6, 0.15, -0.05), 5.0, 2.0), (confluence, p(0.0, -0.6, -0.15), 4.5, 2.0),
               (confluence, cl + np.array([0.0, 0.0, -0.1 * an.h]), 4.0, 2.0)]
    out = []
    for tree in (portal, hepatic):
        branches = list(tree)
        for a, b, ra, rb in tree[1:]:
            for frac in (0.6, 1.0):
                start = a + frac * (b - a)
                for _ in range(2):
                    d = (b - a) / np.linalg.norm(b - a) + rng.normal(0, 0.9, 3)
                    end = start + d / np.linalg.norm(d) * rng.uniform(0.15, 0.3) * an.h
                    level = an.liver_level(*(np.array([v], np.float32) for v in end))
                    if float(level[0]) < -0.12:
                        branches.append((start, end, max(rb * 0.8, 1.6), 1.2))
        out.append(branches)
    return out[0], out[1]


def _paint_tubes(grid: _Grid, canvas: _Canvas, segments, hu, inside: np.ndarray | None) -> np.ndarray:
    """Paint tube segments (clipped to the liver when `inside` is given); returns their hard mask."""
    mask = np.zeros(grid.shape, dtype=bool)
    for a, b, ra, rb in segments:
        r = max(ra, rb) + 2.0
        box = grid.box(np.minimum(a, b) - r, np.maximum(a, b) + r)
        if box is None:
            continue
        x, y, z = grid.axes(box)
        m = _membership(_tube_sd(x, y, z, a, b, ra, rb), 1.0)
        if inside is not None:
            m = m * inside[box]
        canvas.paint(box, m, hu)
        mask[box] |= m >= 0.5
    return mask


def _paint_organs(grid: _Grid, canvas: _Canvas, an: _Anatomy) -> None:
    """IVC, aorta, spine, paraspinal muscles, kidneys, spleen: all drawn over (and cut from) the liver."""
    h = an.h
    zlo, zhi = -10.0 * h, 10.0 * h

    def cylinder(cx, cy, semi, edge=1.0):
        box = grid.box(np.array([cx - semi[0] - 3, cy - semi[1] - 3, zlo]), np.array([cx + semi[0] + 3, cy + semi[1] + 3, zhi]))
        x, y, _ = grid.axes(box)
        return box, _membership(_ellipsoid_sd(x, y, 0.0, (cx, cy, 0.0), (semi[0], semi[1], math.inf)), edge)

    box, m = cylinder(-0.12 * h, 0.17 * h, (0.09 * h, 0.07 * h))
    canvas.paint(box, m, _IVC_HU, claims=True)
    box, m = cylinder(0.07 * h, 0.19 * h, (0.085 * h, 0.085 * h))
    canvas.paint(box, m, _AORTA_HU, claims=True)
    for side in (-1.0, 1.0):
        box, m = cylinder(side * 0.13 * h, 0.55 * h, (0.11 * h, 0.10 * h), edge=2.0)
        canvas.paint(box, m, (_MUSCLE_HU + 5,) * 4, claims=True)
    # Vertebral body: cancellous bone in a cortical shell, discs every ~0.3 H along z.
    r = 0.12 * h
    box = grid.box(np.array([-r - 3, 0.40 * h - r - 3, zlo]), np.array([r + 3, 0.40 * h + r + 3, zhi]))
    x, y, z = grid.axes(box)
    sd = _ellipsoid_sd(x, y, 0.0, (0.0, 0.40 * h, 0.0), (r, r * 0.95, math.inf))
    shell = _smoothstep((sd + 2.0) / 1.0)
    phase_z = np.mod(z / (0.3 * h), 1.0)
    disc = _smoothstep((0.07 - np.abs(phase_z - 0.5)) / 0.03)
    bone = _BONE_CANCELLOUS_HU + (_BONE_CORTEX_HU - _BONE_CANCELLOUS_HU) * shell
    value = bone + disc * (_DISC_HU - bone)
    canvas.paint(box, _membership(sd, 1.0), (value,) * 4, claims=True)
    box, m = cylinder(0.0, 0.58 * h, (0.08 * h, 0.075 * h))  # neural arch: a bony ring round the canal
    canvas.paint(box, m, (_BONE_CORTEX_HU - 150,) * 4, claims=True)
    box, m = cylinder(0.0, 0.58 * h, (0.055 * h, 0.05 * h))
    canvas.paint(box, m, (_CSF_HU,) * 4, claims=True)
    box, m = cylinder(0.0, 0.68 * h, (0.025 * h, 0.06 * h))  # spinous process
    canvas.paint(box, m, (_BONE_CORTEX_HU - 100,) * 4, claims=True)
    # Kidneys: cortex and medulla (corticomedullary contrast in the arterial phase).
    for side, zc in ((-1.0, -0.42 * h), (1.0, -0.30 * h)):
        centre = (side * 0.40 * h, 0.36 * h, zc)
        semi = (0.15 * h, 0.19 * h, 0.32 * h)
        lo, hi = np.array(centre) - np.array(semi) - 3, np.array(centre) + np.array(semi) + 3
        box = grid.box(lo, hi)
        if box is None:
            continue
        x, y, z = grid.axes(box)
        rot = _rotation_z(side * 0.5)
        m = _membership(_ellipsoid_sd(x, y, z, centre, semi, rot), 1.0)
        medulla = _membership(_ellipsoid_sd(x, y, z, centre, tuple(0.6 * s for s in semi), rot), 2.0)
        hu = [c + medulla * (md - c) for c, md in zip(_KIDNEY_CORTEX_HU, _KIDNEY_MEDULLA_HU)]
        canvas.paint(box, m, hu, claims=True)
    centre, semi = (0.56 * h, 0.22 * h, 0.2 * h), (0.13 * h, 0.3 * h, 0.3 * h)
    box = grid.box(np.array(centre) - 0.35 * h, np.array(centre) + 0.35 * h)
    if box is not None:
        x, y, z = grid.axes(box)
        m = _membership(_ellipsoid_sd(x, y, z, centre, semi, _rotation_z(-0.6)), 1.0)
        m = m * _membership(an.cavity_sd(x, y, z, inset=0.5), 1.0)
        canvas.paint(box, m, _SPLEEN_HU, claims=True)


# --------------------------------------------------------------------------------------------------
# Lesions
# --------------------------------------------------------------------------------------------------
def _lesion_classes(n: int, rng: np.random.Generator) -> list[str]:
    """Classes in a seeded order that cycles through all four, so every class appears when n >= 4."""
    order = [LESION_CLASSES[i] for i in rng.permutation(len(LESION_CLASSES))]
    return [order[i % len(order)] for i in range(n)]


def _place_lesions(grid: _Grid, liver: np.ndarray, n: int, rng: np.random.Generator,
                   v2: bool = False) -> list[_LesionShape]:
    """Non-overlapping lesions fully inside the liver: largest first, shrunk when they do not fit."""
    if n == 0:
        return []
    kk, jj, ii = np.nonzero(liver)
    if kk.size == 0:
        raise ValueError("the phantom has no liver on this grid: use a field of view of at least 150 mm")
    lo = np.array([kk.min(), jj.min(), ii.min()])
    hi = np.array([kk.max(), jj.max(), ii.max()]) + 1
    sub = np.pad(liver[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], 1)  # grid edges count as outside
    sx, sy, sz = grid.spacing
    edt = ndimage.distance_transform_edt(sub, sampling=(sz, sy, sx))[1:-1, 1:-1, 1:-1]
    ck, cj, ci = np.nonzero(edt > 0)
    depth = edt[ck, cj, ci]
    pos = np.stack([ci + lo[2], cj + lo[1], ck + lo[0]], axis=1).astype(float)
    pos = (pos - (np.array(grid.shape[::-1]) - 1) / 2) * np.array(grid.spacing)  # local mm (x, y, z)
    classes = _lesion_classes(n, rng)
    if v2:  # lesion model v2: one log-uniform 5-100 mm range for every class, more lobulated
        diameters = [float(np.exp(rng.uniform(*np.log(V2_DIAMETER_RANGE_MM)))) for _ in classes]
        lobes = rng.uniform(1.0, 2.5, n)
    else:
        diameters = [float(np.exp(rng.uniform(*np.log(_DIAMETER_RANGE_MM[c])))) for c in classes]
        lobes = np.ones(n)
    # the bound is a sphere's diameter (until 2026-12-02 v2 passed half of it, capping lesions near 55 mm)
    max_extent = V2_DIAMETER_RANGE_MM[1] * 1.15 if v2 else _MAX_EXTENT_MM
    placed: dict[int, _LesionShape] = {}
    for idx in np.argsort(diameters)[::-1]:
        cls, diameter = classes[idx], diameters[idx]
        while True:
            shape = _draw_lesion_shape(cls, diameter, np.zeros(3), rng, max_extent_mm=max_extent)
            if v2:
                shape = _LesionShape(cls, shape.centre, shape.radii, shape.rot, shape.lobes,
                                     shape.lobulation * float(lobes[idx]))
            ok = depth >= shape.extent + _LESION_GAP_MM + 0.5 * max(grid.spacing)
            for other in placed.values():
                ok &= np.linalg.norm(pos - other.centre, axis=1) >= shape.extent + other.extent + _LESION_GAP_MM
            cand = np.flatnonzero(ok)
            if cand.size:
                centre = pos[rng.choice(cand)] + rng.uniform(-0.25, 0.25, 3) * np.array(grid.spacing)
                placed[int(idx)] = _LesionShape(cls, centre, shape.radii, shape.rot, shape.lobes, shape.lobulation)
                break
            if diameter <= _MIN_DIAMETER_MM:
                raise ValueError(f"cannot fit {n} non-overlapping lesions into the phantom's liver on a "
                                 f"{grid.shape} grid: ask for fewer lesions or a larger field of view")
            diameter = max(diameter * 0.85, _MIN_DIAMETER_MM)
    return [placed[i] for i in range(n)]  # ids follow the class cycle, not the size order


def _paint_lesions(grid: _Grid, canvas: _Canvas, shapes: list[_LesionShape], liver_hu, rng) -> np.ndarray:
    """Paint every lesion in its own box; returns the int16 label volume (lesion id per voxel)."""
    labels = np.zeros(grid.shape, dtype=np.int16)
    for lesion_id, shape in enumerate(shapes, start=1):
        r = shape.extent + 3.0
        box = grid.box(shape.centre - r, shape.centre + r)
        x, y, z = grid.axes(box)
        d, n = shape.normalized(x, y, z)
        r_mean = float(np.prod(shape.radii) ** (1 / 3))
        m = _membership((d - 1.0) * r_mean, _EDGE_MM[shape.lesion_class])
        canvas.paint(box, m, _lesion_hu(shape, d, n, x, y, z, liver_hu, rng))
        labels[box][d <= 1.0] = lesion_id
    return labels


# --------------------------------------------------------------------------------------------------
# Ground truth measurements
# --------------------------------------------------------------------------------------------------
Point = tuple[float, float, float]


def recist_from_mask(mask2d: np.ndarray, spacing_xy: tuple[float, float], origin_xyz: Point
                     ) -> tuple[tuple[Point, Point], tuple[Point, Point]]:
    """RECIST long and short axes (LPS mm endpoints) of a 2D axial mask whose pixel [0, 0] lies at origin_xyz.

    Long axis: the farthest pair of boundary pixel centres. Short axis: mask pixels are binned along the
    long axis in strips half a pixel wide, and the strip with the widest perpendicular extent gives two
    endpoints on one exact perpendicular, so the axes are perpendicular, also on non-square pixels.
    """
    sx, sy = spacing_xy
    mask2d = np.pad(np.asarray(mask2d, dtype=bool), 1)  # the erosion must see outside around the mask
    jj, ii = np.nonzero(mask2d)
    if jj.size == 0:
        raise ValueError("cannot measure an empty mask")
    pts = np.stack([(ii - 1) * sx, (jj - 1) * sy], axis=1)
    ej, ei = np.nonzero(mask2d & ~ndimage.binary_erosion(mask2d))
    edge = np.stack([(ei - 1) * sx, (ej - 1) * sy], axis=1)
    d2 = ((edge[:, None, :] - edge[None, :, :]) ** 2).sum(-1)
    a, b = np.unravel_index(int(np.argmax(d2)), d2.shape)
    p0, p1 = edge[a], edge[b]
    length = math.sqrt(float(d2[a, b]))
    if length == 0.0:
        q0 = q1 = p0
    else:
        e = (p1 - p0) / length
        nrm = np.array([-e[1], e[0]])
        s, t = (pts - p0) @ e, (pts - p0) @ nrm
        width = 0.5 * min(sx, sy)
        uniq, inv = np.unique(np.floor(s / width).astype(int), return_inverse=True)
        tmin, tmax = np.full(uniq.size, np.inf), np.full(uniq.size, -np.inf)
        np.minimum.at(tmin, inv, t)
        np.maximum.at(tmax, inv, t)
        best = int(np.argmax(tmax - tmin))
        foot = p0 + (uniq[best] + 0.5) * width * e
        q0, q1 = foot + tmin[best] * nrm, foot + tmax[best] * nrm

    def world(p2: np.ndarray) -> Point:
        return (round(float(origin_xyz[0]) + float(p2[0]), 3), round(float(origin_xyz[1]) + float(p2[1]), 3),
                round(float(origin_xyz[2]), 3))

    return (world(p0), world(p1)), (world(q0), world(q1))


def measure_lesion(labels: np.ndarray, lesion_id: int, box: Box, lesion_class: str, centre_mm: np.ndarray,
                   radii_mm: np.ndarray, origin: Point, spacing: tuple[float, float, float]) -> PhantomLesion:
    """Box, key slice (largest section), RECIST and volume diameter of the lesion ``lesion_id`` of an
    identity-direction label volume, ``box`` being its find_objects slices; ``centre_mm`` in world mm."""
    o, sp = np.asarray(origin, float), np.asarray(spacing, float)

    def r3(values) -> tuple:
        return tuple(round(float(v), 3) for v in values)

    sub = labels[box] == lesion_id
    k_local = int(np.argmax(sub.sum(axis=(1, 2))))
    k = box[0].start + k_local
    ijk0 = np.array([box[2].start, box[1].start, box[0].start])
    ijk1 = np.array([box[2].stop - 1, box[1].stop - 1, box[0].stop - 1])
    w0, w1 = o + ijk0 * sp, o + ijk1 * sp
    long_axis, short_axis = recist_from_mask(sub[k_local], (sp[0], sp[1]), (w0[0], w0[1], o[2] + k * sp[2]))
    return PhantomLesion(
        lesion_id=lesion_id, lesion_class=lesion_class, center_mm=r3(centre_mm), radii_mm=r3(radii_mm),
        box_ijk=tuple(int(v) for v in (*ijk0, *ijk1)),  # type: ignore[arg-type]
        box_mm=r3((*w0, *w1)), key_slice=k, long_axis_mm=long_axis, short_axis_mm=short_axis,
        long_axis_length_mm=round(math.dist(*long_axis), 3), short_axis_length_mm=round(math.dist(*short_axis), 3),
        diameter_mm=round((6.0 * float(sub.sum()) * float(np.prod(sp)) / math.pi) ** (1 / 3), 3))


def _measure(grid: _Grid, labels: np.ndarray, shapes: list[_LesionShape]) -> list[PhantomLesion]:
    """Boxes, key slice, RECIST and volume diameter of every lesion, from its voxel mask."""
    out = []
    for lesion_id, (shape, box) in enumerate(zip(shapes, ndimage.find_objects(labels)), start=1):
        if box is None:
            raise ValueError(f"lesion {lesion_id} has no voxels: the grid is too coarse for a "
                             f"{2 * shape.radii.min():.1f} mm lesion")
        out.append(measure_lesion(labels, lesion_id, box, shape.lesion_class, shape.centre + grid.centre,
                                  shape.radii, grid.origin, grid.spacing))
    return out


# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------
def _breathing_shifts(rng: np.random.Generator, spacing: tuple[float, float, float]
                      ) -> dict[PhaseKind, tuple[float, float, float]]:
    """A few mm per phase, mostly cranio-caudal (z) and antero-posterior (y); the reference stays put.

    In-plane shifts are whole pixels so that every phase stays as sharp in-plane as the reference
    (a sub-pixel shift would blur it, a tell-tale a detector could learn); z moves by any amount.
    """
    sx, sy, _ = spacing
    shifts = {}
    for kind in PHASES:
        if kind is REFERENCE_PHASE:
            shifts[kind] = (0.0, 0.0, 0.0)
            continue
        dz = float(rng.uniform(2.0, 7.0)) * (1 if rng.random() < 0.5 else -1)
        dy = round(float(rng.uniform(-3.0, 3.0)) / sy) * sy
        dx = round(float(rng.uniform(-1.0, 1.0)) / sx) * sx
        shifts[kind] = (round(dx, 6) + 0.0, round(dy, 6) + 0.0, round(dz, 3))
    return shifts


def generate_ct_study(seed: int, n_lesions: int = 6, shape: tuple[int, int, int] = (64, 256, 256),
                      spacing_mm: tuple[float, float, float] = (0.8, 0.8, 2.5),
                      noise_hu: float = 12.0, lesion_model: str = "v1") -> PhantomStudy:
    """A four-phase liver CT with `n_lesions` lesions; the same seed always gives the same voxels.

    lesion_model "v1" (default: the shipped detector's training data and the demo) draws class-specific
    sizes of 5-45 mm; "v2" draws 5-100 mm for every class (shrunk to fit), more lobulated shapes, and one
    draw of scanner variation for the study (noise, kernel, slice thickness, contrast timing), as lesion
    insertion into real CT does.

    shape is (Z, Y, X) like the arrays; spacing_mm is (x, y, z). The patient is scaled to the in-plane
    field of view (lesion sizes are in absolute mm), so keep it at least ~150 mm wide.
    """
    if n_lesions < 0:
        raise ValueError(f"n_lesions must be >= 0, got {n_lesions}")
    shape = tuple(int(v) for v in shape)  # type: ignore[assignment]
    spacing_mm = tuple(float(v) for v in spacing_mm)  # type: ignore[assignment]
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"shape must be three sizes (Z, Y, X) of at least 8 voxels, got {shape}")
    if len(spacing_mm) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing_mm):
        raise ValueError(f"spacing must be three positive sizes in mm (x, y, z), got {spacing_mm}")
    if noise_hu < 0:
        raise ValueError(f"noise_hu must be >= 0, got {noise_hu}")
    if lesion_model not in LESION_MODELS:
        raise ValueError(f"lesion_model must be one of {', '.join(LESION_MODELS)}, got {lesion_model!r}")
    nz, ny, nx = shape
    sx, sy, sz = spacing_mm
    origin = (-sx * nx / 2, -sy * ny / 2 - 30.0, -sz * nz - 120.0)  # like a scanner: table-centred x, y
    grid = _Grid(shape, spacing_mm, origin)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)

    h = min(nx * sx, ny * sy) / 2
    anatomy = _draw_anatomy(rng, h)
    canvas = _Canvas(_paint_static(grid, anatomy))
    liver_box, m_liver = _paint_liver(grid, canvas, anatomy)
    liver_drawn = np.zeros(shape, dtype=bool)
    liver_drawn[liver_box] = m_liver >= 0.5
    portal, hepatic = _vessel_segments(anatomy, rng)
    vessels = _paint_tubes(grid, canvas, portal[:1], _PORTAL_HU, None)
    vessels |= _paint_tubes(grid, canvas, portal[1:], _PORTAL_HU, liver_drawn)
    vessels |= _paint_tubes(grid, canvas, hepatic, _HEPATIC_VEIN_HU, liver_drawn)
    _paint_organs(grid, canvas, anatomy)
    liver = liver_drawn & ~canvas.not_liver
    v2 = lesion_model == "v2"
    shapes = _place_lesions(grid, liver, n_lesions, rng, v2=v2)
    labels = _paint_lesions(grid, canvas, shapes, anatomy.liver_hu, rng)
    lesions = _measure(grid, labels, shapes)
    vessels &= liver & (labels == 0)

    shifts = _breathing_shifts(rng, spacing_mm)
    scanner, scanner_rng, liver_soft = None, None, None
    if v2:  # its own random stream: the anatomy and lesions above stay those of the seed
        scanner_rng = np.random.default_rng([seed, 3])
        scanner = replace(ScannerAugmentation.draw(scanner_rng), scale=1.0)  # the phantom scales to its field of view
        liver_soft = ndimage.gaussian_filter((liver | (labels > 0)).astype(np.float32), sigma=(0.5, 2.0, 2.0))
    phases: dict[PhaseKind, Volume] = {}
    for kind, img in zip(PHASES, canvas.images):
        dx, dy, dz = shifts[kind]
        if any(shifts[kind]):
            img = ndimage.shift(img, (dz / sz, dy / sy, dx / sx), order=1, mode="nearest")
        noise = rng.standard_normal(shape, dtype=np.float32)
        if noise_hu > 0:
            noise = ndimage.gaussian_filter(noise, sigma=(0.0, 0.6, 0.6))  # CT noise is correlated in-plane
            img += noise * (noise_hu / float(noise.std()))
        if scanner is not None:
            soft = liver_soft if not any(shifts[kind]) else ndimage.shift(
                liver_soft, (dz / sz, dy / sy, dx / sx), order=1, mode="nearest")
            offset = 0.0 if kind is PhaseKind.NON_CONTRAST else 1.0  # contrast timing moves enhanced phases only
            img = apply_scanner_variation(img, soft * offset, spacing_mm, scanner, scanner_rng)
        arr = np.clip(np.rint(img), -1024, 3071).astype(np.int16)
        phases[kind] = grid.volume(arr, kind.value)
    return PhantomStudy(
        seed=int(seed), phases=phases,
        liver_mask=grid.volume(liver.astype(np.uint8), "liver"),
        lesion_labels=grid.volume(labels, "lesions"),
        vessel_mask=grid.volume(vessels.astype(np.uint8), "vessels"),
        lesions=lesions, shifts_mm=shifts, noise_hu=float(noise_hu), lesion_model=lesion_model, scanner=scanner,
    )


# --------------------------------------------------------------------------------------------------
# Files: one NIfTI per phase, masks, lesions.csv, study.json (written last: its presence = complete)
# --------------------------------------------------------------------------------------------------
LESION_COLUMNS: tuple[str, ...] = (
    "lesion_id", "lesion_class", "phase_visible",
    "center_x_mm", "center_y_mm", "center_z_mm",
    "box_x0", "box_y0", "box_z0", "box_x1", "box_y1", "box_z1",
    "key_slice",
    "long_x0_mm", "long_y0_mm", "long_z0_mm", "long_x1_mm", "long_y1_mm", "long_z1_mm",
    "short_x0_mm", "short_y0_mm", "short_z0_mm", "short_x1_mm", "short_y1_mm", "short_z1_mm",
    "long_axis_mm", "short_axis_mm", "diameter_mm",
    "radius_a_mm", "radius_b_mm", "radius_c_mm",
    "box_x0_mm", "box_y0_mm", "box_z0_mm", "box_x1_mm", "box_y1_mm", "box_z1_mm",
)


def _write_volume(volume: Volume, path: Path) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(volume.array)
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(float(v) for v in volume.direction.flatten()))
    sitk.WriteImage(image, str(path), useCompression=True)


def _lesion_row(les: PhantomLesion) -> list:
    (l0, l1), (s0, s1) = les.long_axis_mm, les.short_axis_mm
    return [les.lesion_id, les.lesion_class, "all", *les.center_mm, *les.box_ijk, les.key_slice,
            *l0, *l1, *s0, *s1, les.long_axis_length_mm, les.short_axis_length_mm, les.diameter_mm,
            *les.radii_mm, *les.box_mm]


def write_lesion_table(lesions: list[PhantomLesion], path: Path) -> None:
    """lesions.csv: one row per lesion, reference-frame mm and voxel indices (inclusive boxes)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(LESION_COLUMNS)
        for les in lesions:
            writer.writerow([repr(v) if isinstance(v, float) else v for v in _lesion_row(les)])


def write_phantom_study(study: PhantomStudy, out_dir: Path | str) -> Path:
    """Write the phases, masks, lesion table and study.json into out_dir (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for kind in PHASES:
        _write_volume(study.phases[kind], out / PHASE_FILES[kind])
    _write_volume(study.liver_mask, out / LIVER_MASK_FILE)
    _write_volume(study.lesion_labels, out / LESION_LABELS_FILE)
    write_lesion_table(study.lesions, out / LESION_TABLE_FILE)
    ref = study.liver_mask
    meta = {
        "format": "liverview-ct-phantom",
        "version": PHANTOM_VERSION,
        "seed": study.seed,
        "shape_zyx": list(study.shape),
        "spacing_mm_xyz": list(ref.spacing),
        "origin_mm_xyz": list(ref.origin),
        "direction": ref.direction.flatten().tolist(),
        "noise_hu": study.noise_hu,
        "reference_phase": study.reference_phase.value,
        "shift_meaning": "a point p of the reference phase lies at p + true_shift_mm in this phase (LPS mm)",
        "phases": {k.value: {"file": PHASE_FILES[k], "true_shift_mm": list(study.shifts_mm[k])} for k in PHASES},
        "liver_mask": LIVER_MASK_FILE,
        "lesion_labels": LESION_LABELS_FILE,
        "lesion_table": LESION_TABLE_FILE,
        "lesion_count": len(study.lesions),
        "lesion_model": study.lesion_model,
        **({"scanner_variation": asdict(study.scanner)} if study.scanner is not None else {}),
    }
    tmp = out / (STUDY_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / STUDY_FILE)
    return out


def read_lesion_table(path: Path | str) -> list[PhantomLesion]:
    """Read lesions.csv back; a missing column or a malformed row raises ValueError naming the line."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in LESION_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}:1: lesion table lacks column(s) {', '.join(missing)}")
        lesions = []
        for row in reader:
            line = reader.line_num
            try:
                lesions.append(_parse_row(row))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{line}: malformed lesion row: {exc}") from None
    return lesions


def _parse_row(row: dict) -> PhantomLesion:
    if None in row or any(row[c] is None for c in LESION_COLUMNS):
        raise ValueError(f"expected {len(LESION_COLUMNS)} fields")

    def f(*names):
        return tuple(float(row[n]) for n in names)

    def i(*names):
        return tuple(int(row[n]) for n in names)

    cls = row["lesion_class"].strip()
    if cls not in LESION_CLASSES:
        raise ValueError(f"unknown lesion_class '{cls}' (expected one of {', '.join(LESION_CLASSES)})")
    box = i("box_x0", "box_y0", "box_z0", "box_x1", "box_y1", "box_z1")
    if any(a > b for a, b in zip(box[:3], box[3:])) or min(box) < 0:
        raise ValueError(f"box {box} is not x0<=x1, y0<=y1, z0<=z1 with non-negative indices")
    values = f("center_x_mm", "center_y_mm", "center_z_mm", "long_axis_mm", "short_axis_mm", "diameter_mm")
    if not all(math.isfinite(v) for v in values):
        raise ValueError("non-finite measurement")
    return PhantomLesion(
        lesion_id=i("lesion_id")[0], lesion_class=cls,
        center_mm=f("center_x_mm", "center_y_mm", "center_z_mm"),
        radii_mm=f("radius_a_mm", "radius_b_mm", "radius_c_mm"),
        box_ijk=box,  # type: ignore[arg-type]
        box_mm=f("box_x0_mm", "box_y0_mm", "box_z0_mm", "box_x1_mm", "box_y1_mm", "box_z1_mm"),
        key_slice=i("key_slice")[0],
        long_axis_mm=(f("long_x0_mm", "long_y0_mm", "long_z0_mm"), f("long_x1_mm", "long_y1_mm", "long_z1_mm")),
        short_axis_mm=(f("short_x0_mm", "short_y0_mm", "short_z0_mm"), f("short_x1_mm", "short_y1_mm", "short_z1_mm")),
        long_axis_length_mm=f("long_axis_mm")[0], short_axis_length_mm=f("short_axis_mm")[0],
        diameter_mm=f("diameter_mm")[0],
    )
