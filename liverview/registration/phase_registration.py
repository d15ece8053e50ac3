"""Align every contrast phase of a study to its reference phase with SimpleITK.

Patients breathe and move between phases, so the same lesion sits a few millimetres apart in each.
We estimate a transform per phase (rigid, then optionally affine or B-spline) by maximising Mattes
mutual information, which copes with the contrast changing between phases, and resample each phase
onto the reference grid so linked panes show the same anatomy.

Transforms follow the ITK convention: they map a point of the reference (fixed) phase, in LPS mm, to
the same anatomy in the moving phase.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import SimpleITK as sitk

from liverview.core.study import Study
from liverview.core.volume import Volume

log = logging.getLogger(__name__)

Mode = Literal["rigid", "affine", "bspline"]
MODES: tuple[str, ...] = ("rigid", "affine", "bspline")

# Part of every cache key: bump it whenever a change here alters the transforms found.
CODE_VERSION = "phase_registration/1"

ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]


IDENTITY_USED = "identity transform used"  # ends every warning of a phase left unaligned


class RegistrationError(RuntimeError):
    """Registration could not run or did not produce a usable transform."""


class InvalidVolumeError(RegistrationError, ValueError):
    """A volume cannot be registered as it is (NaNs, unsupported geometry, ...)."""


class RegistrationCancelled(RegistrationError):
    """The caller's cancel() returned True; no result was produced."""


@dataclass(frozen=True)
class RegistrationSettings:
    """Optimiser knobs. The defaults suit abdominal CT phases a few mm and degrees apart."""

    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_mm: tuple[float, ...] = (4.0, 2.0, 0.0)
    sampling_fraction: float = 0.05  # of the voxels at each level...
    min_samples: int = 5_000  # ...but at least this many (small and single-slice images)...
    max_samples: int = 150_000  # ...and never more: keeps full-resolution CT levels fast
    histogram_bins: int = 50
    seed: int = 20240601
    rigid_iterations: int = 200
    rigid_learning_rate: float = 2.0  # largest first step, about mm (scales come from physical shift)
    affine_iterations: int = 100
    affine_learning_rate: float = 1.0
    bspline_grid_spacing_mm: float = 60.0
    bspline_iterations: int = 30

    def __post_init__(self) -> None:
        if len(self.shrink_factors) != len(self.smoothing_sigmas_mm) or not self.shrink_factors:
            raise ValueError("shrink_factors and smoothing_sigmas_mm need the same, non-zero, length")
        if not 0 < self.sampling_fraction <= 1:
            raise ValueError(f"sampling_fraction must be in (0, 1], got {self.sampling_fraction}")


@dataclass(eq=False)
class PhaseRegistration:
    """How one phase maps onto the reference phase, and that phase resampled onto the reference grid."""

    phase_index: int
    mode: str
    transform: sitk.Transform  # reference-phase point (LPS mm) -> same anatomy in this phase
    parameters: dict[str, tuple[float, ...]]  # optimised parameters per stage ("rigid", "affine", "bspline")
    final_metric: float  # Mattes MI of the last stage (more negative = better); NaN when not computed
    iterations: int  # optimiser iterations over all stages and levels; 0 when from cache
    elapsed_s: float
    resampled: Volume  # this phase on the reference grid (the reference's own Volume for the reference)
    from_cache: bool = False
    is_reference: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def identity_fallback(self) -> bool:
        """Registration could not run and left the phase unaligned (told by a warning, also when cached)."""
        return any(IDENTITY_USED in text for text in self.warnings)

    def to_moving(self, xyz: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Map reference-phase points (one, or an (N, 3) array, LPS mm) into this phase's space."""
        p = np.asarray(xyz, dtype=float)
        pts = p.reshape(-1, 3)
        out = np.array([self.transform.TransformPoint(tuple(map(float, q))) for q in pts])
        return out.reshape(p.shape)


# --- Volume <-> SimpleITK ----------------------------------------------------------------------
def volume_to_sitk(volume: Volume, dtype: type | None = None) -> sitk.Image:
    """A SimpleITK image with the volume's geometry (GetDirection is row-major, columns = axes)."""
    array = volume.array if dtype is None else volume.array.astype(dtype, copy=False)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction).reshape(9)))
    return image


