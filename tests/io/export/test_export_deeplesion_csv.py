"""DeepLesion DL_info.csv: the published files read without errors and write back unchanged."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.io.export.deeplesion_csv import (
    DL_INFO_COLUMNS,
    DeepLesionCsvError,
    DeepLesionGeometryError,
    DeepLesionScan,
    deeplesion_row_to_recist,
    deeplesion_slice_k,
    deeplesion_slice_number,
    read_deeplesion_csv,
    recist_to_deeplesion_row,
    write_deeplesion_csv,
)
from liverview.measure import RecistMeasurement, recist_from_mask

HEADER = ",".join(DL_INFO_COLUMNS)
GOOD = (
    '000001_01_01_109.png,1,1,1,109,"233.537, 95.0204, 234.057, 106.977, 231.169, 101.605, 236.252, 101.143",'
    '"226.169, 90.0204, 241.252, 111.977","11.9677, 5.10387","0.44666, 0.283794, 0.434454",3,0,"103, 115",'
    '"0.488281, 0.488281, 5","512, 512","-175, 275",F,62.0,3'
)


def _dlinfo(shared_data: Path) -> Path:
    return shared_data / "deeplesion-dlinfo"


def test_subset_round_trips_byte_for_byte(shared_data, tmp_path):
    source = _dlinfo(shared_data) / "DL_info_subset158_joint_conference.csv"
    rows, errors = read_deeplesion_csv(source)
    assert (len(rows), errors) == (158, [])
    out = tmp_path / "DL_info.csv"
    write_deeplesion_csv(rows, out)
    assert out.read_bytes() == source.read_bytes()
    again, errors = read_deeplesion_csv(out)
    assert errors == [] and again == rows


def test_published_test_split_reads_without_errors_and_round_trips(shared_data, tmp_path):
    source = _dlinfo(shared_data) / "DL_info_niftiID_test.csv"
    rows, errors = read_deeplesion_csv(source)
    assert (len(rows), errors) == (4927, [])
    assert {r.train_val_test for r in rows} == {3}
    assert rows[0].extra == {"Nifti_ct_name": "000001_01_01_103-115.nii.gz"}
    first = rows[0]
    assert first.long_axis_px == ((233.537, 95.0204), (234.057, 106.977))
    assert first.short_axis_px == ((231.169, 101.605), (236.252, 101.143))
    assert (first.key_slice_index, first.slice_range, first.spacing_mm) == (109, (103, 115), (0.488281, 0.488281, 5.0))
    assert (first.patient_gender, first.patient_age, first.dicom_window) == ("F", 62.0, (-175.0, 275.0))
    out = tmp_path / "test.csv"
    write_deeplesion_csv(rows, out)
    again, errors = read_deeplesion_csv(out)
    assert errors == [] and again == rows
    # the text is the same too, except that ages are written as the years they are ("62", not "62.0")
    age = list(DL_INFO_COLUMNS).index("Patient_age")
    with source.open(newline="") as a, out.open(newline="") as b:
        for n, (x, y) in enumerate(zip(csv.reader(a), csv.reader(b))):
            if n:
                assert float(x[age]) == float(y[age])
                x[age] = y[age]
            assert x == y


def test_liver_subset_with_extra_leading_column_keeps_it(shared_data):
    rows, errors = read_deeplesion_csv(_dlinfo(shared_data) / "DeepLesion_Liver_test_set.csv")
    assert (len(rows), errors) == (700, [])
    assert {r.coarse_lesion_type for r in rows} == {4}
    assert set(rows[0].extra) == {"index", "Nifty_FileName", "CT_Nifty_FileName"}


def test_published_boxes_are_the_end_points_padded_by_five_pixels(shared_data):
    """The conventions recist_to_deeplesion_row follows, checked on every published test row."""
    rows, _ = read_deeplesion_csv(_dlinfo(shared_data) / "DL_info_niftiID_test.csv")
    for r in rows:
        xy = np.reshape(r.measurement_coordinates, (4, 2))
        padded = (*(xy.min(axis=0) - 5), *(xy.max(axis=0) + 5))
        assert np.allclose(r.bounding_box, padded, atol=2e-3), r.file_name
        lengths = (np.linalg.norm(xy[1] - xy[0]), np.linalg.norm(xy[3] - xy[2]))
        assert np.allclose(r.lesion_diameters_px, lengths, atol=2e-3), r.file_name


def test_malformed_rows_are_reported_with_line_numbers_and_the_rest_imported(tmp_path):
    bad_columns = GOOD.rsplit(",", 1)[0]  # one column short
    non_numeric = GOOD.replace("233.537", "abc")
    three_coords = GOOD.replace(
        '"233.537, 95.0204, 234.057, 106.977, 231.169, 101.605, 236.252, 101.143"', '"233.537, 95.0204, 234.057"'
    )
    bad_type = GOOD.replace(",3,0,", ",9,0,")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join([HEADER, GOOD, bad_columns, non_numeric, "", three_coords, GOOD, bad_type]) + "\n")
    rows, errors = read_deeplesion_csv(path)
    assert len(rows) == 2
    assert [e.line for e in errors] == [3, 4, 6, 8]
    assert "17 columns, the header has 18" in errors[0].reason
    assert "Measurement_coordinates" in errors[1].reason and "not a number" in errors[1].reason
    assert "needs 8" in errors[2].reason and "got 3" in errors[2].reason
    assert "Coarse_lesion_type" in errors[3].reason
    assert str(errors[0]).startswith("line 3: ")


def test_files_that_are_not_dl_info_are_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DeepLesionCsvError, match="lacks the DeepLesion columns"):
        read_deeplesion_csv(path)
    with pytest.raises(DeepLesionCsvError, match="cannot open"):
        read_deeplesion_csv(tmp_path / "missing.csv")


def test_published_row_converts_to_mm_and_back(shared_data):
    rows, _ = read_deeplesion_csv(_dlinfo(shared_data) / "DL_info_subset158_joint_conference.csv")
    row = rows[0]  # 000089_01_01_037.png, slices 31..43, 0.859375 mm pixels
    assert row.file_name == "000089_01_01_037.png"
    first, last = row.slice_range
    volume = Volume(
        np.zeros((last - first + 1, 512, 512), np.int16), spacing=row.spacing_mm, origin=(-220.0, -180.0, -300.0)
    )
    m = deeplesion_row_to_recist(row, volume, first_slice_number=first, lesion_id="L7")
    assert m.key_slice == row.key_slice_index - first
    # square pixels: mm = pixels x spacing
    assert m.long_axis_mm == pytest.approx(row.lesion_diameters_px[0] * row.spacing_mm[0], abs=2e-3)
    assert m.short_axis_mm == pytest.approx(row.lesion_diameters_px[1] * row.spacing_mm[0], abs=2e-3)
    scan = DeepLesionScan(
        patient_index=row.patient_index,
        study_index=row.study_index,
        series_id=row.series_id,
        first_slice_number=first,
        patient_gender=row.patient_gender,
        patient_age=row.patient_age,
        train_val_test=row.train_val_test,
    )
    back = recist_to_deeplesion_row(
        m, volume, scan, coarse_lesion_type=row.coarse_lesion_type, normalized_location=row.normalized_location
    )
    assert back.file_name == row.file_name
    assert back.slice_range == row.slice_range
    assert np.allclose(back.measurement_coordinates, row.measurement_coordinates, atol=1e-9)
    assert np.allclose(back.bounding_box, row.bounding_box, atol=2e-3)
    assert np.allclose(back.lesion_diameters_px, row.lesion_diameters_px, atol=2e-3)
    assert (back.spacing_mm, back.image_size, back.dicom_window) == (row.spacing_mm, row.image_size, row.dicom_window)


def test_anisotropic_measurement_becomes_pixel_corners_and_a_padded_box(tmp_path):
    mask = np.zeros((30, 40), bool)
    mask[10:14, 5:15] = True  # 10 columns x 4 rows
    volume = Volume(np.zeros((6, 30, 40)), spacing=(0.5, 2.0, 3.0), origin=(10, 20, 30))
    m = recist_from_mask(mask, volume, key_slice=2)
    row = recist_to_deeplesion_row(m, volume, DeepLesionScan(42, 1, 2), coarse_lesion_type=4)
    xy = np.reshape(row.measurement_coordinates, (4, 2))
    assert {tuple(p) for p in xy[:2]} in ({(4.5, 9.5), (14.5, 13.5)}, {(4.5, 13.5), (14.5, 9.5)})
    assert row.bounding_box == (-0.5, 4.5, 19.5, 18.5)
    assert row.lesion_diameters_px[0] == pytest.approx(np.hypot(10, 4))
    # slices 0..5 run feet to head (identity direction): DeepLesion numbers head first, so k = 2 is slice 4 of 6
    assert (row.file_name, row.key_slice_index, row.slice_range) == ("000042_01_02_004.png", 4, (1, 6))
    assert (row.image_size, row.normalized_location) == ((40, 30), None)
    out = tmp_path / "ours.csv"
    write_deeplesion_csv([row], out)
    (read_row,), errors = read_deeplesion_csv(out)
    assert errors == []
    assert read_row.normalized_location is None
    again = deeplesion_row_to_recist(read_row, volume)
    for a, b in zip(again.long_axis + again.short_axis, m.long_axis + m.short_axis):
        assert np.allclose(a, b, atol=1e-4)  # 6 significant digits of pixels


def test_conversion_errors_say_what_does_not_fit():
    volume = Volume(np.zeros((4, 20, 20)), spacing=(0.7, 0.7, 5.0))
    on_k1 = RecistMeasurement(((1, 1, 5), (8, 3, 5)), None, key_slice=1)
    with pytest.raises(DeepLesionGeometryError, match="both axes"):
        recist_to_deeplesion_row(on_k1, volume, DeepLesionScan(1, 1, 1))
    tilted = RecistMeasurement(((1, 1, 5), (8, 3, 10)), ((2, 2, 5), (2, 3, 5)), key_slice=1)
    with pytest.raises(DeepLesionGeometryError, match="k slice"):
        recist_to_deeplesion_row(tilted, volume, DeepLesionScan(1, 1, 1))
    mislabelled = RecistMeasurement(((1, 1, 5), (8, 3, 5)), ((2, 2, 5), (2, 3, 5)), key_slice=2)
    with pytest.raises(DeepLesionGeometryError, match="names key slice 2"):
        recist_to_deeplesion_row(mislabelled, volume, DeepLesionScan(1, 1, 1))
    good = replace(mislabelled, key_slice=1)
    row = recist_to_deeplesion_row(good, volume, DeepLesionScan(1, 1, 1))
    with pytest.raises(DeepLesionGeometryError, match="image size"):
        deeplesion_row_to_recist(row, Volume(np.zeros((4, 20, 21)), spacing=(0.7, 0.7, 5.0)))
    with pytest.raises(DeepLesionGeometryError, match="pixel spacing"):
        deeplesion_row_to_recist(row, Volume(np.zeros((4, 20, 20)), spacing=(0.8, 0.8, 5.0)))
    with pytest.raises(DeepLesionGeometryError, match="outside"):
        deeplesion_row_to_recist(row, volume, first_slice_number=10)


def test_rows_without_eight_coordinates_are_not_written(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text(HEADER + "\n" + GOOD + "\n")
    (row,), _ = read_deeplesion_csv(path)
    out = tmp_path / "out.csv"
    with pytest.raises(DeepLesionCsvError, match="needs 8"):
        write_deeplesion_csv([replace(row, measurement_coordinates=row.measurement_coordinates[:6])], out)
    assert not out.exists()


@pytest.mark.parametrize("k_towards, expected", [("head", [6, 5, 4, 3, 2, 1]), ("feet", [1, 2, 3, 4, 5, 6])])
def test_slices_are_numbered_from_the_head_as_deeplesion_numbers_them(k_towards, expected):
    direction = np.eye(3) if k_towards == "head" else np.diag([1.0, 1.0, -1.0])
    volume = Volume(np.zeros((6, 30, 40)), spacing=(0.7, 0.7, 5.0), direction=direction)
    numbers = [deeplesion_slice_number(k, volume) for k in range(6)]
    assert numbers == expected  # 1 is always the head-most slice
    assert [deeplesion_slice_k(n, volume) for n in numbers] == list(range(6))
    assert deeplesion_slice_number(0, volume, first_slice_number=31) == expected[0] + 30  # a sub-volume
    mask = np.zeros((30, 40), bool)
    mask[10:14, 5:15] = True
    m = recist_from_mask(mask, volume, key_slice=1)
    row = recist_to_deeplesion_row(m, volume, DeepLesionScan(7, 1, 1))
    assert row.key_slice_index == expected[1]
    assert deeplesion_row_to_recist(row, volume).key_slice == 1  # and back
