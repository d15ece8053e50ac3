"""Indexing a folder for the study browser: DICOM CT series, DICOM US images, PNG ultrasound images and volume
files grouped as patient > study > series with modality and phase, from headers only."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from liverview.core.volume import Volume
from liverview.io.study_index import (NO_PATIENT, StudyIndexError, group_by_patient, index_paths,
                                      open_paths_for_ct)
from liverview.synth.us_demo import synthetic_us_dicom
from tests.scan.dicom_writing import write_series


def _tiny_volume() -> Volume:
    return Volume(np.arange(3 * 8 * 8, dtype=np.int16).reshape(3, 8, 8), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))


@pytest.fixture
def archive(tmp_path) -> Path:
    """Two CT series of one study (arterial, portal venous), a localizer, an MR series, a DICOM US image,
    a PNG ultrasound image and a text file."""
    root = tmp_path / "archive"
    study = generate_uid()
    write_series(root / "ct", _tiny_volume(), study, "Arterial phase", patient_id="P1")
    write_series(root / "ct", _tiny_volume(), study, "Portal venous 70s", patient_id="P1")
    write_series(root / "ct", _tiny_volume(), study, "Scout", patient_id="P1", localizer=True)
    write_series(root / "mr", _tiny_volume(), generate_uid(), "T2", modality="MR", patient_id="P1")
    synthetic_us_dicom(root / "us" / "liver_us.dcm", seed=3, size=(64, 80))
    import cv2

    (root / "png").mkdir()
    cv2.imwrite(str(root / "png" / "scan.png"), np.full((40, 50), 90, np.uint8))
    (root / "notes.txt").write_text("not an image")
    return root


def test_ct_series_are_grouped_by_study_with_phase_from_the_description(archive):
    listing = index_paths([archive])
    ct = [s for s in listing.series if s.modality == "CT"]
    assert sorted(s.series_description for s in ct) == ["Arterial phase", "Portal venous 70s"]
    assert {s.phase for s in ct} == {"arterial", "portal venous"}
    assert all(len(s.files) == 3 and s.frames == 3 and s.source_kind == "dicom" for s in ct)
    assert len({s.study_uid for s in ct}) == 1 and all(s.patient_id == "P1" for s in ct)


def test_ultrasound_dicom_and_png_are_one_us_entry_each(archive):
    us = [s for s in index_paths([archive]).series if s.modality == "US"]
    assert sorted((s.source_kind, s.files[0].name) for s in us) == [("dicom", "liver_us.dcm"), ("raster", "scan.png")]
    dicom_us = next(s for s in us if s.source_kind == "dicom")
    assert dicom_us.patient_id == "US-PHANTOM" and dicom_us.phase == "ultrasound"


def test_what_is_not_a_ct_or_us_image_is_skipped_with_the_reason(archive):
    reasons = {p.name if p.is_file() else p: r for p, r in index_paths([archive]).skipped}
    assert reasons["notes.txt"] == "not a DICOM file"
    assert any("localizer" in r for r in reasons.values())
    assert sum("MR Modality" in r for r in reasons.values()) == 3  # one per MR slice


def test_only_headers_are_read(archive, monkeypatch):
    """Indexing must not decode pixels: every dcmread call stops before them."""
    calls = []
    real = pydicom.dcmread

    def spy(*args, **kwargs):
        calls.append(kwargs.get("stop_before_pixels", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", spy)
    index_paths([archive])
    assert calls and all(calls)


def test_grouping_gives_patient_study_series_and_a_patient_for_files_without_one(archive):
    groups = group_by_patient(index_paths([archive]).series)
    by_id = {g.patient_id: g for g in groups}
    assert set(by_id) == {"P1", "US-PHANTOM", NO_PATIENT}
    (ct_study,) = by_id["P1"].studies
    assert ct_study.modalities == "CT" and [s.series_description for s in ct_study.series] == [
        "Arterial phase", "Portal venous 70s"]
    assert by_id["US-PHANTOM"].patient_name == "Phantom Ultrasound"


def test_volume_files_of_one_folder_make_one_study_with_a_phase_per_file(tmp_path):
    import SimpleITK as sitk

    from liverview.io.volumes import volume_to_sitk

    for name in ("arterial.nii.gz", "venous.nrrd", "liver_mask.nii.gz"):
        sitk.WriteImage(volume_to_sitk(_tiny_volume()), str(tmp_path / name))
    listing = index_paths([tmp_path])
    assert sorted((s.files[0].name, s.phase) for s in listing.series) == [
        ("arterial.nii.gz", "arterial"), ("venous.nrrd", "portal venous")]
    assert len({s.study_uid for s in listing.series}) == 1
    assert [p.name for p, _ in listing.skipped] == ["liver_mask.nii.gz"]
    assert sorted(open_paths_for_ct(listing.series, listing.series)) == sorted(
        str(s.files[0]) for s in listing.series)  # volume files are opened as files, one phase each


def test_a_study_opens_by_its_folder_unless_another_indexed_series_lies_under_it(archive, tmp_path):
    series = index_paths([archive]).series
    ct = [s for s in series if s.modality == "CT"]
    assert open_paths_for_ct(ct, series) == [str(archive / "ct")]
    # a second study written into the same folder: the folder would bring it along, so it is not used as is
    write_series(archive / "ct" / "other", _tiny_volume(), generate_uid(), "Delayed", patient_id="P2")
    series = index_paths([archive]).series
    ct = [s for s in series if s.modality == "CT" and s.patient_id == "P1"]
    # the loader reads folders recursively: their own files, so that the other study does not come along
    assert sorted(open_paths_for_ct(ct, series)) == sorted(str(f) for s in ct for f in s.files)
    other = [s for s in series if s.patient_id == "P2"]
    assert open_paths_for_ct(other, series) == [str(archive / "ct" / "other")]


def test_one_series_of_a_folder_shared_with_another_patient_opens_alone(tmp_path):
    from liverview.io.study_loader import load_study

    write_series(tmp_path / "mixed", _tiny_volume(), generate_uid(), "Portal venous", patient_id="HCC")
    write_series(tmp_path / "mixed", _tiny_volume(), generate_uid(), "Arterial", patient_id="OTHER")
    series = index_paths([tmp_path / "mixed"]).series
    chosen = [s for s in series if s.patient_id == "HCC"]
    paths = open_paths_for_ct(chosen, series)
    assert sorted(paths) == sorted(str(f) for f in chosen[0].files)
    loaded = load_study(paths)
    assert [p.series_uid for p in loaded.study.phases] == [chosen[0].series_uid]
    assert loaded.study.patient_id == "HCC" and not loaded.mixed


def test_a_missing_path_is_refused_and_cancel_stops_the_walk(tmp_path, archive):
    with pytest.raises(StudyIndexError, match="no such file or folder"):
        index_paths([tmp_path / "nope"])
    assert index_paths([archive], cancelled=lambda: True).series == []


def test_a_missing_path_among_others_is_listed_as_skipped_and_the_rest_is_indexed(tmp_path, archive):
    """A drop or folder list with one path gone (moved, unmounted) still indexes the others."""
    gone, also_gone = tmp_path / "gone", tmp_path / "also_gone.dcm"
    listing = index_paths([gone, archive, also_gone])
    assert sorted(s.series_description for s in listing.series if s.modality == "CT") == [
        "Arterial phase", "Portal venous 70s"]
    assert len(listing.series) == len(index_paths([archive]).series)
    reasons = dict(listing.skipped)
    assert reasons[gone] == "no such file or folder" and reasons[also_gone] == "no such file or folder"
    with pytest.raises(StudyIndexError, match="gone.*also_gone"):  # nothing at all to index: one message for all
        index_paths([gone, also_gone])


def test_files_without_a_patient_id_never_carry_another_files_patient_name(tmp_path):
    """A DICOM series without PatientID but with a PatientName must not lend that name to PNGs and volume files
    (which have no patient at all): they are shown as "(no patient ID)" without a name, apart from it."""
    import cv2
    import SimpleITK as sitk

    from liverview.io.volumes import volume_to_sitk

    files = write_series(tmp_path / "dicom", _tiny_volume(), generate_uid(), "Portal venous", patient_id="")
    for f in files:
        ds = pydicom.dcmread(f)
        ds.PatientName = "liver_17^patient"
        ds.save_as(f)
    (tmp_path / "png").mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / "png" / name), np.full((40, 50), 90, np.uint8))
    (tmp_path / "vol").mkdir()
    sitk.WriteImage(volume_to_sitk(_tiny_volume()), str(tmp_path / "vol" / "ct.nii.gz"))
    # the order seen does not matter: the named DICOM first or last
    for paths in ([tmp_path / "dicom", tmp_path / "png", tmp_path / "vol"],
                  [tmp_path / "png", tmp_path / "vol", tmp_path / "dicom"]):
        series = index_paths(paths).series
        for order in (series, series[::-1]):
            groups = group_by_patient(order)
            assert all(g.patient_id == NO_PATIENT for g in groups)
            by_name = {g.patient_name: sorted(s.files[0].name for st in g.studies for s in st.series)
                       for g in groups}
            assert by_name == {"liver_17 patient": [sorted(f.name for f in files)[0]],
                               "": ["a.png", "b.png", "ct.nii.gz"]}
            assert [g.patient_name for g in groups] == ["", "liver_17 patient"]  # a stable order


def test_a_patient_id_is_named_by_the_first_name_given_for_it(tmp_path):
    from liverview.core.indexed_series import IndexedSeries

    def entry(key, pid, name):
        return IndexedSeries(key=key, modality="CT", source_kind="dicom", files=(tmp_path / key,), patient_id=pid,
                             patient_name=name, study_uid=f"study-{key}")

    (group,) = group_by_patient(e for e in [entry("a", "P1", ""), entry("b", "P1", "Doe John"),
                                             entry("c", "P1", "")])  # any iterable, a generator too
    assert group.patient_id == "P1" and group.patient_name == "Doe John" and len(group.studies) == 3


def test_ultrasound_files_are_told_from_ct_files_and_folders_by_their_header(archive):
    assert index_paths([archive / "us" / "liver_us.dcm"]).series[0].modality == "US"
    from liverview.io.study_index import is_ultrasound_file

    ct_file = sorted((archive / "ct").glob("*.dcm"))[0]
    assert is_ultrasound_file(archive / "us" / "liver_us.dcm") and is_ultrasound_file(archive / "png" / "scan.png")
    assert not is_ultrasound_file(ct_file) and not is_ultrasound_file(archive / "ct")
    assert not is_ultrasound_file(archive / "notes.txt")


def test_a_dicom_file_cut_short_is_reported_as_cut_short(tmp_path):
    from tests.scan.dicom_writing import cut_before_tag

    files = write_series(tmp_path / "ct", _tiny_volume(), generate_uid(), "Arterial phase")
    cut_before_tag(files[0], 0x0020, 0x000E)  # before SeriesInstanceUID
    cut_before_tag(files[1], 0x0008, 0x0060)  # before Modality
    listing = index_paths([tmp_path])
    reasons = {p.name: r for p, r in listing.skipped}
    assert reasons[files[0].name].startswith("DICOM file without SeriesInstanceUID or pixel data: cut short")
    assert reasons[files[1].name].startswith("DICOM file without Modality or pixel data: cut short")
    assert [len(s.files) for s in listing.series] == [1]
