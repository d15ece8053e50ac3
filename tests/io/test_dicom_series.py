"""DICOM series loading: grouping, slice order, oblique geometry, rescale, multi-frame, skipped files.

Every series here is written by the test itself with pydicom; the real-data tests compare against
SimpleITK's ImageSeriesReader on ../shared/data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    BasicTextSRStorage,
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from liverview.io.dicom_series import load_dicom_files, load_dicom_folder, parse_dicom_time
from liverview.io.errors import LoadError, MissingInputError, NoImageSeriesError


def rotation(ax_deg: float, ay_deg: float, az_deg: float) -> np.ndarray:
    ax, ay, az = np.radians([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def base_dataset(sop_class: str, series_uid: str, tsyntax: str = ExplicitVRLittleEndian, **tags) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = tsyntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = tags.pop("StudyInstanceUID", "1.2.3.4")
    ds.FrameOfReferenceUID = tags.pop("FrameOfReferenceUID", "1.2.3.5")
    ds.PatientID = tags.pop("PatientID", "P1")
    ds.Modality = tags.pop("Modality", "CT")
    for key, value in tags.items():
        setattr(ds, key, value)
    return ds


def write_slice(path: Path, series_uid: str, pixels: np.ndarray, position, row_cos, col_cos,
                pixel_spacing=(0.9, 0.7), instance: int = 1, slope: float = 1.0, intercept: float = 0.0,
                tsyntax: str = ExplicitVRLittleEndian, **tags) -> Path:
    """One CT slice; pixel_spacing is DICOM's (between rows, between columns)."""
    ds = base_dataset(CTImageStorage, series_uid, tsyntax, **tags)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row_cos, *col_cos)]
    ds.PixelSpacing = list(pixel_spacing)
    ds.InstanceNumber = instance
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def expected_voxels(n_slices: int, rows: int, cols: int) -> np.ndarray:
    k, j, i = np.meshgrid(np.arange(n_slices), np.arange(rows), np.arange(cols), indexing="ij")
    return (k * 400 + j * 20 + i).astype(np.int16)  # plausible CT numbers (air .. bone), distinct per slice


def write_oblique_series(folder: Path, seed: int = 1) -> dict:
    """7 oblique slices 0.7 x 0.9 x 2.5 mm, written in shuffled order with misleading numbers/names."""
    folder.mkdir(parents=True, exist_ok=True)
    rot = rotation(20, 20, 0)
    row, col, normal = rot[:, 0], rot[:, 1], rot[:, 2]
    origin = np.array([-101.3, 42.7, 310.2])
    n, rows, cols = 7, 12, 10
    values = expected_voxels(n, rows, cols)
    uid = generate_uid()
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    names = rng.permutation(n)
    for step, k in enumerate(order):
        position = origin + k * 2.5 * normal
        # InstanceNumber runs against the true order; file names are random.
        write_slice(folder / f"x{names[step]:02d}.dcm", uid, values[k], position, row, col,
                    pixel_spacing=(0.9, 0.7), instance=int(n - k), SeriesDescription="oblique")
    return dict(uid=uid, row=row, col=col, normal=normal, origin=origin, values=values)


def sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_oblique_shuffled_series_geometry_matches_dicom_math_and_simpleitk(tmp_path):
    truth = write_oblique_series(tmp_path / "s")
    report = load_dicom_folder(tmp_path / "s")
    assert len(report.series) == 1 and report.skipped == []
    series = report.series[0]
    vol = series.volume
    assert series.uid == truth["uid"] and series.description == "oblique"
    assert vol.array.shape == (7, 12, 10)
    np.testing.assert_array_equal(vol.array, truth["values"])  # sorted by position, not InstanceNumber
    np.testing.assert_allclose(vol.spacing, (0.7, 0.9, 2.5), atol=1e-6)
    np.testing.assert_allclose(vol.direction, np.column_stack([truth["row"], truth["col"], truth["normal"]]), atol=1e-6)
    image = sitk_series(tmp_path / "s")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), vol.array)
    for ijk in [(0, 0, 0), (9, 0, 0), (0, 11, 0), (0, 0, 6), (9, 11, 6), (3, 7, 2)]:
        i, j, k = ijk
        by_dicom = truth["origin"] + k * 2.5 * truth["normal"] + i * 0.7 * truth["row"] + j * 0.9 * truth["col"]
        ours = vol.index_to_world(ijk)
        np.testing.assert_allclose(ours, by_dicom, atol=0.01)
        np.testing.assert_allclose(ours, image.TransformIndexToPhysicalPoint(ijk), atol=0.01)
    assert [vol.world_to_index(vol.index_to_world((1, 2, 3)))[n] for n in range(3)] == pytest.approx([1, 2, 3])