def volume_from_sitk(image: sitk.Image, name: str = "") -> Volume:
    """The inverse of volume_to_sitk for 2D or 3D scalar images."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidVolumeError(f"'{name or 'image'}' has vector pixels; registration needs a scalar image")
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    if image.GetDimension() != 3:
        raise InvalidVolumeError(f"'{name or 'image'}' is {image.GetDimension()}D; only 2D or 3D is supported")
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    return Volume(sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(), direction, name)


# --- progress, cancel, observers -------------------------------------------------------------
class _Tracker:
    """Turns SimpleITK iteration events into monotonic progress and honours cancel requests."""

    def __init__(self, progress: ProgressFn | None, cancel: CancelFn | None) -> None:
        self._progress = progress
        self._cancel = cancel
        self._last = 0.0
        self.span = (0.0, 1.0)
        self.iterations = 0
        self.cancelled = False
        self.error: BaseException | None = None

    def report(self, fraction: float) -> None:
        value = min(1.0, max(self._last, fraction))
        self._last = value
        if self._progress is not None:
            self._progress(value)

    def check_cancel(self) -> None:
        """Raise RegistrationCancelled when asked to stop (used between stages)."""
        if self.cancelled or (self._cancel is not None and self._cancel()):
            self.cancelled = True
            raise RegistrationCancelled("registration cancelled")

    def attach(self, method: sitk.ImageRegistrationMethod, n_levels: int, max_iterations: int) -> None:
        def on_iteration() -> None:
            self.iterations += 1
            self._guarded(method, lambda: self._on_iteration(method, n_levels, max_iterations))

        def on_level() -> None:
            self._guarded(method, lambda: self._stop_if_cancelled(method))

        method.AddCommand(sitk.sitkIterationEvent, on_iteration)
        method.AddCommand(sitk.sitkMultiResolutionIterationEvent, on_level)

    def _on_iteration(self, method: sitk.ImageRegistrationMethod, n_levels: int, max_iterations: int) -> None:
        if self._stop_if_cancelled(method):
            return
        level = method.GetCurrentLevel()
        within = min(1.0, (method.GetOptimizerIteration() + 1) / max(1, max_iterations))
        start, end = self.span
        self.report(start + (end - start) * (level + within) / n_levels)

    def _stop_if_cancelled(self, method: sitk.ImageRegistrationMethod) -> bool:
        if self.cancelled or (self._cancel is not None and self._cancel()):
            self.cancelled = True
            method.StopRegistration()
            return True
        return False

    def _guarded(self, method: sitk.ImageRegistrationMethod, action: Callable[[], object]) -> None:
        # An exception must not vanish inside the C++ callback: stop, and re-raise after Execute.
        if self.error is not None:
            method.StopRegistration()
            return
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - re-raised by _execute
            self.error = exc
            method.StopRegistration()


# --- one optimisation stage --------------------------------------------------------------------
def _new_method(fixed: sitk.Image, settings: RegistrationSettings) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    fractions = []
    n_voxels = fixed.GetNumberOfPixels()
    for shrink in settings.shrink_factors:
        at_level = max(1.0, n_voxels / shrink ** fixed.GetDimension())
        wanted = min(max(settings.sampling_fraction * at_level, settings.min_samples), settings.max_samples)
        fractions.append(min(1.0, wanted / at_level))
    method.SetMetricSamplingPercentagePerLevel(fractions, settings.seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetShrinkFactorsPerLevel(list(settings.shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(settings.smoothing_sigmas_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return method


def _execute(method: sitk.ImageRegistrationMethod, fixed: sitk.Image, moving: sitk.Image,
             tracker: _Tracker) -> sitk.Transform:
    try:
        transform = method.Execute(fixed, moving)
    except RuntimeError as exc:
        if tracker.error is not None:
            raise tracker.error from exc
        if tracker.cancelled:
            raise RegistrationCancelled("registration cancelled") from exc
        raise RegistrationError(f"SimpleITK registration failed: {exc}") from exc
    if tracker.error is not None:
        raise tracker.error
    if tracker.cancelled:
        raise RegistrationCancelled("registration cancelled")
    return transform


def _optimise_rigid(fixed: sitk.Image, moving: sitk.Image, settings: RegistrationSettings,
                    tracker: _Tracker) -> tuple[sitk.Transform, float]:
    euler = sitk.Euler3DTransform() if fixed.GetDimension() == 3 else sitk.Euler2DTransform()
    initial = sitk.CenteredTransformInitializer(fixed, moving, euler, sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method = _new_method(fixed, settings)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=settings.rigid_learning_rate, minStep=1e-3, numberOfIterations=settings.rigid_iterations,
        relaxationFactor=0.6, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(initial, inPlace=False)
    tracker.attach(method, len(settings.shrink_factors), settings.rigid_iterations)
    result = _execute(method, fixed, moving, tracker)
    return _unwrap(result), method.GetMetricValue()


def _optimise_affine(fixed: sitk.Image, moving: sitk.Image, rigid: sitk.Transform,
                     settings: RegistrationSettings, tracker: _Tracker) -> tuple[sitk.Transform, float]:
    rigid = _as_euler3d(rigid)
    affine = sitk.AffineTransform(3)
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    affine.SetCenter(rigid.GetCenter())
    method = _new_method(fixed, settings)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=settings.affine_learning_rate, minStep=1e-3, numberOfIterations=settings.affine_iterations,
        relaxationFactor=0.6, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(affine, inPlace=False)
    tracker.attach(method, len(settings.shrink_factors), settings.affine_iterations)
    result = _execute(method, fixed, moving, tracker)
    return _unwrap(result), method.GetMetricValue()


def _optimise_bspline(fixed: sitk.Image, moving: sitk.Image, rigid: sitk.Transform,
                      settings: RegistrationSettings, tracker: _Tracker) -> tuple[sitk.BSplineTransform, float]:
    extent = np.array(fixed.GetSize()) * np.array(fixed.GetSpacing())
    mesh = [max(1, int(round(e / settings.bspline_grid_spacing_mm))) for e in extent]
    bspline = sitk.BSplineTransformInitializer(fixed, mesh, order=3)
    method = _new_method(fixed, settings)
    method.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=settings.bspline_iterations,
                                maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=4 * settings.bspline_iterations,
                                costFunctionConvergenceFactor=1e7)
    method.SetMovingInitialTransform(rigid)
    method.SetInitialTransform(bspline, inPlace=True)
    tracker.attach(method, len(settings.shrink_factors), settings.bspline_iterations)
    _execute(method, fixed, moving, tracker)
    return bspline, method.GetMetricValue()


def _unwrap(transform: sitk.Transform) -> sitk.Transform:
    """Execute returns a composite holding one transform; hand back that transform's own type."""
    if transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        if composite.GetNumberOfTransforms() == 1:
            return _downcast(composite.GetNthTransform(0))
    return _downcast(transform)


