"""The synthetic multi-phase liver CT phantom: anatomy, textbook enhancement per class, exact ground truth."""

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from liverview.core.study import PhaseKind
from liverview.synth import demo
from liverview.synth.ct_phantom import (
    LESION_CLASSES, LESION_COLUMNS, PHASE_FILES, PHASES, PhantomStudy, generate_ct_study, read_lesion_table,
    recist_from_mask, write_lesion_table, write_phantom_study,
)

NC, ART, PV, DEL = PHASES
SMALL = dict(shape=(32, 128, 128), spacing_mm=(1.6, 1.6, 5.0))  # same field of view, 1/8 of the voxels


@pytest.fixture(scope="module")
def timed_default() -> tuple[PhantomStudy, float]:
    start = time.perf_counter()
    study = generate_ct_study(demo.DEMO_SEED, n_lesions=demo.DEMO_LESIONS)
    return study, time.perf_counter() - start


@pytest.fixture(scope="module")
def noise_free() -> PhantomStudy:
    return generate_ct_study(21, noise_hu=0.0)


@pytest.fixture(scope="module", params=["demo", "noise-free"])
def study(request, timed_default, noise_free) -> PhantomStudy:
    """The demo study as users see it, and a noise-free one whose HU values can be checked closely."""
    return timed_default[0] if request.param == "demo" else noise_free


@pytest.fixture(scope="module", params=["noisy", "noise-free"])
def pattern_study(request, noise_free) -> PhantomStudy:
    """Studies whose lesions of every class are big enough to measure enhancement on. The demo seed's only
    cyst is too small for a mean under noise, so the noisy case uses seed 8 (same size and lesion count)."""
    return generate_ct_study(8, n_lesions=demo.DEMO_LESIONS) if request.param == "noisy" else noise_free


def test_default_study_generates_in_a_few_seconds(timed_default, capsys):
    study, seconds = timed_default
    with capsys.disabled():
        print(f"\n[ct phantom] default study {study.shape} x 4 phases generated in {seconds:.2f} s")
    assert seconds < 20.0


# --- anatomy and geometry -----------------------------------------------------------------------------
def test_phases_are_int16_hu_on_one_scanner_like_grid(study):
    assert list(study.phases) == list(PHASES)
    for kind, vol in study.phases.items():
        assert vol.array.dtype == np.int16 and vol.array.shape == (64, 256, 256)
        assert vol.spacing == (0.8, 0.8, 2.5)
        assert vol.origin == study.liver_mask.origin
        np.testing.assert_array_equal(vol.direction, np.eye(3))
        assert vol.name == kind.value
    assert study.liver_mask.origin != (0.0, 0.0, 0.0)
    nc = study.phases[NC].array
    assert np.median(nc[:, :4, :4]) < -900  # air in the corners
    assert nc.max() > 400  # bone


def test_liver_lies_on_the_patients_right_that_is_lower_x(study):
    liver = study.liver_mask.array.astype(bool)
    k, j, i = np.nonzero(liver)
    centroid = study.liver_mask.index_to_world((i.mean(), j.mean(), k.mean()))
    body_centre = study.liver_mask.center_world()
    assert centroid[0] < body_centre[0] - 20.0
    assert 0.03 < liver.mean() < 0.3


def test_liver_enhances_as_in_the_brief(study):
    par = _parenchyma(study)
    means = [float(study.aligned_array(k)[par].mean()) for k in PHASES]
    for got, want in zip(means, (55.0, 70.0, 110.0, 90.0)):
        assert abs(got - want) < 8.0, means
    noise = float(np.std(study.phases[NC].array[:, :6, :6]))  # air: noise only
    assert noise == pytest.approx(study.noise_hu, abs=1.0)