def test_files_listed_in_slice_order(tmp_path):
    truth = write_oblique_series(tmp_path / "s", seed=5)
    series = load_dicom_folder(tmp_path / "s").series[0]
    positions = [np.asarray(pydicom.dcmread(f).ImagePositionPatient, float) @ truth["normal"] for f in series.files]
    assert positions == sorted(positions) and len(series.files) == 7


def test_rescale_slope_intercept_applied(tmp_path):
    uid = generate_uid()
    raw = np.arange(4 * 5, dtype=np.uint16).reshape(4, 5) * 100
    for k in range(3):
        write_slice(tmp_path / f"{k}.dcm", uid, raw + k, (0, 0, 2.0 * k), (1, 0, 0), (0, 1, 0),
                    slope=1, intercept=-1024)
    vol = load_dicom_folder(tmp_path).series[0].volume
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array[2], raw.astype(int) + 2 - 1024)

    uid2 = generate_uid()
    folder = tmp_path / "float"
    folder.mkdir()
    for k in range(2):
        write_slice(folder / f"{k}.dcm", uid2, raw, (0, 0, 2.0 * k), (1, 0, 0), (0, 1, 0),
                    slope=0.5 + k, intercept=-10.25)
    vol2 = load_dicom_folder(folder).series[0].volume
    assert vol2.array.dtype == np.float32
    np.testing.assert_allclose(vol2.array[0], raw * 0.5 - 10.25)
    np.testing.assert_allclose(vol2.array[1], raw * 1.5 - 10.25)


def test_empty_rescale_slope_means_one_with_a_warning(tmp_path):
    uid = generate_uid()
    raw = np.arange(4 * 5, dtype=np.uint16).reshape(4, 5) * 100
    for k in range(3):
        path = write_slice(tmp_path / f"{k}.dcm", uid, raw, (0, 0, 2.0 * k), (1, 0, 0), (0, 1, 0), intercept=-1024)
        ds = pydicom.dcmread(path)
        ds.RescaleSlope = ""
        ds.save_as(path)
    series = load_dicom_folder(tmp_path).series[0]
    assert series.volume.array.shape[0] == 3
    np.testing.assert_array_equal(series.volume.array[1], raw.astype(int) - 1024)
    assert any("RescaleSlope is empty: 1 assumed" in w for w in series.warnings)


def test_implausible_rescale_slope_is_still_refused(tmp_path):
    uid = generate_uid()
    for k in range(3):
        write_slice(tmp_path / f"{k}.dcm", uid, np.zeros((4, 5), np.int16), (0, 0, 2.0 * k), (1, 0, 0), (0, 1, 0),
                    slope=1e30)
    with pytest.raises(NoImageSeriesError, match="RescaleSlope"):
        load_dicom_folder(tmp_path)


def test_implicit_vr_and_12_bit_signed_values(tmp_path):
    uid = generate_uid()
    values = np.array([[-2000, -1], [0, 2047]], dtype=np.int16)
    for k in range(2):
        path = write_slice(tmp_path / f"{k}.dcm", uid, values, (0, 0, k), (1, 0, 0), (0, 1, 0),
                           tsyntax=ImplicitVRLittleEndian)
        ds = pydicom.dcmread(path)
        ds.BitsStored, ds.HighBit = 12, 11
        ds.save_as(path, enforce_file_format=True)
    vol = load_dicom_folder(tmp_path).series[0].volume
    np.testing.assert_array_equal(vol.array[0], values)
    np.testing.assert_array_equal(vol.array, np.stack([pydicom.dcmread(tmp_path / f"{k}.dcm").pixel_array for k in range(2)]))