def _downcast(transform: sitk.Transform) -> sitk.Transform:
    try:
        return transform.Downcast()
    except (AttributeError, RuntimeError):
        return transform


def _as_euler3d(transform: sitk.Transform) -> sitk.Euler3DTransform:
    if isinstance(transform, sitk.Euler3DTransform):
        return transform
    return sitk.Euler3DTransform(transform)


# --- single-slice images --------------------------------------------------------------------
def _plane_frame(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis (columns u, v, n) and origin of a one-slice volume's plane."""
    basis = np.asarray(volume.direction, dtype=float)
    if not np.allclose(basis.T @ basis, np.eye(3), atol=1e-4):
        raise InvalidVolumeError(f"'{volume.name or 'volume'}' has a non-orthonormal direction matrix; "
                                 "single-slice registration needs an orthonormal one")
    return basis, np.asarray(volume.origin, dtype=float)


def _slice_in_frame(volume: Volume, basis: np.ndarray, origin: np.ndarray) -> tuple[sitk.Image, float] | None:
    """The slice as a 2D image in the (u, v) frame of another plane, and its offset along n.

    None when the planes are not parallel (no in-plane registration makes sense then)."""
    own = np.asarray(volume.direction, dtype=float)
    if np.any(np.abs(basis[:, 2] @ own[:, :2]) > 1e-3):
        return None
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array[0].astype(np.float32)))
    image.SetSpacing(volume.spacing[:2])
    offset = np.asarray(volume.origin, dtype=float) - origin
    image.SetOrigin(tuple(float(v) for v in basis[:, :2].T @ offset))
    direction2 = basis[:, :2].T @ own[:, :2]
    image.SetDirection(tuple(float(v) for v in direction2.reshape(4)))
    return image, float(basis[:, 2] @ offset)