def test_aorta_peaks_arterial_and_portal_veins_peak_portal_venous(study):
    vessels = ndimage.binary_erosion(study.vessel_mask.array.astype(bool))
    portal_hu = [float(study.aligned_array(k)[vessels].mean()) for k in PHASES]
    assert int(np.argmax(portal_hu)) == PHASES.index(PV), portal_hu
    assert portal_hu[PHASES.index(PV)] > _parenchyma_mean(study, PV) + 30
    art, pv = study.aligned_array(ART), study.aligned_array(PV)
    assert art.max() > 250 and np.percentile(art[art > 250], 50) < 800  # bright aorta, not only bone
    aorta = (art > 250) & (study.aligned_array(NC) < 100)
    assert aorta.sum() > 500 and art[aorta].mean() > pv[aorta].mean() + 80


# --- lesions ----------------------------------------------------------------------------------------
def test_every_class_appears_when_there_are_four_or_more_lesions():
    for n in (4, 5):
        classes = [les.lesion_class for les in generate_ct_study(5, n_lesions=n, **SMALL).lesions]
        assert set(classes) == set(LESION_CLASSES) and len(classes) == n
    assert generate_ct_study(5, n_lesions=0, **SMALL).lesions == []


def test_demo_study_has_all_classes(timed_default):
    classes = {les.lesion_class for les in timed_default[0].lesions}
    assert classes == set(LESION_CLASSES)


def test_lesions_lie_inside_the_liver_apart_from_each_other(study):
    labels = study.lesion_labels.array
    liver = study.liver_mask.array.astype(bool)
    assert [les.lesion_id for les in study.lesions] == list(range(1, len(study.lesions) + 1))
    assert set(np.unique(labels)) == {0, *range(1, len(study.lesions) + 1)}
    assert liver[labels > 0].all()
    for les in study.lesions:
        grown = ndimage.binary_dilation(labels == les.lesion_id, iterations=1)
        assert set(np.unique(labels[grown])) <= {0, les.lesion_id}, f"lesion {les.lesion_id} touches another"
        assert 5.0 <= les.diameter_mm <= 60.0 and les.long_axis_length_mm <= 60.0


def test_boxes_and_key_slice_match_the_lesion_masks(study):
    labels, vol = study.lesion_labels.array, study.lesion_labels
    for les in study.lesions:
        k, j, i = np.nonzero(labels == les.lesion_id)
        assert les.box_ijk == (i.min(), j.min(), k.min(), i.max(), j.max(), k.max())
        x0, y0, z0, x1, y1, z1 = les.box_ijk
        np.testing.assert_allclose(les.box_mm, (*vol.index_to_world((x0, y0, z0)), *vol.index_to_world((x1, y1, z1))),
                                   atol=1e-3)
        assert all(les.box_mm[a] - 1.5 <= les.center_mm[a] <= les.box_mm[a + 3] + 1.5 for a in range(3))
        areas = np.bincount(k, minlength=labels.shape[0])
        assert les.key_slice == int(np.argmax(areas))


def test_recist_axes_are_perpendicular_diameters_ending_on_the_boundary(study):
    vol = study.lesion_labels
    for les in study.lesions:
        mask2d = vol.array[les.key_slice] == les.lesion_id
        z_key = vol.index_to_world((0, 0, les.key_slice))[2]
        (a, b), (c, d) = (np.array(p) for p in les.long_axis_mm), (np.array(p) for p in les.short_axis_mm)
        for p in (a, b, c, d):
            assert p[2] == pytest.approx(z_key, abs=1e-3)
            assert _on_boundary(p, mask2d, vol), (les.lesion_id, p)
        assert les.long_axis_length_mm == pytest.approx(np.linalg.norm(b - a), abs=2e-3)
        assert les.short_axis_length_mm == pytest.approx(np.linalg.norm(d - c), abs=2e-3)
        assert les.long_axis_length_mm >= les.short_axis_length_mm > 0
        cos = abs(np.dot(b - a, d - c)) / (np.linalg.norm(b - a) * np.linalg.norm(d - c))
        assert cos < 2e-3, (les.lesion_id, cos)
        # The long axis is the farthest pair of mask pixels, within a pixel.
        jj, ii = np.nonzero(mask2d)
        pts = np.stack([ii * vol.spacing[0], jj * vol.spacing[1]], 1)
        farthest = math.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1).max())
        assert les.long_axis_length_mm == pytest.approx(farthest, abs=1e-3)