def write_enhanced_ct(path: Path, frames: int = 5, shuffle: bool = True) -> dict:
    """An Enhanced CT multi-frame file: shared orientation / pixel measures, per-frame positions and rescale."""
    rot = rotation(0, 15, 30)
    row, col, normal = rot[:, 0], rot[:, 1], rot[:, 2]
    origin = np.array([10.0, -20.0, 30.0])
    rows, cols = 6, 8
    stored = expected_voxels(frames, rows, cols).astype(np.uint16)
    order = np.random.default_rng(3).permutation(frames) if shuffle else np.arange(frames)
    ds = base_dataset(EnhancedCTImageStorage, generate_uid(), SeriesDescription="enhanced",
                      AcquisitionDateTime="20240101101500.000")
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = [float(v) for v in (*row, *col)]
    shared.PlaneOrientationSequence = Sequence([orient])
    measures = Dataset()
    measures.PixelSpacing = [0.8, 0.6]
    measures.SliceThickness = 3.0
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    pixels = []
    for k in order:
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [float(v) for v in origin + k * 3.0 * normal]
        item.PlanePositionSequence = Sequence([pos])
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, -1000 + int(k), "HU"
        item.PixelValueTransformationSequence = Sequence([transform])
        per_frame.append(item)
        pixels.append(stored[k])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = np.stack(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    hu = stored.astype(int) + (-1000 + np.arange(frames))[:, None, None]
    return dict(row=row, col=col, normal=normal, origin=origin, hu=hu)


def test_multiframe_enhanced_ct(tmp_path):
    truth = write_enhanced_ct(tmp_path / "mf.dcm")
    report = load_dicom_folder(tmp_path)
    assert len(report.series) == 1
    series = report.series[0]
    vol = series.volume
    assert vol.array.shape == (5, 6, 8)
    np.testing.assert_array_equal(vol.array, truth["hu"])
    np.testing.assert_allclose(vol.spacing, (0.6, 0.8, 3.0), atol=1e-6)
    for ijk in [(0, 0, 0), (7, 5, 4), (2, 3, 1)]:
        i, j, k = ijk
        expect = truth["origin"] + i * 0.6 * truth["row"] + j * 0.8 * truth["col"] + k * 3.0 * truth["normal"]
        np.testing.assert_allclose(vol.index_to_world(ijk), expect, atol=0.01)
    assert series.files == [tmp_path / "mf.dcm"]
    assert series.acquisition_time_s == pytest.approx(10 * 3600 + 15 * 60)


def test_broken_text_and_sr_files_are_skipped_with_reasons(tmp_path):
    truth = write_oblique_series(tmp_path / "study" / "series")
    other = tmp_path / "study" / "junk"
    other.mkdir()
    # A slice of another series, truncated in its pixel data.
    good = write_slice(other / "trunc.dcm", generate_uid(), np.zeros((64, 64), np.int16), (0, 0, 0),
                       (1, 0, 0), (0, 1, 0))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) - 3000])
    (other / "notes.txt").write_text("not a DICOM file\n")
    sr = base_dataset(BasicTextSRStorage, generate_uid(), Modality="SR")
    sr.save_as(other / "report.dcm", enforce_file_format=True)
    header_only = other / "cut_header.dcm"
    header_only.write_bytes(data[:200])

    report = load_dicom_folder(tmp_path / "study")
    assert len(report.series) == 1
    np.testing.assert_array_equal(report.series[0].volume.array, truth["values"])
    reasons = {p.name: r for p, r in report.skipped}
    assert set(reasons) == {"trunc.dcm", "notes.txt", "report.dcm", "cut_header.dcm"}
    assert "truncated" in reasons["trunc.dcm"]
    assert "not a DICOM file" in reasons["notes.txt"]
    assert "SR" in reasons["report.dcm"]
    assert "no pixel data" in reasons["cut_header.dcm"]


