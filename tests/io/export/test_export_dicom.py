"""DICOM SR (TID 1500) and SEG exports: valid per dciodvfy, readable by dcmtk, and round-tripping."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from liverview.core.volume import Volume
from liverview.io.export.dicom_seg import DicomExportError, read_seg, sort_along_normal, write_seg
from liverview.io.export.dicom_sr import read_recist_sr, write_recist_sr
from liverview.io.export.nifti_labels import LesionMask
from liverview.measure import RecistMeasurement, recist_for_volume_mask

# dciodvfy (dicom3tools 1.00~20220618) reports nothing but the IOD name for the SR and SEG written
# from the test series below, so no warning is accepted there. For the SR written against the real
# 3D-IRCADb series, whose own Patient ID and Study ID are empty, exactly these two are accepted:
IRCADB_ACCEPTED_WARNINGS = {
    "Warning - Missing attribute or value that would be needed to build DICOMDIR - Patient ID",
    "Warning - Missing attribute or value that would be needed to build DICOMDIR - Study ID",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install dicom3tools dcmtk)")
    return path


def dciodvfy(path: Path) -> list[str]:
    """dciodvfy's findings: every Error / Warning line (it prints the IOD name otherwise)."""
    run = subprocess.run([_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + "\n" + run.stderr).splitlines()
    return [line.strip() for line in lines if line.startswith(("Error", "Warning"))]


def dcmtk_reads(path: Path, tool: str = "dcmdump") -> str:
    run = subprocess.run([_tool(tool), str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    complaints = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith(("E:", "W:", "F:"))]
    assert complaints == []
    return run.stdout


def _lesions(volume: Volume) -> list[LesionMask]:
    a = np.zeros(volume.array.shape, bool)
    yy, xx = np.mgrid[0 : a.shape[1], 0 : a.shape[2]]
    for k, r in ((2, 9.5), (3, 11.0), (4, 8.0)):
        a[k] = ((xx - 20) / r) ** 2 + ((yy - 30) / (0.7 * r)) ** 2 <= 1
    b = np.zeros_like(a)
    b[5:7, 48:56, 30:40] = True
    return [LesionMask("L1", a, "hcc"), LesionMask("L2", b, "")]


def test_ct_fixture_is_itself_valid_dicom(ct_series):
    assert dciodvfy(ct_series.paths[0]) == []


def test_validator_catches_a_broken_file(ct_series, tmp_path):
    """The validator is live: a report missing a required attribute is flagged."""
    m = recist_for_volume_mask(ct_series.volume, _lesions(ct_series.volume)[0].mask, lesion_id="L1")
    write_recist_sr([m], ct_series.datasets, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    del ds.ContentSequence[0].ConceptNameCodeSequence
    ds.save_as(tmp_path / "broken.dcm")
    findings = dciodvfy(tmp_path / "broken.dcm")
    assert any(line.startswith("Error") and "ConceptNameCodeSequence" in line for line in findings)


def test_recist_sr_is_valid_and_round_trips(ct_series, tmp_path):
    volume = ct_series.volume
    measurements = [recist_for_volume_mask(volume, x.mask, lesion_id=x.lesion_id) for x in _lesions(volume)]
    path = tmp_path / "recist_sr.dcm"
    sr = write_recist_sr(
        measurements, ct_series.datasets, path, observer="Reader^Anna", lesion_classes={"L1": "hcc"}
    )
    assert dciodvfy(path) == []
    assert "Comprehensive3DSRStorage" in dcmtk_reads(path)
    tree = dcmtk_reads(path, "dsrdump")  # dcmtk's SR reader also checks the content tree's relationships
    assert '"Long axis"' in tree and '"Short axis"' in tree and "(126081,DCM,\"RECIST 1.1\")" in tree

    ordered = sort_along_normal(ct_series.datasets)
    assert sr.StudyInstanceUID == ct_series.datasets[0].StudyInstanceUID
    back = read_recist_sr(path, ct_series.datasets)
    assert [b.measurement.lesion_id for b in back] == ["L1", "L2"]
    assert [b.lesion_class for b in back] == ["hcc", ""]
    for b, m in zip(back, measurements):
        assert b.long_axis_mm == pytest.approx(m.long_axis_mm, abs=1e-6)
        assert b.short_axis_mm == pytest.approx(m.short_axis_mm, abs=1e-6)
        assert b.measurement.key_slice == m.key_slice
        assert b.referenced_sop_instance_uid == ordered[m.key_slice].SOPInstanceUID
        for got, want in zip(b.measurement.long_axis + b.measurement.short_axis, m.long_axis + m.short_axis):
            assert np.allclose(got, want, atol=1e-4)  # SCOORDs are 32-bit floats


def test_sr_scoords_use_dicom_pixel_corner_convention(ct_series, tmp_path):
    """SCOORD (0, 0) is the top-left corner of the top-left pixel: centre index + 0.5."""
    volume = ct_series.volume
    p = volume.index_to_world((3.0, 4.0, 1.0))  # centre of pixel column 3, row 4 on slice 1
    q = volume.index_to_world((10.0, 4.0, 1.0))
    write_recist_sr([RecistMeasurement((p, q), None, 1, "L9")], ct_series.datasets, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")

    def walk(items):
        for item in items:
            yield item
            yield from walk(getattr(item, "ContentSequence", []))

    scoords = [item for item in walk(ds.ContentSequence) if item.ValueType == "SCOORD"]
    assert len(scoords) == 1
    assert np.allclose(scoords[0].GraphicData, [3.5, 4.5, 10.5, 4.5])
    nums = [item for item in walk(ds.ContentSequence) if item.ValueType == "NUM"]
    names = [item.ConceptNameCodeSequence[0].CodeValue for item in nums]
    assert codes.SCT.LongAxis.value in names and codes.SCT.ShortAxis.value not in names


def test_sr_refuses_measurements_off_the_source_images(ct_series, tmp_path):
    m = RecistMeasurement(((0, 0, 101.3), (5, 0, 101.3)), None, 0, "L1")  # between two slices
    with pytest.raises(DicomExportError, match="off the nearest source image"):
        write_recist_sr([m], ct_series.datasets, tmp_path / "sr.dcm")


def test_seg_is_valid_and_masks_round_trip(ct_series, tmp_path):
    lesions = _lesions(ct_series.volume)
    lesions.append(LesionMask("L3", np.zeros_like(lesions[0].mask), "cyst"))  # a segment without voxels
    path = tmp_path / "lesions_seg.dcm"
    write_seg(lesions, ct_series.datasets, path)
    assert dciodvfy(path) == []
    assert "SegmentationStorage" in dcmtk_reads(path)
    back = read_seg(path, ct_series.datasets)
    assert [(m.lesion_id, m.lesion_class) for m in back] == [("L1", "hcc"), ("L2", ""), ("L3", "cyst")]
    for got, want in zip(back, lesions):
        assert np.array_equal(got.mask, want.mask)


def test_seg_frames_reference_the_right_ct_images_read_without_highdicom(ct_series, tmp_path):
    lesions = _lesions(ct_series.volume)
    path = tmp_path / "seg.dcm"
    write_seg(lesions, ct_series.datasets, path)
    ds = pydicom.dcmread(path)
    ordered = [d.SOPInstanceUID for d in sort_along_normal(ct_series.datasets)]
    frames = ds.pixel_array.reshape(int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    expected_frames = sum(int(m.mask.any(axis=(1, 2)).sum()) for m in lesions)  # empty frames left out
    assert len(frames) == expected_frames
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct_series.datasets[0].SeriesInstanceUID
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence):
        segment = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        k = ordered.index(uid)
        assert np.array_equal(frame.astype(bool), lesions[segment - 1].mask[k])


def test_seg_refuses_masks_that_do_not_fit_the_series(ct_series, tmp_path):
    bad = LesionMask("L1", np.ones((3, 4, 5), bool))
    with pytest.raises(DicomExportError, match="source series is"):
        write_seg([bad], ct_series.datasets, tmp_path / "seg.dcm")
    with pytest.raises(DicomExportError, match="no lesion masks"):
        write_seg([], ct_series.datasets, tmp_path / "seg.dcm")


@pytest.fixture(scope="module")
def ircadb():
    root = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ircadb-liver17"
    if not root.is_dir():
        pytest.skip(f"{root} is not present beside this checkout")
    import SimpleITK as sitk

    images = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted((root / "PATIENT_DICOM").iterdir())]
    label_image = sitk.ReadImage(str(root / "tumor_instances.nii.gz"))
    labels = sitk.GetArrayFromImage(label_image)
    volume = Volume(
        labels, label_image.GetSpacing(), label_image.GetOrigin(), np.reshape(label_image.GetDirection(), (3, 3))
    )
    return images, volume, labels


def test_sr_of_real_tumours_against_the_real_ct_series(ircadb, tmp_path):
    images, volume, labels = ircadb
    measurements = [recist_for_volume_mask(volume, labels == n, lesion_id=f"tumour {n}") for n in (1, 2)]
    path = tmp_path / "ircadb_sr.dcm"
    write_recist_sr(measurements, images, path)
    findings = dciodvfy(path)
    assert not [line for line in findings if line.startswith("Error")]
    assert set(findings) <= IRCADB_ACCEPTED_WARNINGS
    dcmtk_reads(path, "dsrdump")
    back = read_recist_sr(path, images)
    assert [b.measurement.key_slice for b in back] == [m.key_slice for m in measurements]
    assert [b.long_axis_mm for b in back] == pytest.approx([m.long_axis_mm for m in measurements], abs=1e-6)


def test_seg_of_the_real_series_without_frame_of_reference_gets_a_stable_one_and_says_so(ircadb, tmp_path):
    """Real archives hold series without a Frame of Reference UID: the SEG derives one from the series (the
    same on every export), says so, leaves the source images untouched, and its masks read back exactly."""
    images, _, labels = ircadb
    assert "FrameOfReferenceUID" not in images[0]  # this upstream series lacks it
    lesions = [LesionMask("tumour 1", labels == 1, "hcc"), LesionMask("tumour 2", labels == 2, "metastasis")]
    notes: list[str] = []
    first = write_seg(lesions, images, tmp_path / "seg1.dcm", notes=notes)
    second = write_seg(lesions, images, tmp_path / "seg2.dcm")
    assert first.FrameOfReferenceUID == second.FrameOfReferenceUID
    assert len(notes) == 1 and "no Frame of Reference UID" in notes[0] and first.FrameOfReferenceUID in notes[0]
    assert "FrameOfReferenceUID" not in images[0]
    assert not [line for line in dciodvfy(tmp_path / "seg1.dcm") if line.startswith("Error")]
    back = read_seg(tmp_path / "seg1.dcm", images)
    for got, want in zip(back, lesions):  # voxel for voxel (slices ordered along the normal in both)
        assert got.lesion_id == want.lesion_id and want.mask.any() and np.array_equal(got.mask, want.mask)


def test_source_images_from_two_frames_of_reference_are_refused(ct_series, tmp_path):
    images = [copy.deepcopy(ds) for ds in ct_series.datasets]
    images[0].FrameOfReferenceUID = "1.2.3.4"
    with pytest.raises(DicomExportError, match="2 Frames of Reference"):
        write_seg(_lesions(ct_series.volume), images, tmp_path / "seg.dcm")
