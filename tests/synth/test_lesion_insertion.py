"""Lesions inserted into a host CT: orientation, placement away from possible real lesions, labels that
match the painted voxels, determinism, the study layout train-detector reads, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liverview.cli import main
from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.training_data import load_cases_from_folder
from liverview.synth.ct_phantom import generate_ct_study, read_lesion_table, write_phantom_study
from liverview.synth.lesion_insertion import (IGNORE_MASK_FILE, canonical_orientation, generate_inserted_study,
                                              paint_lesions,
                                              prepare_host, suspicious_regions, write_inserted_study)
from liverview.synth.lesion_model import LOBULATION, draw_lesion_shape


@pytest.fixture(scope="module")
def phantom():
    # The phantom's own lesions stand in for a real host's unlabelled tumours.
    return generate_ct_study(11, n_lesions=3, shape=(40, 160, 160), spacing_mm=(1.2, 1.2, 2.5))


@pytest.fixture(scope="module")
def host(phantom):
    return prepare_host(phantom.phases[PhaseKind.PORTAL_VENOUS], phantom.liver_mask, "phantom11")


def test_canonical_orientation_keeps_every_voxel_at_its_world_position():
    arr = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    vol = Volume(arr, (0.7, 0.8, 5.0), (-10.0, 20.0, 30.0), np.diag([1.0, -1.0, -1.0]), "flipped")
    out = canonical_orientation(vol)
    assert np.allclose(out.direction, np.eye(3))
    for ijk in [(0, 0, 0), (4, 3, 2), (1, 2, 1)]:
        world = vol.index_to_world(ijk)
        new_ijk = np.rint(out.world_to_index(world)).astype(int)
        assert out.array[new_ijk[2], new_ijk[1], new_ijk[0]] == arr[ijk[2], ijk[1], ijk[0]]


def test_canonical_orientation_refuses_a_tilted_grid():
    c, s = np.cos(0.2), np.sin(0.2)
    vol = Volume(np.zeros((2, 2, 2), np.int16), (1, 1, 1), (0, 0, 0), np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]), "t")
    with pytest.raises(ValueError, match="axis-aligned"):
        canonical_orientation(vol)


def test_hypodense_host_lesions_are_marked_suspicious(phantom, host):
    labels = phantom.lesion_labels.array
    # the crop keeps the liver: map the host grid back by its origin offset
    off = np.rint((np.array(host.image.origin) - np.array(phantom.liver_mask.origin)) / np.array(host.image.spacing)).astype(int)
    nz, ny, nx = host.liver.shape
    crop = labels[off[2]:off[2] + nz, off[1]:off[1] + ny, off[0]:off[0] + nx]
    pv = phantom.phases[PhaseKind.PORTAL_VENOUS].array[off[2]:off[2] + nz, off[1]:off[1] + ny, off[0]:off[0] + nx]
    checked = 0
    for les in phantom.lesions:
        inside = crop == les.lesion_id
        dark = float(np.median(pv[inside])) < host.liver_hu - 30
        if dark and les.diameter_mm >= 8:
            assert host.suspicious[inside].mean() > 0.9, les
            checked += 1
    assert checked >= 1  # the seed gives at least one dark lesion: the check above ran
    assert host.suspicious.sum() < 0.6 * host.liver.sum()


def test_suspicious_regions_ignore_a_uniform_liver():
    liver = np.zeros((20, 40, 40), bool)
    liver[2:18, 5:35, 5:35] = True
    hu = np.where(liver, 110.0, -100.0).astype(np.float32)
    assert not suspicious_regions(hu, liver, (1.0, 1.0, 2.5), 110.0).any()
    hu[8:12, 15:22, 15:22] = 60.0  # a 7 mm dark nodule
    found = suspicious_regions(hu, liver, (1.0, 1.0, 2.5), 110.0)
    assert found[10, 18, 18] and not found[3, 6, 6]


def test_inserted_lesions_sit_in_the_liver_away_from_suspicious_regions(host):
    study = generate_inserted_study(host, seed=3, n_lesions=4)
    labels = study.lesion_labels.array
    assert 1 <= len(study.lesions) <= 4
    assert not (labels > 0)[study.ignore_mask.array > 0].any()
    outside = (labels > 0) & ~np.pad(host.liver, 1)[1:-1, 1:-1, 1:-1]
    assert outside.sum() <= 0.05 * (labels > 0).sum()
    for les in study.lesions:
        x0, y0, z0, x1, y1, z1 = les.box_ijk
        sub = labels[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] == les.lesion_id
        assert sub.any(axis=(1, 2))[[0, -1]].all() and sub.any(axis=(0, 1))[[0, -1]].all()
        assert 4.0 <= les.long_axis_length_mm <= 115.0
    # the painted voxels differ from the host where a lesion is, and (apart from the scanner draw) only there
    plain = generate_inserted_study(host, seed=3, n_lesions=4, augment=False)
    changed = np.abs(plain.image.array.astype(float) - np.rint(host.image.array)) > 2
    assert changed[plain.lesion_labels.array > 0].mean() > 0.5
    assert changed[(plain.lesion_labels.array == 0)].mean() < 0.02


def test_same_seed_same_voxels_other_seed_other_study(host):
    a = generate_inserted_study(host, seed=5, n_lesions=3)
    b = generate_inserted_study(host, seed=5, n_lesions=3)
    c = generate_inserted_study(host, seed=6, n_lesions=3)
    assert np.array_equal(a.image.array, b.image.array) and a.lesions == b.lesions
    assert not np.array_equal(a.image.array, c.image.array)


def test_written_study_trains_as_one_phase_with_its_ignore_mask(host, tmp_path):
    study = generate_inserted_study(host, seed=2, n_lesions=3)
    out = write_inserted_study(study, tmp_path / "h_s2")
    meta = json.loads((out / "study.json").read_text())
    assert list(meta["phases"]) == ["portal venous"] and meta["ignore_mask"] == IGNORE_MASK_FILE
    assert len(read_lesion_table(out / "lesions.csv")) == len(study.lesions)
    (case,) = load_cases_from_folder(tmp_path)
    assert set(case.phases) == {PhaseKind.PORTAL_VENOUS} and case.reference is PhaseKind.PORTAL_VENOUS
    assert case.ignore_mask == out / IGNORE_MASK_FILE
    assert [les.label_id for les in case.lesions] == [les.lesion_id for les in study.lesions]


def test_synth_inserted_cli_writes_one_study_per_seed(phantom, tmp_path, capsys):
    host_dir = tmp_path / "host"
    write_phantom_study(phantom, host_dir)
    rc = main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / "out"),
               "--name", "ph", "--seeds", "1-2", "--lesions", "2"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ph_s1", "ph_s2"]
    assert "possible real lesions" in capsys.readouterr().err
    assert main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / "o2"),
                 "--seeds", "3-1"]) != 0
    # small lesions only: every lesion's drawn diameter in the range, so none longer than its cap
    capsys.readouterr()
    assert main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / "small"),
                 "--seeds", "1", "--lesions", "4", "--size-range", "6", "12"]) == 0
    small = read_lesion_table(next((tmp_path / "small").iterdir()) / "lesions.csv")
    assert small and all(les.long_axis_length_mm <= 12 * 1.15 * 1.5 for les in small)
    assert max(les.long_axis_length_mm for les in small) < max(
        les.long_axis_length_mm for les in read_lesion_table(tmp_path / "out" / "ph_s1" / "lesions.csv"))
    for bad in (["0", "10"], ["20", "10"], ["5", "500"]):
        assert main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / "x"),
                     "--seeds", "1", "--size-range", *bad]) != 0
    assert "--size-range" in capsys.readouterr().err
    for flag, value in (("--surface-depth", "-1"), ("--max-extent", "0")):
        assert main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / "x"),
                     "--seeds", "1", flag, value]) != 0
        assert flag in capsys.readouterr().err


def test_a_surface_depth_lets_large_lesions_reach_the_liver_surface_instead_of_shrinking():
    from liverview.synth.lesion_insertion import place_lesions

    # a liver slab 40 mm thick: a lesion's centre 0.6 of its extent inside keeps lesions under about 66 mm
    liver = np.zeros((40, 120, 120), bool)
    liver[:, 10:110, 40:80] = True  # x: 40 px at 1 mm
    spacing = (1.0, 1.0, 2.5)
    avoid = np.zeros_like(liver)

    def widest(cap, seed):
        shapes = place_lesions(liver, avoid, spacing, 1, np.random.default_rng(seed), (60.0, 100.0), cap)
        return max((float(s.radii.max()) for s in shapes), default=0.0)

    shrunk = [widest(None, seed) for seed in range(8)]
    capped = [widest(8.0, seed) for seed in range(8)]
    assert max(shrunk) < 30.0  # 0.6 x extent + 2 mm within the slab's 20 mm half-thickness: none over 60 mm
    assert min(capped) >= 30.0  # drawn 60-100 mm, placed at that size
    depth_of_centre = []
    for s in place_lesions(liver, avoid, spacing, 3, np.random.default_rng(4), (70.0, 100.0), 8.0):
        x = s.centre[0] / spacing[0]
        depth_of_centre.append(min(x - 40 + 0.5, 80 - x - 0.5))
    assert min(depth_of_centre) >= 8.0 + 2.0 - 1.0  # the cap plus the 2 mm gap (a voxel of rounding)


def test_lesions_fit_the_sphere_bound_read_as_a_diameter():
    # a bug passed half the bound (57.5 mm for 5-100 mm draws): no inserted lesion passed about 55 mm
    from liverview.synth.lesion_insertion import place_lesions

    liver = np.zeros((80, 200, 200), bool)
    liver[5:75, 20:180, 20:180] = True  # deep enough for 100 mm lesions fully inside
    spacing = (1.0, 1.0, 2.5)

    def extents(bound):
        out = []
        for seed in range(4):
            for s in place_lesions(liver, np.zeros_like(liver), spacing, 1, np.random.default_rng(seed), (80.0, 100.0),
                                   None, bound):
                out.append(2 * float(s.radii.max()) * (1 + LOBULATION[s.lesion_class]))
        return out

    default, old = extents(None), extents(57.5)
    assert max(old) <= 57.5 + 1e-6 and max(default) <= 115.0 + 1e-6
    assert min(default) > 70.0  # drawn 80-100 mm and kept at that size


def test_the_default_draw_differs_from_the_old_bound_only_where_it_bound(host):
    # --max-extent 57.5 makes the shipped recipe's studies; on a host too small for large lesions, both agree
    a = generate_inserted_study(host, 5, 2)
    b = generate_inserted_study(host, 5, 2, max_extent_mm=57.5)
    assert max(les.long_axis_length_mm for les in a.lesions) < 50
    assert np.array_equal(a.image.array, b.image.array)


def _painted_contrast(cls: str, appearance: tuple, seed: int = 4) -> float:
    """Mean HU inside one lesion of ``cls`` painted into a uniform 100 HU liver, less the liver's."""
    hu = np.full((24, 64, 64), 100.0, np.float32)
    liver = np.ones(hu.shape, bool)
    shape = draw_lesion_shape(cls, 24.0, np.array([32.0, 32.0, 30.0]), np.random.default_rng(seed))
    out, labels, phases = paint_lesions(hu, liver, (1.0, 1.0, 2.5), [shape], 100.0, np.random.default_rng(seed),
                                        appearance)
    assert phases == [appearance[0]] and (labels == 1).sum() > 1000
    return float(out[labels == 1].mean() - 100.0)


