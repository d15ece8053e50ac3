"""Volume files: NIfTI / NRRD / MetaImage round trips, SimpleITK converters, dtype and NaN handling."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from liverview.core.volume import Volume
from liverview.io.errors import LoadError, MissingInputError, SaveError, UnsupportedFormatError
from liverview.io.volumes import (
    is_volume_file,
    read_volume,
    volume_from_sitk,
    volume_stem,
    volume_to_sitk,
    write_volume,
)


def oblique_direction() -> np.ndarray:
    a, b = np.radians(25), np.radians(-10)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx @ np.diag([1.0, -1.0, 1.0])  # also a reflection: det -1


def sample_volume(dtype=np.int16) -> Volume:
    k, j, i = np.meshgrid(np.arange(4), np.arange(5), np.arange(6), indexing="ij")
    array = (k * 100 + j * 10 + i - 200).astype(dtype)
    return Volume(array, (0.7, 0.9, 2.5), (-12.5, 30.25, 101.0), oblique_direction(), "sample")


def test_sitk_converters_keep_geometry():
    vol = sample_volume()
    image = volume_to_sitk(vol)
    assert image.GetSize() == (6, 5, 4)
    for ijk in [(0, 0, 0), (5, 4, 3), (2, 1, 3)]:
        np.testing.assert_allclose(image.TransformIndexToPhysicalPoint(ijk), vol.index_to_world(ijk), atol=1e-9)
    back = volume_from_sitk(image, "back")
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.direction, vol.direction, atol=1e-12)
    assert back.spacing == pytest.approx(vol.spacing) and back.origin == pytest.approx(vol.origin)


def test_volume_from_sitk_direction_is_not_transposed():
    image = sitk.Image(4, 3, 2, sitk.sitkInt16)
    d = oblique_direction()
    image.SetDirection(tuple(d.reshape(9)))
    image.SetSpacing((1.0, 2.0, 3.0))
    vol = volume_from_sitk(image)
    # Moving one step along j moves by spacing_j along the j column of the direction matrix.
    step = np.asarray(image.TransformIndexToPhysicalPoint((0, 1, 0))) - np.asarray(image.GetOrigin())
    np.testing.assert_allclose(step, 2.0 * vol.direction[:, 1], atol=1e-12)
    np.testing.assert_allclose(vol.index_to_world((0, 1, 0)), step + np.asarray(image.GetOrigin()), atol=1e-12)


@pytest.mark.parametrize("name", ["vol.nii.gz", "vol.nii", "vol.nrrd", "vol.mha"])
def test_round_trip_with_non_identity_direction(tmp_path, name):
    vol = sample_volume()
    path = write_volume(vol, tmp_path / name)
    back = read_volume(path)
    assert back.array.dtype == np.int16
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.direction, vol.direction, atol=1e-5)
    np.testing.assert_allclose(back.spacing, vol.spacing, atol=1e-5)
    np.testing.assert_allclose(back.origin, vol.origin, atol=1e-4)
    for ijk in [(0, 0, 0), (5, 4, 3)]:
        np.testing.assert_allclose(back.index_to_world(ijk), vol.index_to_world(ijk), atol=1e-3)
    assert back.name == "vol"


def test_nan_voxels_replaced_and_reported(tmp_path):
    vol = sample_volume(np.float32)
    vol.array[1, 2, 3] = np.nan
    vol.array[0, 0, 0] = np.inf
    write_volume(vol, tmp_path / "nan.nii.gz")
    problems: list[str] = []
    back = read_volume(tmp_path / "nan.nii.gz", problems)
    assert np.isfinite(back.array).all()
    finite_min = np.nanmin(np.where(np.isfinite(vol.array), vol.array, np.nan))
    assert back.array[1, 2, 3] == finite_min and back.array[0, 0, 0] == finite_min
    assert len(problems) == 1 and "2 non-finite" in problems[0] and "NaN" in problems[0]
    others = np.isfinite(vol.array)
    np.testing.assert_array_equal(back.array[others], vol.array[others])


def test_float_nifti_voxels_and_scaling_match_simpleitk(tmp_path):
    """Float NIfTI voxels are read by LiverView itself (to see NaNs): they must equal ITK's reading."""
    vol = sample_volume(np.float32)
    vol.array[...] = vol.array * 0.5 + 0.25
    path = write_volume(vol, tmp_path / "f.nii", compress=False)
    raw = bytearray(path.read_bytes())
    raw[112:120] = np.array([2.0, 5.0], "<f4").tobytes()  # scl_slope 2, scl_inter 5
    path.write_bytes(bytes(raw))
    ours = read_volume(path)
    theirs = sitk.ReadImage(str(path))
    np.testing.assert_allclose(ours.array, sitk.GetArrayFromImage(theirs), rtol=1e-6)
    np.testing.assert_allclose(ours.array, vol.array * 2 + 5, rtol=1e-6)
    np.testing.assert_allclose(ours.direction, np.reshape(theirs.GetDirection(), (3, 3)), atol=1e-12)
    np.testing.assert_allclose(ours.origin, theirs.GetOrigin(), atol=1e-12)