def test_two_series_in_one_folder_are_grouped(tmp_path):
    a, b = generate_uid(), generate_uid()
    for k in range(4):
        write_slice(tmp_path / f"im{2 * k}.dcm", a, np.full((4, 4), k, np.int16), (0, 0, 5.0 * k),
                    (1, 0, 0), (0, 1, 0), SeriesDescription="A", SeriesNumber=1)
    for k in range(3):
        write_slice(tmp_path / f"im{2 * k + 1}.dcm", b, np.full((6, 5), 10 + k, np.int16), (0, 0, 1.0 * k),
                    (1, 0, 0), (0, 1, 0), SeriesDescription="B", SeriesNumber=2)
    report = load_dicom_folder(tmp_path)
    by_uid = {s.uid: s for s in report.series}
    assert set(by_uid) == {a, b}
    assert by_uid[a].volume.array.shape == (4, 4, 4) and by_uid[a].description == "A"
    assert by_uid[b].volume.array.shape == (3, 6, 5) and by_uid[b].volume.spacing[2] == pytest.approx(1.0)
    assert [int(v) for v in by_uid[a].volume.array[:, 0, 0]] == [0, 1, 2, 3]


def test_series_with_a_different_orientation_is_split(tmp_path):
    uid = generate_uid()
    for k in range(3):
        write_slice(tmp_path / f"ax{k}.dcm", uid, np.zeros((4, 4), np.int16), (0, 0, 2.0 * k), (1, 0, 0), (0, 1, 0))
    write_slice(tmp_path / "scout.dcm", uid, np.zeros((4, 4), np.int16), (0, 0, 0), (1, 0, 0), (0, 0, -1),
                ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    report = load_dicom_folder(tmp_path)
    assert sorted(s.volume.array.shape[0] for s in report.series) == [1, 3]
    assert {s.part for s in report.series} == {1, 2} and all(s.uid == uid for s in report.series)
    assert [s.is_localizer for s in report.series].count(True) == 1


def test_single_slice_series_uses_slice_thickness(tmp_path):
    write_slice(tmp_path / "one.dcm", generate_uid(), np.ones((5, 7), np.int16), (1, 2, 3), (1, 0, 0), (0, 1, 0),
                SliceThickness=3.75)
    vol = load_dicom_folder(tmp_path).series[0].volume
    assert vol.array.shape == (1, 5, 7) and vol.is_2d
    assert vol.spacing == pytest.approx((0.7, 0.9, 3.75))
    assert vol.origin == pytest.approx((1, 2, 3))


def test_missing_slice_keeps_every_slice_at_its_true_height(tmp_path):
    uid = generate_uid()
    for n, z in enumerate([0.0, 2.0, 4.0, 8.0, 10.0]):  # the slice at 6 mm is missing
        write_slice(tmp_path / f"{n}.dcm", uid, np.full((3, 3), 10 * n, np.int16), (0, 0, z), (1, 0, 0), (0, 1, 0))
    series = load_dicom_folder(tmp_path).series[0]
    vol = series.volume
    assert vol.spacing[2] == pytest.approx(2.0) and vol.array.shape[0] == 6
    assert vol.missing_slices == (3,)
    # Each acquired slice sits where its file says (the mean spacing, 2.5 mm, put the last one 2.5 mm off).
    for k, z, value in [(0, 0.0, 0), (2, 4.0, 20), (4, 8.0, 30), (5, 10.0, 40)]:
        assert vol.index_to_world((0, 0, k))[2] == pytest.approx(z)
        assert vol.value_at_world((0, 0, z)) == value
    assert vol.array[3, 0, 0] == 25  # filled from its neighbours for computations...
    assert vol.value_at_world((0, 0, 6.0)) is None  # ...but never read out as data
    assert series.slice_files[3] is None and series.slice_files[4].name == "3.dcm"
    (warning,) = [w for w in series.warnings if "missing" in w]
    assert "1 slice(s) missing" in warning and "slice 4 of 6" in warning and "2.000 mm" in warning


def test_spacing_without_a_regular_grid_keeps_the_mean_and_warns(tmp_path):
    uid = generate_uid()
    for n, z in enumerate([0.0, 2.0, 4.0, 7.0, 10.0]):  # 3 mm steps are no multiple of 2 mm
        write_slice(tmp_path / f"{n}.dcm", uid, np.zeros((3, 3), np.int16), (0, 0, z), (1, 0, 0), (0, 1, 0))
    series = load_dicom_folder(tmp_path).series[0]
    assert any("not uniform" in w and "approximate" in w for w in series.warnings)
    assert series.volume.spacing[2] == pytest.approx(2.5) and series.volume.missing_slices == ()


def test_duplicate_slices_are_dropped_with_a_warning(tmp_path):
    uid = generate_uid()
    for n, z in enumerate([0.0, 2.0, 2.0, 4.0]):
        write_slice(tmp_path / f"{n}.dcm", uid, np.full((3, 3), n, np.int16), (0, 0, z), (1, 0, 0), (0, 1, 0),
                    instance=n + 1)
    series = load_dicom_folder(tmp_path).series[0]
    assert series.volume.array.shape[0] == 3
    assert any("duplicate" in w for w in series.warnings)


def test_repeated_acquisitions_become_separate_volumes(tmp_path):
    uid = generate_uid()
    for acq in (1, 2):
        for k in range(3):
            write_slice(tmp_path / f"{acq}_{k}.dcm", uid, np.full((3, 3), acq, np.int16), (0, 0, 2.0 * k),
                        (1, 0, 0), (0, 1, 0), AcquisitionNumber=acq)
    report = load_dicom_folder(tmp_path)
    assert len(report.series) == 2
    assert sorted(int(s.volume.array[0, 0, 0]) for s in report.series) == [1, 2]


def write_run(folder: Path, uid: str, zs, acq: int, value: int = 0) -> None:
    """Slices at heights ``zs`` (2 mm apart) with one AcquisitionNumber."""
    for z in zs:
        write_slice(folder / f"{acq}_{z}.dcm", uid, np.full((3, 3), value + z, np.int16), (0, 0, 2.0 * z),
                    (1, 0, 0), (0, 1, 0), instance=100 * acq + z, AcquisitionNumber=acq)


def test_two_runs_sharing_a_boundary_slice_stay_one_volume(tmp_path):
    uid = generate_uid()
    write_run(tmp_path, uid, range(0, 11), acq=1)
    write_run(tmp_path, uid, range(10, 20), acq=2)
    report = load_dicom_folder(tmp_path)
    assert len(report.series) == 1
    series = report.series[0]
    assert series.volume.array.shape[0] == 20
    assert list(series.volume.array[:, 0, 0]) == list(range(20))
    assert any("duplicate" in w for w in series.warnings)


def test_one_duplicate_file_of_another_acquisition_is_not_a_phase(tmp_path):
    uid = generate_uid()
    write_run(tmp_path, uid, range(20), acq=1)
    write_run(tmp_path, uid, [7], acq=3)
    report = load_dicom_folder(tmp_path)
    assert [s.volume.array.shape[0] for s in report.series] == [20]
    assert any("duplicate" in w for w in report.series[0].warnings)


def test_a_stray_file_beside_repeated_acquisitions_is_left_out_with_a_warning(tmp_path):
    uid = generate_uid()
    write_run(tmp_path, uid, range(6), acq=1, value=100)
    write_run(tmp_path, uid, range(6), acq=2, value=200)
    write_run(tmp_path, uid, [3], acq=3, value=300)
    report = load_dicom_folder(tmp_path)
    assert sorted(int(s.volume.array[0, 0, 0]) for s in report.series) == [100, 200]
    assert all(s.volume.array.shape[0] == 6 for s in report.series)
    assert any("left out" in w and "3_3.dcm" in w for w in report.series[0].warnings)


def test_empty_folder_and_no_images_raise_load_error(tmp_path):
    with pytest.raises(NoImageSeriesError, match="empty"):
        load_dicom_folder(tmp_path)
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(LoadError, match="no DICOM image series"):
        load_dicom_folder(tmp_path)
    with pytest.raises(MissingInputError, match="no such folder"):
        load_dicom_folder(tmp_path / "absent")


def test_series_tags_are_reported(tmp_path):
    uid = generate_uid()
    for k in range(2):
        write_slice(tmp_path / f"{k}.dcm", uid, np.zeros((3, 3), np.int16), (0, 0, k), (1, 0, 0), (0, 1, 0),
                    AcquisitionTime=f"1012{30 + 5 * k:02d}.5", ContrastBolusAgent="Iomeron",
                    ContrastBolusStartTime="101200", ProtocolName="Liver 3 phase", SeriesNumber=4,
                    PatientID="ABC", StudyInstanceUID="9.8.7")
    s = load_dicom_files(sorted(tmp_path.iterdir())).series[0]
    assert s.acquisition_time_s == pytest.approx(10 * 3600 + 12 * 60 + 30.5)
    assert s.contrast_start_time_s == pytest.approx(10 * 3600 + 12 * 60)
    assert (s.contrast_agent, s.protocol_name, s.series_number, s.patient_id, s.study_uid) == (
        "Iomeron", "Liver 3 phase", 4, "ABC", "9.8.7")
    assert s.modality == "CT" and s.frame_of_reference_uid == "1.2.3.5"


def test_parse_dicom_time():
    assert parse_dicom_time("101530.25") == pytest.approx(36930.25)
    assert parse_dicom_time("10:15:30") == pytest.approx(36930)
    assert parse_dicom_time("1015") == pytest.approx(36900)
    assert parse_dicom_time("20240101101530.000000+0100") == pytest.approx(36930)
    assert parse_dicom_time("") is None and parse_dicom_time("noon") is None


# --- real data --------------------------------------------------------------------------------------
def compare_with_sitk(folder: Path):
    ours = load_dicom_folder(folder)
    assert len(ours.series) == 1 and ours.skipped == []
    vol = ours.series[0].volume
    image = sitk_series(folder)
    np.testing.assert_allclose(vol.spacing, image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(vol.origin, image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(vol.direction, np.reshape(image.GetDirection(), (3, 3)), atol=1e-6)
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(image))
    size = image.GetSize()
    for ijk in [(0, 0, 0), (size[0] - 1, size[1] - 1, size[2] - 1), (100, 300, size[2] // 2)]:
        np.testing.assert_allclose(vol.index_to_world(ijk), image.TransformIndexToPhysicalPoint(ijk), atol=0.01)
    return ours.series[0]


def test_real_ircadb_series_matches_simpleitk(shared_data):
    series = compare_with_sitk(shared_data / "ircadb-liver17" / "PATIENT_DICOM")
    vol = series.volume
    assert vol.array.shape == (119, 512, 512)
    assert vol.spacing == pytest.approx((0.743, 0.743, 1.6), abs=1e-3)


def test_real_lits_series_with_flipped_orientation_matches_simpleitk(shared_data, tmp_path):
    source = shared_data / "lits-volume0-dicom" / "ScalarVolume_0"
    series = compare_with_sitk(source)
    vol = series.volume
    assert vol.array.shape == (75, 512, 512)
    np.testing.assert_allclose(vol.direction, np.diag([1.0, -1.0, -1.0]), atol=1e-9)
    assert vol.origin == pytest.approx((-172.9, 179.297, 2.0))
    # Sorting does not depend on names: the same files renamed in reverse order load identically.
    files = series.files  # in slice order
    for n, f in enumerate(files[::5]):
        shutil.copy(f, tmp_path / f"{len(files) - n:03d}.dcm")
    sub = load_dicom_folder(tmp_path).series[0].volume
    np.testing.assert_array_equal(sub.array, vol.array[::5])
    assert sub.origin == pytest.approx(vol.origin) and sub.spacing[2] == pytest.approx(25.0)


def test_a_series_without_description_or_number_is_named_by_its_uid():
    from liverview.core.volume import Volume
    from liverview.io.dicom_series import DicomSeries

    def series(uid, description="", number=None):
        return DicomSeries(uid, description, "CT", Volume(np.zeros((2, 2, 2), np.int16)), [], series_number=number)

    assert series("1.2.3.4.5.6.7.8.90123456").label == "CT series (UID ...90123456)"
    assert series("1.2.3", number=4).label == "CT series 4"
    assert series("1.2.3", "PV 2mm").label == "PV 2mm"