def test_lesions_take_the_look_of_the_appearance_phase_asked_for():
    # HCC: bright in the arterial phase, washed out (dark) in the portal venous one; a metastasis dark in PV
    assert _painted_contrast("hcc", (PhaseKind.ARTERIAL,)) > 15.0
    assert _painted_contrast("hcc", (PhaseKind.PORTAL_VENOUS,)) < -5.0  # its capsule is bright
    assert _painted_contrast("metastasis", (PhaseKind.PORTAL_VENOUS,)) < -5.0
    # a cyst is water whatever the phase
    assert _painted_contrast("cyst", (PhaseKind.ARTERIAL,)) == pytest.approx(
        _painted_contrast("cyst", (PhaseKind.PORTAL_VENOUS,)))
    with pytest.raises(ValueError, match="appearance"):
        _painted_contrast("hcc", (PhaseKind.UNKNOWN,))


def test_mixed_appearance_is_drawn_per_lesion_recorded_and_the_default_unchanged(host, tmp_path):
    mixed = (PhaseKind.ARTERIAL, PhaseKind.PORTAL_VENOUS, PhaseKind.DELAYED)
    studies = [generate_inserted_study(host, seed=s, n_lesions=4, appearance=mixed) for s in (1, 2, 3)]
    drawn = [p for st in studies for p in st.appearance]
    assert all(len(st.appearance) == len(st.lesions) for st in studies) and len(set(drawn)) >= 2
    out = write_inserted_study(studies[0], tmp_path / "mix_s1")
    meta = json.loads((out / "study.json").read_text())
    assert meta["lesion_appearance_phases"] == {str(les.lesion_id): p.value
                                                for les, p in zip(studies[0].lesions, studies[0].appearance)}
    # the host's own phase, asked for or by default, makes the same voxels as before the option existed
    default = generate_inserted_study(host, seed=5, n_lesions=3)
    explicit = generate_inserted_study(host, seed=5, n_lesions=3, appearance=(PhaseKind.PORTAL_VENOUS,))
    assert np.array_equal(default.image.array, explicit.image.array)
    assert set(default.appearance) == {PhaseKind.PORTAL_VENOUS}