def test_recist_of_an_ellipse_on_anisotropic_pixels():
    sx, sy = 0.5, 1.0
    jj, ii = np.mgrid[0:40, 0:80]
    x, y = ii * sx - 20.0, jj * sy - 20.0
    rot = math.radians(30)
    u, v = x * math.cos(rot) + y * math.sin(rot), -x * math.sin(rot) + y * math.cos(rot)
    mask = (u / 15.0) ** 2 + (v / 6.0) ** 2 <= 1.0
    long_axis, short_axis = recist_from_mask(mask, (sx, sy), (0.0, 0.0, 5.0))
    (a, b), (c, d) = np.array(long_axis), np.array(short_axis)
    assert a[2] == b[2] == c[2] == d[2] == 5.0
    assert np.linalg.norm(b - a) == pytest.approx(30.0, abs=1.5)
    assert np.linalg.norm(d - c) == pytest.approx(12.0, abs=1.5)
    axis = (b - a)[:2] / np.linalg.norm(b - a)
    assert abs(abs(axis @ [math.cos(rot), math.sin(rot)]) - 1.0) < 0.01  # along the ellipse's long axis
    with pytest.raises(ValueError, match="empty"):
        recist_from_mask(np.zeros((4, 4), bool), (1.0, 1.0), (0.0, 0.0, 0.0))


def test_cysts_stay_water_dense_and_never_enhance(pattern_study):
    for les, regions in _lesion_regions(pattern_study, "cyst"):
        core = [regions[k]["core"] for k in PHASES]
        assert all(0.0 <= v <= 20.0 for v in core), core
        assert max(core) - min(core) < 8.0, core


def test_hemangiomas_fill_in_centripetally_from_peripheral_nodules(pattern_study):
    for les, r in _lesion_regions(pattern_study, "hemangioma"):
        assert r[NC]["all"] < r[NC]["liver"] - 8  # hypodense like blood before contrast
        assert r[ART]["rim_p95"] > r[ART]["liver"] + 60  # bright peripheral nodules (blood pool)...
        assert r[ART]["core"] < r[ART]["liver"] - 10 and r[ART]["rim"] > r[ART]["core"] + 5  # ...dark centre
        assert r[PV]["core"] < r[PV]["rim"]  # filling goes from the rim inwards
        assert r[DEL]["core"] > r[ART]["core"] + 40  # filled in by the delayed phase
        assert r[DEL]["all"] > r[DEL]["liver"]  # iso- to hyperdense


def test_hcc_enhances_arterially_then_washes_out_with_a_capsule(pattern_study):
    for les, r in _lesion_regions(pattern_study, "hcc"):
        assert r[NC]["all"] < r[NC]["liver"]
        assert r[ART]["all"] > r[ART]["liver"] + 20
        assert r[PV]["all"] < r[PV]["liver"] and r[PV]["core"] < r[PV]["liver"] - 10
        assert r[DEL]["core"] < r[DEL]["liver"] - 10
        assert r[PV]["shell"] > r[PV]["core"] + 8 and r[DEL]["shell"] > r[DEL]["core"] + 8  # capsule


def test_metastases_are_hypovascular_with_an_enhancing_rim(pattern_study):
    for les, r in _lesion_regions(pattern_study, "metastasis"):
        assert all(r[k]["core"] < r[k]["liver"] - 8 for k in PHASES)
        assert r[ART]["rim"] > r[ART]["core"] + 15
        assert r[PV]["rim"] > r[PV]["core"] + 15
        assert r[PV]["all"] < r[PV]["liver"]