def _lift_2d(rigid2d: sitk.Transform, basis: np.ndarray, origin: np.ndarray, normal_offset: float,
             center: np.ndarray) -> sitk.Euler3DTransform:
    """The 3D rigid transform doing an in-plane 2D rigid transform, and stepping onto the moving plane."""
    euler2 = sitk.Euler2DTransform(rigid2d)
    rot2 = np.array(euler2.GetMatrix()).reshape(2, 2)
    c2 = np.array(euler2.GetCenter())
    t2 = np.array(euler2.GetTranslation())
    in_plane = np.eye(3)
    in_plane[:2, :2] = rot2
    shift = np.zeros(3)
    shift[:2] = c2 - rot2 @ c2 + t2
    shift[2] = normal_offset
    matrix = basis @ in_plane @ basis.T
    translation = origin - matrix @ origin + basis @ shift  # x' = matrix @ x + translation
    euler3 = sitk.Euler3DTransform()
    euler3.SetCenter(tuple(float(v) for v in center))
    euler3.SetMatrix(tuple(float(v) for v in matrix.reshape(9)))
    euler3.SetTranslation(tuple(float(v) for v in translation - center + matrix @ center))
    return euler3


# --- caching -------------------------------------------------------------------------------
def _cache_key(fixed: Volume, moving: Volume, mode: str, settings: RegistrationSettings) -> str:
    digest = hashlib.sha256()
    for volume in (fixed, moving):
        array = np.ascontiguousarray(volume.array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
        geometry = (volume.spacing, volume.origin, tuple(np.asarray(volume.direction).reshape(9)))
        digest.update(repr(tuple(tuple(round(float(v), 9) for v in g) for g in geometry)).encode())
    digest.update(f"{mode}|{CODE_VERSION}|{settings!r}".encode())
    return digest.hexdigest()


def _read_cache(cache_dir: Path, key: str) -> tuple[sitk.Transform, dict] | None:
    tfm = cache_dir / f"{key}.tfm"
    if not tfm.is_file():
        return None
    try:
        transform = _flatten(sitk.ReadTransform(str(tfm)))
    except RuntimeError as exc:
        log.warning("ignoring unreadable cached transform %s: %s", tfm, exc)
        return None
    meta_path = cache_dir / f"{key}.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except (OSError, ValueError):
        meta = {}
    return transform, meta


def _write_cache(cache_dir: Path, key: str, transform: sitk.Transform, meta: dict) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f"{key}.{os.getpid()}.tmp.tfm"  # written then renamed: readers never see half a file
    sitk.WriteTransform(transform, str(tmp))
    os.replace(tmp, cache_dir / f"{key}.tfm")
    tmp_meta = cache_dir / f"{key}.{os.getpid()}.tmp.json"
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, cache_dir / f"{key}.json")


def _flatten(transform: sitk.Transform) -> sitk.Transform:
    """Read transforms come back wrapped in composites; keep the simplest equivalent."""
    if transform.GetName() != "CompositeTransform":
        return _downcast(transform)
    composite = sitk.CompositeTransform(transform)
    composite.FlattenTransform()
    if composite.GetNumberOfTransforms() == 1:
        return _downcast(composite.GetNthTransform(0))
    return composite


# --- public API ----------------------------------------------------------------------------
MIN_SLICES_3D = 4  # ITK's smoothing at the coarse levels needs 4 voxels along every axis


def _check_volume(volume: Volume, role: str) -> None:
    array = volume.array
    if 1 < array.shape[0] < MIN_SLICES_3D:
        raise InvalidVolumeError(
            f"{role} volume '{volume.name}' has only {array.shape[0]} slices: too thin a slab to register in 3D "
            f"(at least {MIN_SLICES_3D} slices, or a single image, are needed)")
    if np.issubdtype(array.dtype, np.complexfloating) or array.dtype == object:
        raise InvalidVolumeError(f"{role} volume '{volume.name}' has {array.dtype} voxels; registration needs real numbers")
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InvalidVolumeError(
                f"{role} volume '{volume.name}' has {bad} NaN/infinite voxels; replace them (e.g. with the "
                "volume's minimum) before registering")