def test_synth_inserted_cli_reads_appearance_phases(phantom, tmp_path, capsys):
    host_dir = tmp_path / "host"
    write_phantom_study(phantom, host_dir)
    assert main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / "out"),
                 "--seeds", "1", "--lesions", "3", "--appearance", "art, pv,DEL"]) == 0
    assert any(f" {p} " in capsys.readouterr().out for p in ("ART", "PV", "DEL"))
    for bad in ("", "PV,XX", "venous"):
        assert main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / "x"),
                     "--seeds", "1", "--appearance", bad]) != 0
        assert "--appearance" in capsys.readouterr().err


def test_synth_inserted_finds_the_host_liver_with_the_classical_mask_unless_told(phantom, tmp_path, capsys):
    # the shipped models' data were made with liver_mask: changing the app's default must not change them
    import re

    from liverview.plugin_registry import discover_plugins

    host_dir = tmp_path / "host"
    write_phantom_study(phantom, host_dir)
    pv = phantom.phases[PhaseKind.PORTAL_VENOUS]
    voxel_ml = float(np.prod(pv.spacing)) / 1000
    expected = {}
    for name in ("liver_mask", "liver_unet"):
        seg = discover_plugins().resolve("liver-segmenter", name).create(device="cpu")
        expected[name] = seg.segment({PhaseKind.PORTAL_VENOUS: pv}, PhaseKind.PORTAL_VENOUS).array.sum() * voxel_ml
    assert abs(expected["liver_mask"] - expected["liver_unet"]) >= 2  # the two can be told apart by volume
    for args, name in (([], "liver_mask"), (["--liver-segmenter", "liver_unet"], "liver_unet")):
        assert main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / name),
                     "--seeds", "1", "--lesions", "1", *args]) == 0
        found = float(re.search(r"liver (\d+) mL", capsys.readouterr().err).group(1))
        assert abs(found - expected[name]) <= 1, (name, found, expected)
    assert main(["synth-inserted", str(host_dir / "portal-venous.nii.gz"), "--out", str(tmp_path / "x"),
                 "--seeds", "1", "--liver-segmenter", "nope"]) != 0
    assert "no liver-segmenter named 'nope'" in capsys.readouterr().err