# --- breathing and determinism --------------------------------------------------------------------------
def test_phases_are_shifted_by_breathing_and_the_recorded_shift_undoes_it(study):
    assert study.shifts_mm[NC] == (0.0, 0.0, 0.0)
    for kind in (ART, PV, DEL):
        shift = np.array(study.shifts_mm[kind])
        assert 2.0 <= np.linalg.norm(shift) <= 10.0 and abs(shift[2]) >= 2.0
    def smooth(a):
        return ndimage.gaussian_filter(a.astype(np.float32), (0.5, 1.5, 1.5))

    nc = smooth(study.phases[NC].array)
    # Edges of what does not enhance (skin / air, bone, lung): there misalignment shows, noise averages out.
    edges = np.zeros(nc.shape, bool)
    for static in (nc > -500, nc > 300):
        edges |= ndimage.binary_dilation(static, iterations=2) & ~ndimage.binary_erosion(static, iterations=2)
    for kind in (ART, PV, DEL):
        raw_error = np.abs(smooth(study.phases[kind].array)[edges] - nc[edges]).mean()
        aligned_error = np.abs(smooth(study.aligned_array(kind))[edges] - nc[edges]).mean()
        assert aligned_error < 0.5 * raw_error, (kind, raw_error, aligned_error)


def test_same_seed_same_voxels_other_seed_other_voxels():
    a = generate_ct_study(11, n_lesions=4, **SMALL)
    b = generate_ct_study(11, n_lesions=4, **SMALL)
    c = generate_ct_study(12, n_lesions=4, **SMALL)
    for kind in PHASES:
        np.testing.assert_array_equal(a.phases[kind].array, b.phases[kind].array)
        assert not np.array_equal(a.phases[kind].array, c.phases[kind].array)
    np.testing.assert_array_equal(a.lesion_labels.array, b.lesion_labels.array)
    assert a.lesions == b.lesions and a.shifts_mm == b.shifts_mm
    assert a.lesions != c.lesions


def test_bad_arguments_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="n_lesions"):
        generate_ct_study(1, n_lesions=-1)
    with pytest.raises(ValueError, match="spacing"):
        generate_ct_study(1, spacing_mm=(0.8, 0.0, 2.5))
    with pytest.raises(ValueError, match="cannot fit"):
        generate_ct_study(1, n_lesions=60, shape=(16, 64, 64), spacing_mm=(1.5, 1.5, 4.0))


def test_to_study_orders_phases_with_non_contrast_as_reference():
    phantom = generate_ct_study(2, n_lesions=1, **SMALL)
    study = phantom.to_study()
    assert [p.kind for p in study.phases] == list(PHASES)
    assert study.reference.kind is PhaseKind.NON_CONTRAST
    assert len({p.frame_of_reference_uid for p in study.phases}) == 1


# --- files ------------------------------------------------------------------------------------------
def test_written_study_reads_back(tmp_path):
    phantom = generate_ct_study(4, n_lesions=4, **SMALL)
    out = write_phantom_study(phantom, tmp_path / "study")
    for kind, name in PHASE_FILES.items():
        image = sitk.ReadImage(str(out / name))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(image), phantom.phases[kind].array)
        np.testing.assert_allclose(image.GetSpacing(), phantom.phases[kind].spacing)
        np.testing.assert_allclose(image.GetOrigin(), phantom.phases[kind].origin, atol=1e-4)
        np.testing.assert_allclose(image.GetDirection(), np.eye(3).flatten(), atol=1e-6)
    assert sorted(PHASE_FILES.values()) == sorted(["non-contrast.nii.gz", "arterial.nii.gz",
                                                    "portal-venous.nii.gz", "delayed.nii.gz"])
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "liver_mask.nii.gz")))
    np.testing.assert_array_equal(mask, phantom.liver_mask.array)
    meta = json.loads((out / "study.json").read_text())
    assert meta["seed"] == 4 and meta["shape_zyx"] == [32, 128, 128] and meta["version"] >= 1
    assert meta["spacing_mm_xyz"] == [1.6, 1.6, 5.0]
    for kind in PHASES:
        assert tuple(meta["phases"][kind.value]["true_shift_mm"]) == phantom.shifts_mm[kind]
    assert read_lesion_table(out / "lesions.csv") == phantom.lesions
    header = (out / "lesions.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["lesion_id", "lesion_class", "phase_visible"] and tuple(header) == LESION_COLUMNS


def test_malformed_lesion_row_names_its_line(tmp_path):
    phantom = generate_ct_study(4, n_lesions=4, **SMALL)
    path = tmp_path / "lesions.csv"
    write_lesion_table(phantom.lesions, path)
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    fields[LESION_COLUMNS.index("center_y_mm")] = "twelve"
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"lesions\.csv:3: .*twelve"):
        read_lesion_table(path)
    lines[2] = ",".join(lines[1].split(",")[:5])  # a truncated row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r":3: .*fields"):
        read_lesion_table(path)
    path.write_text("lesion_id,lesion_class\n1,cyst\n")
    with pytest.raises(ValueError, match="lacks column"):
        read_lesion_table(path)


