"""NIfTI label maps: lesion n is value n on the reference grid; a sidecar names the labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from liverview.core.volume import Volume
from liverview.io.export.nifti_labels import (
    LabelMapError,
    LesionMask,
    read_label_map,
    sidecar_path,
    write_label_map,
)


def _oblique_reference() -> Volume:
    c, s = np.cos(0.4), np.sin(0.4)
    direction = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    return Volume(
        np.zeros((6, 10, 12), np.int16), spacing=(0.7, 0.9, 2.5), origin=(-5, 7, 100), direction=direction, name="pv"
    )


def test_masks_and_geometry_round_trip(tmp_path):
    ref = _oblique_reference()
    a = np.zeros(ref.array.shape, bool)
    a[1:3, 2:5, 3:7] = True
    b = np.zeros(ref.array.shape, bool)
    b[4, 6:9, 1:2] = True
    lesions = [LesionMask("L1", a, "hcc"), LesionMask("L2", b, "cyst"), LesionMask("L3", np.zeros_like(a))]
    path = tmp_path / "lesions.nii.gz"
    sidecar = write_label_map(lesions, ref, path)
    assert sidecar == tmp_path / "lesions.labels.json" == sidecar_path(path)
    assert json.loads(sidecar.read_text())["labels"] == [
        {"value": 1, "lesion_id": "L1", "lesion_class": "hcc"},
        {"value": 2, "lesion_id": "L2", "lesion_class": "cyst"},
        {"value": 3, "lesion_id": "L3", "lesion_class": ""},
    ]
    # what another tool sees: the values on the reference grid
    image = sitk.ReadImage(str(path))
    assert np.allclose(image.GetSpacing(), ref.spacing) and np.allclose(image.GetOrigin(), ref.origin)
    assert np.allclose(np.reshape(image.GetDirection(), (3, 3)), ref.direction)
    values = sitk.GetArrayFromImage(image)
    assert values.dtype == np.uint8
    assert (values == 1).sum() == a.sum() and (values == 2).sum() == b.sum() and values[a].min() == 1
    label_map = read_label_map(path)
    assert [(m.lesion_id, m.lesion_class) for m in label_map.lesions] == [("L1", "hcc"), ("L2", "cyst"), ("L3", "")]
    for got, want in zip(label_map.lesions, (a, b, np.zeros_like(a))):
        assert np.array_equal(got.mask, want)
    assert np.allclose(label_map.grid.index_to_world_matrix, ref.index_to_world_matrix)


def test_overlapping_or_misfitting_masks_are_refused(tmp_path):
    ref = _oblique_reference()
    a = np.zeros(ref.array.shape, bool)
    a[1:3, 2:5, 3:7] = True
    b = np.zeros_like(a)
    b[2, 4, 6] = True
    with pytest.raises(LabelMapError, match="'L1' and 'L2' share 1 voxels"):
        write_label_map([LesionMask("L1", a), LesionMask("L2", b)], ref, tmp_path / "x.nii.gz")
    with pytest.raises(LabelMapError, match="resample"):
        write_label_map([LesionMask("L1", a[:-1])], ref, tmp_path / "x.nii.gz")
    with pytest.raises(LabelMapError, match="repeat"):
        write_label_map([LesionMask("L1", a), LesionMask("L1", np.zeros_like(a))], ref, tmp_path / "x.nii.gz")


def test_label_map_without_sidecar_reads_lesions_by_value(shared_data):
    path = shared_data / "ircadb-liver17" / "tumor_instances.nii.gz"
    label_map = read_label_map(path)
    assert [m.lesion_id for m in label_map.lesions] == ["1", "2"]
    assert [int(m.mask.sum()) for m in label_map.lesions] == [96961, 89029]  # as SOURCE.txt states
    assert label_map.grid.spacing == pytest.approx((0.743, 0.743, 1.6), abs=1e-6)


def test_float_images_are_not_label_maps(tmp_path):
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4), np.float32)), str(path))
    with pytest.raises(LabelMapError, match="integers"):
        read_label_map(path)


def test_the_sidecar_never_replaces_the_lesion_json_of_the_same_name(tmp_path):
    ref = _oblique_reference()
    a = np.zeros(ref.array.shape, bool)
    a[1:3, 2:5, 3:7] = True
    lesion_json = tmp_path / "lesions.json"  # the JSON export's default name, beside lesions.nii.gz
    lesion_json.write_text('{"format": "liverview-lesions"}\n')
    write_label_map([LesionMask("L1", a, "hcc")], ref, tmp_path / "lesions.nii.gz")
    assert lesion_json.read_text() == '{"format": "liverview-lesions"}\n'
    assert [m.lesion_id for m in read_label_map(tmp_path / "lesions.nii.gz").lesions] == ["L1"]


def test_a_sidecar_written_before_the_rename_is_still_read(tmp_path):
    ref = _oblique_reference()
    a = np.zeros(ref.array.shape, bool)
    a[1:3, 2:5, 3:7] = True
    path = tmp_path / "old.nii.gz"
    write_label_map([LesionMask("L7", a, "cyst")], ref, path)
    sidecar_path(path).rename(tmp_path / "old.json")  # the name exports used until 2026-12-02
    assert [(m.lesion_id, m.lesion_class) for m in read_label_map(path).lesions] == [("L7", "cyst")]
    (tmp_path / "old.json").write_text('{"format": "liverview-lesions", "lesions": []}')  # some other JSON
    assert [(m.lesion_id, m.lesion_class) for m in read_label_map(path).lesions] == [("1", "")]


def test_a_failed_write_keeps_the_previous_label_map_and_sidecar(tmp_path, monkeypatch):
    ref = _oblique_reference()
    a = np.zeros(ref.array.shape, bool)
    a[1:3, 2:5, 3:7] = True
    path = tmp_path / "lesions.nii.gz"
    write_label_map([LesionMask("L1", a, "hcc")], ref, path)
    before = path.read_bytes(), sidecar_path(path).read_bytes()

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", fail)  # the image is written, the sidecar fails
    with pytest.raises(LabelMapError, match="No space left"):
        write_label_map([LesionMask("L1", a, "hcc"), LesionMask("L2", ~a, "cyst")], ref, path)
    assert (path.read_bytes(), sidecar_path(path).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesions.labels.json", "lesions.nii.gz"]
    with pytest.raises(LabelMapError, match="one file"):
        write_label_map([LesionMask("L1", a, "hcc")], ref, tmp_path / "x.mhd")
