"""Phase registration recovers known motions between phases, caches, reports progress and can be cancelled."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.registration import phase_registration as pr
from liverview.registration.phase_registration import (
    InvalidVolumeError,
    RegistrationCancelled,
    RegistrationSettings,
    register_phase,
    register_study,
    volume_from_sitk,
    volume_to_sitk,
)

AIR = -1000.0


def phantom(shape=(48, 96, 96), spacing=(1.5, 1.5, 3.0), origin=(-70.0, -50.0, 20.0), seed=0) -> Volume:
    """A smooth abdomen-like body (ellipsoid, no rotational symmetry) with blobs of other densities."""
    k, j, i = np.indices(shape).astype(float)
    x, y, z = i * spacing[0], j * spacing[1], k * spacing[2]
    c = np.array([shape[2] * spacing[0], shape[1] * spacing[1], shape[0] * spacing[2]]) / 2
    size = np.array([shape[2] * spacing[0], shape[1] * spacing[1], shape[0] * spacing[2]])
    ax = size * np.array([0.42, 0.31, 0.59])
    body = ((x - c[0]) / ax[0]) ** 2 + ((y - c[1]) / ax[1]) ** 2 + ((z - c[2]) / ax[2]) ** 2 < 1
    array = np.where(body, 40.0, AIR)
    rng = np.random.default_rng(seed)
    for _ in range(8):
        p = c + rng.uniform(-0.2, 0.2, 3) * size
        r = rng.uniform(0.04, 0.1) * size.min()
        value = rng.choice([-60.0, 120.0, 250.0])
        array += value * np.exp(-((x - p[0]) ** 2 + (y - p[1]) ** 2 + (z - p[2]) ** 2) / (2 * r * r)) * body
    array = ndimage.gaussian_filter(array, 1.0).astype(np.float32)
    return Volume(array, spacing, origin, name="fixed")


def rigid_truth(center, degrees=(3.0, -2.0, 3.0), mm=(4.0, 3.0, 6.0)) -> sitk.Euler3DTransform:
    """Fixed point -> moving point, the convention register_phase reports."""
    t = sitk.Euler3DTransform()
    t.SetCenter(tuple(float(v) for v in center))
    t.SetRotation(*np.deg2rad(degrees))
    t.SetTranslation(mm)
    return t


def move(fixed: Volume, truth: sitk.Transform, grid: sitk.Image | None = None, name="moving") -> Volume:
    """The moving phase: fixed's anatomy displaced by `truth`, sampled on `grid` (default: fixed's grid)."""
    image = volume_to_sitk(fixed)
    out = sitk.Resample(image, grid if grid is not None else image, truth.GetInverse(), sitk.sitkLinear, AIR)
    return volume_from_sitk(out, name)


def body_points(volume: Volume) -> np.ndarray:
    """Physical points spread through the middle of the volume, where the body is."""
    i, j, k = volume.size_ijk
    frac = (0.25, 0.5, 0.75)
    ijk = np.array([[a * (i - 1), b * (j - 1), c * (k - 1)] for a in frac for b in frac for c in frac])
    return volume.index_to_world(ijk)


def point_errors(result: pr.PhaseRegistration, truth: sitk.Transform, points: np.ndarray) -> np.ndarray:
    expected = np.array([truth.TransformPoint(tuple(p)) for p in points])
    return np.linalg.norm(result.to_moving(points) - expected, axis=1)


def mad(a: Volume, b: Volume) -> float:
    return float(np.mean(np.abs(a.array.astype(float) - b.array.astype(float))))


@pytest.fixture(scope="module")
def fixed() -> Volume:
    return phantom()


@pytest.fixture(scope="module")
def truth(fixed) -> sitk.Euler3DTransform:
    return rigid_truth(fixed.center_world())


@pytest.fixture(scope="module")
def moving(fixed, truth) -> Volume:
    return move(fixed, truth)


@pytest.fixture(scope="module")
def rigid_result(fixed, moving) -> pr.PhaseRegistration:
    return register_phase(fixed, moving, "rigid")


def test_rigid_recovers_a_known_motion_within_a_millimetre(fixed, moving, truth, rigid_result):
    errors = point_errors(rigid_result, truth, body_points(fixed))
    assert errors.max() < 1.0, f"point errors {errors.round(2)}"
    assert isinstance(rigid_result.transform, sitk.Euler3DTransform)
    assert rigid_result.iterations > 0 and np.isfinite(rigid_result.final_metric)
    assert rigid_result.final_metric < 0  # Mattes MI is reported negated
    assert len(rigid_result.parameters["rigid"]) == 6


def test_resampled_phase_lies_on_the_reference_grid_and_matches_it(fixed, moving, rigid_result):
    out = rigid_result.resampled
    assert out.array.shape == fixed.array.shape and out.array.dtype == moving.array.dtype
    assert out.spacing == fixed.spacing and out.origin == fixed.origin
    np.testing.assert_allclose(out.direction, fixed.direction)
    before = mad(fixed, moving)
    after = mad(fixed, out)
    assert after < 0.25 * before, (before, after)


def test_phases_on_different_grids_register(fixed, truth):
    grid = sitk.Image([70, 60, 40], sitk.sitkFloat32)
    grid.SetSpacing((2.0, 2.2, 3.5))
    grid.SetOrigin((-60.0, -40.0, 30.0))
    moving = move(fixed, truth, grid)
    result = register_phase(fixed, moving)
    assert point_errors(result, truth, body_points(fixed)).max() < 1.0
    assert result.resampled.array.shape == fixed.array.shape
    assert result.resampled.origin == fixed.origin
    # The fixed grid's corner lies outside the moving grid: it gets the moving phase's minimum, not 0.
    assert result.resampled.array[0, 0, 0] == pytest.approx(moving.array.min())


def test_integer_phases_keep_their_pixel_type(fixed, moving):
    as_int = lambda v: v.with_array(np.rint(v.array).astype(np.int16))  # noqa: E731
    result = register_phase(as_int(fixed), as_int(moving), settings=RegistrationSettings(rigid_iterations=20))
    assert result.resampled.array.dtype == np.int16
    assert result.resampled.array.min() == int(np.rint(moving.array.min()))


@pytest.mark.parametrize("mode, kind", [("affine", "AffineTransform"), ("bspline", "CompositeTransform")])
def test_affine_and_bspline_modes_refine_the_rigid_result(mode, kind):
    small = phantom(shape=(24, 48, 48), spacing=(3.0, 3.0, 6.0), seed=1)
    truth = rigid_truth(small.center_world(), degrees=(2.0, 0.0, -2.0), mm=(3.0, -4.0, 5.0))
    moving = move(small, truth)
    settings = RegistrationSettings(shrink_factors=(2, 1), smoothing_sigmas_mm=(4.0, 0.0), bspline_iterations=8,
                                    affine_iterations=60, bspline_grid_spacing_mm=80.0)
    result = register_phase(small, moving, mode, settings=settings)
    assert result.transform.GetName() == kind
    assert set(result.parameters) == {"rigid", mode}
    assert point_errors(result, truth, body_points(small)).max() < 1.5
    assert mad(small, result.resampled) < 0.3 * mad(small, moving)


def test_cache_hit_reuses_the_transform_without_optimising(fixed, moving, tmp_path, monkeypatch):
    first = register_phase(fixed, moving, cache_dir=tmp_path)
    assert not first.from_cache and first.iterations > 0
    assert len(list(tmp_path.glob("*.tfm"))) == 1

    def no_optimiser(*args, **kwargs):
        raise AssertionError("the optimiser ran on a cache hit")

    monkeypatch.setattr(pr, "_optimise", no_optimiser)
    second = register_phase(fixed, moving, cache_dir=tmp_path)
    assert second.from_cache and second.iterations == 0
    np.testing.assert_allclose(second.transform.GetParameters(), first.transform.GetParameters(), atol=1e-9)
    np.testing.assert_allclose(second.resampled.array, first.resampled.array)
    assert second.final_metric == pytest.approx(first.final_metric)
    assert second.elapsed_s < first.elapsed_s

    # Another mode, or other voxels, is another key: the optimiser must run again.
    with pytest.raises(AssertionError, match="optimiser ran"):
        register_phase(fixed, moving, "affine", cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="optimiser ran"):
        register_phase(fixed, moving.with_array(moving.array + 1), cache_dir=tmp_path)


def test_unreadable_cache_entry_is_recomputed(fixed, moving, tmp_path):
    first = register_phase(fixed, moving, cache_dir=tmp_path, settings=RegistrationSettings(rigid_iterations=10))
    (tfm,) = tmp_path.glob("*.tfm")
    tfm.write_text("not a transform")
    again = register_phase(fixed, moving, cache_dir=tmp_path, settings=RegistrationSettings(rigid_iterations=10))
    assert not again.from_cache
    np.testing.assert_allclose(again.transform.GetParameters(), first.transform.GetParameters(), atol=1e-6)


def test_repeated_runs_give_the_same_transform(fixed, moving, rigid_result):
    again = register_phase(fixed, moving, "rigid")
    np.testing.assert_allclose(again.transform.GetParameters(), rigid_result.transform.GetParameters(), atol=1e-9)


def test_progress_increases_and_ends_at_one(fixed, moving):
    values: list[float] = []
    register_phase(fixed, moving, progress=values.append, settings=RegistrationSettings(rigid_iterations=30))
    assert len(values) > 5
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert 0.0 <= values[0] < 0.5 and values[-1] == 1.0


def test_cancel_stops_the_optimiser_promptly(fixed, moving):
    progress: list[float] = []
    asked = {"n": 0, "after_cancel": 0}

    def cancel() -> bool:
        asked["n"] += 1
        if asked["n"] > 5:
            asked["after_cancel"] += 1
            return True
        return False

    start = time.perf_counter()
    with pytest.raises(RegistrationCancelled):
        register_phase(fixed, moving, progress=progress.append, cancel=cancel)
    assert time.perf_counter() - start < 5.0
    # Once cancelled the remaining resolution levels do at most one iteration each.
    assert asked["after_cancel"] <= 2 * len(RegistrationSettings().shrink_factors)
    assert not progress or progress[-1] < 1.0


def test_cancel_before_start_raises_without_work(fixed, moving):
    progress: list[float] = []
    with pytest.raises(RegistrationCancelled):
        register_phase(fixed, moving, progress=progress.append, cancel=lambda: True)
    assert progress == []


def test_errors_in_the_progress_callback_propagate(fixed, moving):
    def broken(_: float) -> None:
        raise KeyError("progress sink closed")

    with pytest.raises(KeyError, match="progress sink closed"):
        register_phase(fixed, moving, progress=broken)


def test_single_slices_register_in_plane(fixed):
    sl = Volume(fixed.array[24:25].copy(), fixed.spacing, fixed.index_to_world((0, 0, 24)), name="slice")
    truth = rigid_truth(sl.center_world(), degrees=(0.0, 0.0, 4.0), mm=(3.0, -5.0, 0.0))
    moving = move(sl, truth)
    # The moving slice also sits 1 mm further along the normal, with another origin.
    moving = Volume(moving.array, moving.spacing, np.add(moving.origin, (5.0, 2.0, 1.0)), name="moved slice")
    result = register_phase(sl, moving)
    points = sl.index_to_world(np.array([[a, b, 0] for a in (24, 48, 72) for b in (24, 48, 72)], float))
    expected = np.array([truth.TransformPoint(tuple(p)) for p in points]) + (5.0, 2.0, 1.0)
    assert np.linalg.norm(result.to_moving(points) - expected, axis=1).max() < 1.0
    assert result.warnings == [] and not result.identity_fallback
    assert mad(sl, result.resampled) < 0.25 * mad(sl, Volume(moving.array, sl.spacing, sl.origin))


def test_slice_to_volume_falls_back_to_identity_with_a_warning(fixed, moving):
    sl = Volume(fixed.array[24:25].copy(), fixed.spacing, fixed.index_to_world((0, 0, 24)))
    result = register_phase(sl, moving)
    assert any("slice-to-volume" in w for w in result.warnings)
    assert result.identity_fallback  # what the window reads to say "not aligned"
    np.testing.assert_allclose(result.transform.GetParameters(), np.zeros(6))
    assert result.resampled.array.shape == sl.array.shape


def test_nan_voxels_are_refused_with_a_clear_message(fixed, moving):
    holes = fixed.with_array(np.where(fixed.array > 100, np.nan, fixed.array).astype(np.float32), name="holes")
    with pytest.raises(InvalidVolumeError, match="'holes' has .* NaN"):
        register_phase(holes, moving)


@pytest.mark.parametrize("n_slices", [2, 3])
def test_a_slab_of_two_or_three_slices_is_refused_in_plain_words(fixed, moving, n_slices):
    slab = Volume(fixed.array[20:20 + n_slices].copy(), fixed.spacing, fixed.index_to_world((0, 0, 20)), name="slab")
    with pytest.raises(InvalidVolumeError, match=f"'slab' has only {n_slices} slices: too thin"):
        register_phase(slab, moving)
    with pytest.raises(InvalidVolumeError, match="too thin"):
        register_phase(fixed, slab)


def test_unknown_mode_is_refused(fixed, moving):
    with pytest.raises(ValueError, match="rigid, affine, bspline"):
        register_phase(fixed, moving, "elastic")  # type: ignore[arg-type]


def test_register_study_aligns_every_phase_to_the_reference(fixed, moving, truth):
    study = Study([Phase(PhaseKind.NON_CONTRAST, moving), Phase(PhaseKind.ARTERIAL, fixed),
                   Phase(PhaseKind.PORTAL_VENOUS, moving)], reference_index=1)
    progress: list[float] = []
    results = register_study(study, progress=progress.append, settings=RegistrationSettings(rigid_iterations=60))
    assert [r.phase_index for r in results] == [0, 1, 2]
    ref = results[1]
    assert ref.is_reference and ref.resampled is fixed and ref.iterations == 0
    for r in (results[0], results[2]):
        assert not r.is_reference
        assert point_errors(r, truth, body_points(fixed)).max() < 1.0
    assert progress[-1] == 1.0 and all(b >= a for a, b in zip(progress, progress[1:]))


def test_cli_register_phases_writes_the_aligned_phase(fixed, moving, tmp_path, capsys, monkeypatch):
    from liverview import cli

    # Other sub-commands are written in parallel; build the CLI from those that exist today.
    present = [m for m in cli.COMMAND_MODULES if importlib.util.find_spec(f"liverview.commands.{m}")]
    monkeypatch.setattr(cli, "COMMAND_MODULES", present)
    sitk.WriteImage(volume_to_sitk(fixed), str(tmp_path / "fixed.nii.gz"))
    sitk.WriteImage(volume_to_sitk(moving), str(tmp_path / "moving.nii.gz"))
    out, tfm = tmp_path / "aligned.nii.gz", tmp_path / "t.tfm"
    code = cli.main(["register-phases", str(tmp_path / "fixed.nii.gz"), str(tmp_path / "moving.nii.gz"),
                     "--out", str(out), "--transform", str(tfm)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "final metric" in printed and "translation (mm)" in printed
    aligned = volume_from_sitk(sitk.ReadImage(str(out)))
    assert aligned.array.shape == fixed.array.shape
    assert mad(fixed, aligned) < 0.25 * mad(fixed, moving)
    truth_like = sitk.ReadTransform(str(tfm))
    assert truth_like.GetNumberOfFixedParameters() > 0

    code = cli.main(["register-phases", str(tmp_path / "missing.nii.gz"), str(out), "--out", str(out)])
    assert code == 2 and "does not exist" in capsys.readouterr().err


@pytest.fixture
def cli_main(monkeypatch):
    from liverview import cli

    present = [m for m in cli.COMMAND_MODULES if importlib.util.find_spec(f"liverview.commands.{m}")]
    monkeypatch.setattr(cli, "COMMAND_MODULES", present)
    return cli.main


@pytest.mark.parametrize("damage", ["truncated_nifti", "truncated_nifti_gz", "bad_magic_nifti"])
def test_cli_register_phases_refuses_a_damaged_nifti(damage, tmp_path, capsys, cli_main):
    """ITK alone reads these zero-filled or as Analyze (position lost); the checked reader refuses them."""
    from tests import malformed_corpus as corpus

    good = corpus.write_good_nifti(tmp_path / "fixed.nii")
    bad = getattr(corpus, damage)(tmp_path / ("moving.nii.gz" if damage.endswith("_gz") else "moving.nii"))
    out = tmp_path / "out.nii.gz"
    code = cli_main(["register-phases", str(good), str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "moving image" in err and str(bad) in err and "Traceback" not in err
    assert not out.exists()


def test_cli_register_phases_reads_dicom_folders(tmp_path, capsys, cli_main):
    from tests.malformed_corpus import write_ct_series

    write_ct_series(tmp_path / "fixed", n=12, rows=48, cols=48)
    write_ct_series(tmp_path / "moving", n=12, rows=48, cols=48)
    out = tmp_path / "out.nii.gz"
    code = cli_main(["register-phases", str(tmp_path / "fixed"), str(tmp_path / "moving"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert sitk.ReadImage(str(out)).GetSize() == (48, 48, 12)


def test_cli_register_phases_refuses_an_input_of_several_series(fixed, tmp_path, capsys, cli_main):
    both = tmp_path / "both"
    both.mkdir()
    for name in ("a.nii.gz", "b.nii.gz"):
        sitk.WriteImage(volume_to_sitk(fixed), str(both / name))
    code = cli_main(["register-phases", str(both), str(both / "a.nii.gz"), "--out", str(tmp_path / "o.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2 and "holds 2 image series" in err


def test_real_ct_recovers_a_known_shift(shared_data: Path):
    path = shared_data / "ircadb-liver17" / "ct.nii.gz"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    image = sitk.SmoothingRecursiveGaussian(sitk.ReadImage(str(path), sitk.sitkFloat32), 1.5)

    def grid(spacing, shift=(0.0, 0.0, 0.0)) -> sitk.Image:
        size = [int(round(n * s / t)) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing)]
        g = sitk.Image(size, sitk.sitkUInt8)
        g.SetSpacing(spacing)
        g.SetOrigin(tuple(np.add(image.GetOrigin(), shift)))
        g.SetDirection(image.GetDirection())
        return g

    shift = (5.0, -4.0, 7.0)  # mm, fixed point -> moving point
    fixed = volume_from_sitk(sitk.Resample(image, grid((3.0, 3.0, 3.2)), sitk.Transform(), sitk.sitkLinear, -1024.0))
    moved = sitk.Resample(image, grid((3.2, 3.2, 3.0), (2.0, 1.0, -3.0)),
                          sitk.TranslationTransform(3, [-s for s in shift]), sitk.sitkLinear, -1024.0)
    result = register_phase(fixed, volume_from_sitk(moved))
    found = result.to_moving(body_points(fixed)) - body_points(fixed)
    assert np.abs(found - shift).max() < 1.5, found


def test_slices_missing_in_a_phase_stay_missing_on_the_reference_grid(fixed):
    """A moving phase with a gap: the reference slices that take any voxel from it are marked missing, the
    rest are not, and the reference's own gaps do not pass to another phase."""
    shift = sitk.TranslationTransform(3, (0.0, 0.0, 6.0))  # two slices of 3 mm along z
    moving = fixed.with_array(fixed.array, missing_slices=(20,))
    out = pr._resample(moving, fixed.with_array(fixed.array, missing_slices=(5,)), shift)
    # reference slice k samples moving slice k + 2
    assert out.missing_slices == (18,)
    assert pr._resample(fixed, fixed.with_array(fixed.array, missing_slices=(5,)), shift).missing_slices == ()
    tilt = sitk.Euler3DTransform(fixed.center_world().tolist(), 0.0, np.radians(3.0), 0.0)
    tilted = pr._resample(moving, fixed, tilt).missing_slices
    assert 20 in tilted and 1 < len(tilted) < 10  # a tilted gap crosses a few reference slices, not all