# --- the demo study cache ---------------------------------------------------------------------------------
def _small_generator(seed, n_lesions):
    return generate_ct_study(seed, n_lesions=n_lesions, **SMALL)


def test_demo_study_is_generated_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "generate_ct_study", _small_generator)
    folder = demo.demo_study_dir(tmp_path)
    assert folder == tmp_path / "demo-v1" and demo.is_complete_study(folder)
    assert len(read_lesion_table(folder / "lesions.csv")) == demo.DEMO_LESIONS

    def refuse(*args, **kwargs):
        raise AssertionError("the cached demo study should have been reused")

    monkeypatch.setattr(demo, "generate_ct_study", refuse)
    assert demo.demo_study_dir(tmp_path) == folder
    monkeypatch.setenv("LIVERVIEW_CACHE", str(tmp_path))
    assert demo.demo_study_dir() == folder


def test_a_failed_demo_generation_leaves_no_half_study(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "generate_ct_study", _small_generator)
    real_write = demo.write_phantom_study

    def dies_halfway(study, out):
        (Path(out) / "non-contrast.nii.gz").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "write_phantom_study", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        demo.demo_study_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []
    # A damaged copy (a file deleted by hand) is rebuilt, and a stale temp folder of a killed run removed.
    monkeypatch.setattr(demo, "write_phantom_study", real_write)
    stale = tmp_path / ".demo-v1.tmp-killed"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    folder = demo.demo_study_dir(tmp_path)
    (folder / "delayed.nii.gz").unlink()
    assert not demo.is_complete_study(folder)
    assert demo.demo_study_dir(tmp_path) == folder and demo.is_complete_study(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-v1"]


# --- helpers ----------------------------------------------------------------------------------------
def _parenchyma(study: PhantomStudy) -> np.ndarray:
    """Liver voxels away from its surface, vessels and lesions."""
    vessels = ndimage.binary_dilation(study.vessel_mask.array.astype(bool), iterations=2)
    lesions = ndimage.binary_dilation(study.lesion_labels.array > 0, iterations=2)
    liver = study.liver_mask.array.astype(bool) & ~vessels & ~lesions
    return ndimage.binary_erosion(liver, iterations=2)


def _parenchyma_mean(study: PhantomStudy, kind: PhaseKind) -> float:
    return float(study.aligned_array(kind)[_parenchyma(study)].mean())


def _lesion_regions(study: PhantomStudy, lesion_class: str):
    """Per lesion of a class: mean HU of the whole lesion, its core, its rim and the liver, per phase."""
    # With correlated noise of ~12 HU a mean needs ~150 voxels to be good to a few HU.
    min_core = 150 if study.noise_hu > 0 else 5
    chosen = [(les, r) for les, r, n_core in _region_means(study)
              if les.lesion_class == lesion_class and n_core >= min_core]
    assert chosen, f"seed {study.seed} has no {lesion_class} of at least {min_core} core voxels to measure"
    return chosen


_REGION_CACHE: dict[int, list] = {}  # by id of a module-scoped study: the stats cost a second each


def _region_means(study: PhantomStudy) -> list:
    if id(study) in _REGION_CACHE:
        return _REGION_CACHE[id(study)]
    par = _parenchyma(study)
    sx, sy, sz = study.spacing_mm
    aligned = {k: study.aligned_array(k) for k in PHASES}
    out = []
    for les in study.lesions:
        x0, y0, z0, x1, y1, z1 = les.box_ijk
        box = (slice(z0, z1 + 1), slice(y0, y1 + 1), slice(x0, x1 + 1))
        mask = study.lesion_labels.array[box] == les.lesion_id
        depth = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=(sz, sy, sx))[1:-1, 1:-1, 1:-1]
        deepest = depth[mask].max()
        # Aligning a phase interpolates along z: keep voxels whose z-neighbours are lesion too.
        padded = np.pad(mask, ((1, 1), (0, 0), (0, 0)))
        inner_z = mask & padded[:-2] & padded[2:]
        regions = {"all": mask, "core": inner_z & (depth >= 0.6 * deepest), "rim": inner_z & (depth <= 0.3 * deepest),
                   "shell": inner_z & (depth <= 1.6)}  # the outer 1-2 voxels in-plane
        if not all(r.any() for r in regions.values()):
            out.append((les, {}, 0))
            continue
        out.append((les, {k: {**{name: float(aligned[k][box][r].mean()) for name, r in regions.items()},
                              "rim_p95": float(np.percentile(aligned[k][box][regions["rim"]], 95)),
                              "liver": float(aligned[k][par].mean())} for k in PHASES}, int(regions["core"].sum())))
    _REGION_CACHE[id(study)] = out
    return out