def test_all_nan_volume_is_an_error(tmp_path):
    vol = Volume(np.full((2, 2, 2), np.nan, np.float32))
    write_volume(vol, tmp_path / "allnan.nii.gz")
    with pytest.raises(LoadError, match="every voxel"):
        read_volume(tmp_path / "allnan.nii.gz")


def test_dtype_conversions(tmp_path):
    small = Volume(np.arange(8, dtype=np.uint16).reshape(2, 2, 2))
    write_volume(small, tmp_path / "u16.nrrd")
    assert read_volume(tmp_path / "u16.nrrd").array.dtype == np.int16
    big = Volume(np.array([0, 40000] * 4, dtype=np.uint16).reshape(2, 2, 2))
    write_volume(big, tmp_path / "u16big.nrrd")
    back = read_volume(tmp_path / "u16big.nrrd")
    assert back.array.dtype == np.int32 and back.array.max() == 40000
    dbl = Volume(np.linspace(0, 1, 8).reshape(2, 2, 2))
    write_volume(dbl, tmp_path / "f64.nii.gz")
    assert read_volume(tmp_path / "f64.nii.gz").array.dtype == np.float32
    labels = Volume(np.array([0, 1, 2, 1] * 2, dtype=np.uint8).reshape(2, 2, 2))
    write_volume(labels, tmp_path / "labels.nii.gz")
    assert read_volume(tmp_path / "labels.nii.gz").array.dtype == np.uint8


@pytest.mark.parametrize("name", ["huge.nrrd", "huge.nii"])
def test_float64_values_beyond_float32_are_refused_not_turned_into_nan(tmp_path, name):
    """Finite values over float32's range would become inf on the cast and then be reported as NaN/inf."""
    array = np.linspace(0, 1e40, 4 * 5 * 6).reshape(4, 5, 6)
    array[0, 0, 0] = np.nan
    write_volume(Volume(array), tmp_path / name, compress=False)
    with pytest.raises(UnsupportedFormatError, match=r"values up to 1e\+40") as caught:
        read_volume(tmp_path / name)
    assert "non-finite" not in str(caught.value) and name in str(caught.value)


def test_float64_nan_count_is_the_files_own(tmp_path):
    array = np.linspace(-1000, 3e38, 4 * 5 * 6).reshape(4, 5, 6)
    array[1, 2, 3] = np.nan
    write_volume(Volume(array), tmp_path / "f64.nrrd")
    problems: list[str] = []
    back = read_volume(tmp_path / "f64.nrrd", problems)
    assert back.array.dtype == np.float32 and np.isfinite(back.array).all()
    assert any("1 non-finite" in p for p in problems) and not any("overflow" in p for p in problems)
    assert back.array[1, 2, 3] == -1000


def test_two_d_image_becomes_one_slice(tmp_path):
    image = sitk.GetImageFromArray(np.arange(12, dtype=np.int16).reshape(3, 4))
    image.SetSpacing((0.5, 0.25))
    sitk.WriteImage(image, str(tmp_path / "flat.mha"))
    vol = read_volume(tmp_path / "flat.mha")
    assert vol.array.shape == (1, 3, 4) and vol.spacing == pytest.approx((0.5, 0.25, 1.0))


def test_errors_name_the_path(tmp_path):
    with pytest.raises(MissingInputError, match="absent.nii.gz"):
        read_volume(tmp_path / "absent.nii.gz")
    bad = tmp_path / "garbage.nii.gz"
    bad.write_text("this is not a NIfTI file")
    with pytest.raises(LoadError, match="garbage.nii.gz: cannot be read"):
        read_volume(bad)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UnsupportedFormatError, match="unsupported file type"):
        read_volume(tmp_path / "notes.txt")
    with pytest.raises(UnsupportedFormatError, match="is a folder"):
        read_volume(tmp_path)
    rgb = sitk.Image([3, 3, 3], sitk.sitkVectorUInt8, 3)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.mha"))
    with pytest.raises(UnsupportedFormatError, match="3 components"):
        read_volume(tmp_path / "rgb.mha")
    with pytest.raises(SaveError, match="does not exist"):
        write_volume(sample_volume(), tmp_path / "no" / "such.nii.gz")
    with pytest.raises(SaveError, match="unsupported"):
        write_volume(sample_volume(), tmp_path / "x.png")


def test_file_name_helpers():
    assert volume_stem("/a/b/portal-venous.nii.gz") == "portal-venous"
    assert volume_stem("ct.MHA") == "ct"
    assert is_volume_file("x.NII.GZ") and is_volume_file("y.nhdr") and not is_volume_file("z.dcm")


def test_real_nifti_matches_its_dicom_series(shared_data):
    from liverview.io.dicom_series import load_dicom_folder

    nifti = read_volume(shared_data / "ircadb-liver17" / "ct.nii.gz")
    dicom = load_dicom_folder(shared_data / "ircadb-liver17" / "PATIENT_DICOM").series[0].volume
    assert nifti.array.dtype == np.int16
    np.testing.assert_array_equal(nifti.array, dicom.array)
    np.testing.assert_allclose(nifti.direction, dicom.direction, atol=1e-6)
    np.testing.assert_allclose(nifti.spacing, dicom.spacing, atol=1e-5)
    np.testing.assert_allclose(nifti.origin, dicom.origin, atol=1e-4)