def _resample(moving: Volume, fixed: Volume, transform: sitk.Transform) -> Volume:
    """The moving volume on the fixed grid: linear interpolation, outside = moving's minimum."""
    default = float(np.min(moving.array))
    reference = sitk.Image(list(fixed.size_ijk), sitk.sitkUInt8)
    reference.SetSpacing(fixed.spacing)
    reference.SetOrigin(fixed.origin)
    reference.SetDirection(tuple(float(v) for v in np.asarray(fixed.direction).reshape(9)))
    out = sitk.Resample(volume_to_sitk(moving, np.float32), reference, transform, sitk.sitkLinear, default,
                        sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(out)
    dtype = moving.array.dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = np.clip(np.rint(array), info.min, info.max).astype(dtype)
    elif dtype == bool:
        array = array >= 0.5
    elif array.dtype != dtype:
        array = array.astype(dtype)
    return fixed.with_array(array, name=moving.name, missing_slices=_missing_after_resampling(moving, reference,
                                                                                              transform))


def _missing_after_resampling(moving: Volume, reference: sitk.Image, transform: sitk.Transform) -> tuple[int, ...]:
    """Slices of the reference grid where any voxel comes nearest from a slice missing in ``moving``: the
    whole slice is marked missing (a cut is shown or not), so a missing slice is never shown as data."""
    if not moving.missing_slices:
        return ()
    marks = np.zeros(moving.array.shape, np.uint8)
    marks[list(moving.missing_slices)] = 1
    out = sitk.GetArrayFromImage(sitk.Resample(volume_to_sitk(moving.with_array(marks)), reference, transform,
                                               sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8))
    return tuple(int(k) for k in np.flatnonzero(out.reshape(out.shape[0], -1).any(axis=1)))


def _optimise(fixed: Volume, moving: Volume, mode: str, settings: RegistrationSettings,
              tracker: _Tracker, warnings: list[str]) -> tuple[sitk.Transform, dict[str, tuple[float, ...]], float]:
    """Run the optimiser stages; returns (transform, parameters per stage, final metric)."""
    if fixed.is_2d or moving.is_2d:
        return _optimise_single_slice(fixed, moving, mode, settings, tracker, warnings)
    fixed_img = volume_to_sitk(fixed, np.float32)
    moving_img = volume_to_sitk(moving, np.float32)
    first = 1.0 if mode == "rigid" else (0.4 if mode == "affine" else 0.3)
    tracker.span = (0.0, first)
    rigid, metric = _optimise_rigid(fixed_img, moving_img, settings, tracker)
    parameters = {"rigid": tuple(rigid.GetParameters())}
    if mode == "rigid":
        return rigid, parameters, metric
    tracker.check_cancel()
    tracker.span = (first, 1.0)
    if mode == "affine":
        affine, metric = _optimise_affine(fixed_img, moving_img, rigid, settings, tracker)
        parameters["affine"] = tuple(affine.GetParameters())
        return affine, parameters, metric
    bspline, metric = _optimise_bspline(fixed_img, moving_img, rigid, settings, tracker)
    parameters["bspline"] = tuple(bspline.GetParameters())
    return sitk.CompositeTransform([rigid, bspline]), parameters, metric


def _optimise_single_slice(fixed: Volume, moving: Volume, mode: str, settings: RegistrationSettings,
                           tracker: _Tracker, warnings: list[str]) -> tuple[sitk.Transform, dict, float]:
    """Both one slice: a 2D rigid registration in the reference plane. Otherwise: identity, with a warning."""
    identity = sitk.Euler3DTransform()
    if not (fixed.is_2d and moving.is_2d):
        warnings.append(f"'{moving.name or 'moving'}' has {moving.array.shape[0]} slice(s) and reference "
                        f"'{fixed.name or 'fixed'}' {fixed.array.shape[0]}: slice-to-volume registration is "
                        f"not supported; {IDENTITY_USED}")
        return identity, {"rigid": tuple(identity.GetParameters())}, math.nan
    basis, origin = _plane_frame(fixed)
    moving2 = _slice_in_frame(moving, basis, origin)
    if moving2 is None:
        warnings.append(f"single slices '{moving.name or 'moving'}' and '{fixed.name or 'fixed'}' lie in "
                        f"planes that are not parallel; {IDENTITY_USED}")
        return identity, {"rigid": tuple(identity.GetParameters())}, math.nan
    if mode != "rigid":
        warnings.append(f"single-slice images are registered rigidly only; mode '{mode}' not applied")
    fixed2 = _slice_in_frame(fixed, basis, origin)
    assert fixed2 is not None  # a plane is parallel to itself
    levels = [s for s in settings.shrink_factors if min(fixed.size_ijk[:2]) // s >= 8] or [1]
    settings2 = _replace_levels(settings, levels)
    tracker.span = (0.0, 1.0)
    rigid2d, metric = _optimise_rigid(fixed2[0], moving2[0], settings2, tracker)
    rigid3d = _lift_2d(rigid2d, basis, origin, moving2[1], fixed.center_world())
    return rigid3d, {"rigid": tuple(rigid3d.GetParameters())}, metric


def _replace_levels(settings: RegistrationSettings, shrinks: list[int]) -> RegistrationSettings:
    sigmas = [settings.smoothing_sigmas_mm[settings.shrink_factors.index(s)] for s in shrinks]
    values = {f: getattr(settings, f) for f in settings.__dataclass_fields__}
    values.update(shrink_factors=tuple(shrinks), smoothing_sigmas_mm=tuple(sigmas))
    return RegistrationSettings(**values)


def register_phase(fixed: Volume, moving: Volume, mode: Mode = "rigid", progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None, *, cache_dir: Path | None = None,
                   settings: RegistrationSettings | None = None, phase_index: int = -1) -> PhaseRegistration:
    """Register `moving` to `fixed` and resample it onto the fixed grid.

    progress gets fractions 0..1 ending at 1.0; cancel() returning True stops the optimiser and raises
    RegistrationCancelled. With cache_dir, a transform found before for the same voxels, geometry, mode
    and settings is reused without optimising. phase_index is -1 outside a study.
    """
    if mode not in MODES:
        raise ValueError(f"unknown registration mode '{mode}': use one of {', '.join(MODES)}")
    settings = settings or RegistrationSettings()
    _check_volume(fixed, "reference")
    _check_volume(moving, "moving")
    tracker = _Tracker(progress, cancel)
    tracker.check_cancel()
    start = time.perf_counter()
    key = _cache_key(fixed, moving, mode, settings) if cache_dir is not None else ""
    cached = _read_cache(Path(cache_dir), key) if cache_dir is not None else None
    warnings: list[str] = []
    if cached is not None:
        transform, meta = cached
        parameters = {k: tuple(v) for k, v in meta.get("parameters", {}).items()} or {
            mode: tuple(transform.GetParameters())}
        metric = float(meta.get("final_metric", math.nan))
        warnings = list(meta.get("warnings", []))
    else:
        transform, parameters, metric = _optimise(fixed, moving, mode, settings, tracker, warnings)
        for text in warnings:
            log.warning(text)
        if cache_dir is not None:
            _write_cache(Path(cache_dir), key, transform,
                         {"parameters": parameters, "final_metric": metric, "warnings": warnings,
                          "mode": mode, "code_version": CODE_VERSION})
    tracker.check_cancel()
    resampled = _resample(moving, fixed, transform)
    tracker.report(1.0)
    return PhaseRegistration(
        phase_index=phase_index, mode=mode, transform=transform, parameters=parameters, final_metric=metric,
        iterations=tracker.iterations, elapsed_s=time.perf_counter() - start, resampled=resampled,
        from_cache=cached is not None, warnings=warnings)


def register_study(study: Study, mode: Mode = "rigid", progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None, cache_dir: Path | None = None,
                   settings: RegistrationSettings | None = None) -> list[PhaseRegistration]:
    """Register every phase of the study to its reference phase, in phase order.

    The reference phase comes back unchanged (identity transform, its own Volume); progress is spread
    evenly over the other phases.
    """
    if not study.phases:
        raise ValueError("the study has no phases to register")
    ref_index = study.reference_index
    fixed = study.reference.volume
    others = [n for n in range(len(study.phases)) if n != ref_index]
    results: list[PhaseRegistration] = []
    done = 0
    for index, phase in enumerate(study.phases):
        if index == ref_index:
            identity = sitk.Euler3DTransform()
            results.append(PhaseRegistration(
                phase_index=index, mode=mode, transform=identity, parameters={"rigid": tuple(identity.GetParameters())},
                final_metric=math.nan, iterations=0, elapsed_s=0.0, resampled=fixed, is_reference=True))
            continue
        share = _sub_progress(progress, done / len(others), (done + 1) / len(others))
        results.append(register_phase(fixed, phase.volume, mode, share, cancel, cache_dir=cache_dir,
                                      settings=settings, phase_index=index))
        done += 1
    if progress is not None:
        progress(1.0)
    return results


def _sub_progress(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda f: progress(start + (end - start) * f)