def _on_boundary(p: np.ndarray, mask2d: np.ndarray, vol) -> bool:
    """Within a pixel of both the mask and its outside: on the boundary at pixel resolution."""
    sx, sy = vol.spacing[:2]
    ij = vol.world_to_index(p)[:2]
    jj, ii = np.mgrid[0:mask2d.shape[0], 0:mask2d.shape[1]]
    dist = np.hypot((ii - ij[0]) * sx, (jj - ij[1]) * sy)
    diag = math.hypot(sx, sy)
    return bool(dist[mask2d].min() <= 0.5 * diag and dist[~mask2d].min() <= 1.5 * diag)


def test_lesion_model_v2_draws_larger_lobulated_lesions_and_records_its_scanner_variation(tmp_path):
    import json

    from liverview.synth.ct_phantom import write_phantom_study

    v1 = generate_ct_study(21, n_lesions=6, shape=(48, 192, 192), spacing_mm=(1.0, 1.0, 2.5))
    v2 = generate_ct_study(21, n_lesions=6, shape=(48, 192, 192), spacing_mm=(1.0, 1.0, 2.5), lesion_model="v2")
    again = generate_ct_study(21, n_lesions=6, shape=(48, 192, 192), spacing_mm=(1.0, 1.0, 2.5), lesion_model="v2")
    assert np.array_equal(v2.phases[PhaseKind.PORTAL_VENOUS].array, again.phases[PhaseKind.PORTAL_VENOUS].array)
    assert v1.scanner is None and v2.scanner is not None and v2.scanner.scale == 1.0
    # the same anatomy (its random stream comes first), other lesions
    assert np.array_equal(v1.liver_mask.array, v2.liver_mask.array)
    assert [l.lesion_class for l in v1.lesions] == [l.lesion_class for l in v2.lesions]
    assert [l.box_ijk for l in v1.lesions] != [l.box_ijk for l in v2.lesions]
    out = write_phantom_study(v2, tmp_path / "v2")
    meta = json.loads((out / "study.json").read_text())
    assert meta["lesion_model"] == "v2" and set(meta["scanner_variation"]) >= {"noise_hu", "kernel", "slice_thickness_mm"}
    with pytest.raises(ValueError, match="lesion_model"):
        generate_ct_study(21, n_lesions=1, shape=(16, 64, 64), spacing_mm=(3.0, 3.0, 2.5), lesion_model="v3")


def test_lesion_model_v2_sizes_span_far_beyond_v1s_45_mm():
    sizes = [les.long_axis_length_mm for seed in range(30, 36)
             for les in generate_ct_study(seed, n_lesions=4, shape=(48, 160, 160), spacing_mm=(1.4, 1.4, 2.5),
                                          lesion_model="v2").lesions]
    assert min(sizes) < 12 and max(sizes) > 50
