"""Loading a study from DICOM folders, volume files and phantom-style folders; the `info` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

import liverview.cli as cli
from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.io.errors import LoadError, MissingInputError, NoImageSeriesError
from liverview.io.study_loader import load_study, looks_like_label_map
from liverview.io.volumes import write_volume

PHANTOM_NAMES = {
    PhaseKind.NON_CONTRAST: "non-contrast", PhaseKind.ARTERIAL: "arterial",
    PhaseKind.PORTAL_VENOUS: "portal-venous", PhaseKind.DELAYED: "delayed",
}


def small_volume(value: int, shape=(3, 4, 5)) -> Volume:
    return Volume(np.full(shape, value, np.int16), (0.8, 0.8, 2.0), (1.0, 2.0, 3.0))


def write_phantom_folder(folder: Path) -> Path:
    """What `liverview synth-ct` writes: one NIfTI per phase, masks, lesions.csv, study.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, kind in enumerate(PHANTOM_NAMES):  # the folder lists them alphabetically, not in phase order
        write_volume(small_volume(10 * (n + 1)), folder / f"{PHANTOM_NAMES[kind]}.nii.gz")
    write_volume(Volume(np.zeros((3, 4, 5), np.uint8)), folder / "liver_mask.nii.gz")
    write_volume(Volume(np.zeros((3, 4, 5), np.uint8)), folder / "lesion_labels.nii.gz")
    (folder / "lesions.csv").write_text("id,class\n1,hcc\n")
    (folder / "study.json").write_text("{}")
    return folder


def write_dicom_series(folder: Path, description: str, acq_time: str, value: int, n: int = 3,
                       patient: str = "P1", **tags) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    uid = generate_uid()
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID = uid, "1.2.3", "1.2.4"
        ds.Modality, ds.PatientID, ds.SeriesDescription, ds.AcquisitionTime = "CT", patient, description, acq_time
        ds.Rows, ds.Columns = 4, 4
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.ImagePositionPatient = [0, 0, 2.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.8, 0.8]
        ds.InstanceNumber = k + 1
        for key, v in tags.items():
            setattr(ds, key, v)
        ds.PixelData = np.full((4, 4), value, np.int16).tobytes()
        ds.save_as(folder / f"{uid[-6:]}_{k}.dcm", enforce_file_format=True)
    return uid


def test_phantom_folder_loads_as_one_study(tmp_path):
    loaded = load_study([write_phantom_folder(tmp_path / "phantom")])
    study = loaded.study
    assert [p.kind for p in study.phases] == [PhaseKind.NON_CONTRAST, PhaseKind.ARTERIAL,
                                              PhaseKind.PORTAL_VENOUS, PhaseKind.DELAYED]
    assert study.reference.kind is PhaseKind.PORTAL_VENOUS and study.reference_index == 2
    assert int(study.phase(PhaseKind.ARTERIAL).volume.array[0, 0, 0]) == 20
    assert all("file name" in loaded.reason_for(p) for p in study.phases)
    assert sum("label map or mask" in p for p in loaded.notes) == 2
    assert not loaded.problems  # leaving out the masks is what was expected: a quiet note


def test_individual_files_named_by_phase(tmp_path):
    paths = []
    for name, value in [("pv", 3), ("phase_delayed", 4), ("nc", 1), ("arterial", 2)]:
        paths.append(write_volume(small_volume(value), tmp_path / f"{name}.nii.gz"))
    study = load_study(paths).study
    assert [int(p.volume.array.flat[0]) for p in study.phases] == [1, 2, 3, 4]
    assert study.reference.kind is PhaseKind.PORTAL_VENOUS


def test_unnamed_files_take_phases_by_order(tmp_path):
    paths = [write_volume(small_volume(v), tmp_path / f"scan{v}.mha") for v in (1, 2)]
    loaded = load_study(paths)
    assert [p.kind for p in loaded.study.phases] == [PhaseKind.NON_CONTRAST, PhaseKind.ARTERIAL]
    assert "input order" in loaded.reason_for(loaded.study.phases[1])
    assert loaded.study.reference_index == 0  # no portal venous phase: the first


def test_dicom_folder_with_several_phases(tmp_path):
    root = tmp_path / "exam"
    write_dicom_series(root / "s3", "Liver 3mm", "101300", 300)
    write_dicom_series(root / "s1", "Liver 3mm", "101000", 100)
    write_dicom_series(root / "s2", "ART 3mm", "101130", 200, ContrastBolusAgent="Iomeron")
    (root / "s1" / "readme.txt").write_text("x")
    loaded = load_study([root])
    kinds = [(p.kind, int(p.volume.array.flat[0])) for p in loaded.study.phases]
    assert kinds == [(PhaseKind.NON_CONTRAST, 100), (PhaseKind.ARTERIAL, 200), (PhaseKind.PORTAL_VENOUS, 300)]
    assert loaded.study.reference.kind is PhaseKind.PORTAL_VENOUS
    assert loaded.study.patient_id == "P1" and len(loaded.series) == 3
    art = loaded.study.phase(PhaseKind.ARTERIAL)
    assert "ART 3mm" in loaded.reason_for(art) and art.acquisition_time_s == pytest.approx(36690)
    assert art.series_uid and art.frame_of_reference_uid == "1.2.4"
    assert any("readme.txt" in p and "not a DICOM file" in p for p in loaded.notes)
    assert not any("readme.txt" in p for p in loaded.problems)  # a quiet "skipped" note, not a problem


def test_dicom_folder_named_after_its_phase(tmp_path):
    write_dicom_series(tmp_path / "arterial", "CT 3mm", "101000", 1)
    write_dicom_series(tmp_path / "delayed", "CT 3mm", "101500", 2)
    loaded = load_study([tmp_path / "delayed", tmp_path / "arterial"])
    assert [p.kind for p in loaded.study.phases] == [PhaseKind.ARTERIAL, PhaseKind.DELAYED]


def test_the_files_of_one_series_load_as_one_phase_without_the_rest_of_their_folder(tmp_path):
    """The study browser opens one series of a shared folder by its files: exactly those, as one volume."""
    write_dicom_series(tmp_path, "PV", "100000", 1, n=4, patient="ALICE")
    write_dicom_series(tmp_path, "ART", "090000", 2, n=3, patient="BOB")
    alice = sorted(f for f in tmp_path.glob("*.dcm") if load_study([f]).study.patient_id == "ALICE")
    loaded = load_study(alice)
    assert len(loaded.study.phases) == 1 and loaded.study.patient_id == "ALICE"
    assert loaded.study.phases[0].volume.array.shape[0] == 4 and not loaded.mixed


def test_different_patients_are_reported(tmp_path):
    write_dicom_series(tmp_path / "a", "PV", "100000", 1, patient="ALICE")
    write_dicom_series(tmp_path / "b", "ART", "090000", 1, patient="BOB")
    loaded = load_study([tmp_path / "a", tmp_path / "b"])
    assert any("2 different patients" in p for p in loaded.problems)


def test_dicom_files_beside_volume_files_are_reported_not_silently_passed_over(tmp_path):
    folder = write_phantom_folder(tmp_path / "mixed")
    assert not any("DICOM" in p for p in load_study([folder]).problems)  # a plain phantom folder: nothing to say
    write_dicom_series(folder / "dicom", "PV", "100000", 1, n=4)
    loaded = load_study([folder])
    assert len(loaded.study.phases) == 4  # the volume files, as before
    assert any("4 DICOM file(s)" in p and "were not" in p for p in loaded.problems), loaded.problems


def test_an_empty_or_garbled_slice_file_is_a_problem_and_a_stray_text_file_a_note(tmp_path):
    write_dicom_series(tmp_path / "ct", "PV", "100000", 1, n=4)
    (tmp_path / "ct" / "IM0005.dcm").write_bytes(b"")  # a slice lost in the copy
    (tmp_path / "ct" / "IM0006.dcm").write_bytes(b"\x00" * 64)
    (tmp_path / "ct" / "readme.txt").write_text("exported by the PACS")
    loaded = load_study([tmp_path / "ct"])
    assert any("IM0005.dcm" in p and "unreadable as one (empty)" in p for p in loaded.problems), loaded.problems
    assert any("IM0006.dcm" in p and "a damaged slice?" in p for p in loaded.problems)
    assert any("readme.txt" in n and "not a DICOM file" in n for n in loaded.notes)


def test_same_phase_twice_is_reported(tmp_path):
    paths = [write_volume(small_volume(v), tmp_path / f"pv_{v}.nii.gz") for v in (1, 2)]
    loaded = load_study(paths)
    assert any("two inputs were taken as portal venous" in p for p in loaded.problems)


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(MissingInputError, match="nowhere"):
        load_study([tmp_path / "nowhere"])
    with pytest.raises(LoadError, match="no input"):
        load_study([])
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoImageSeriesError, match="empty"):
        load_study([tmp_path / "empty"])


def test_label_map_names():
    assert looks_like_label_map("liver_mask.nii.gz") and looks_like_label_map("lesion_labels.nii.gz")
    assert looks_like_label_map("tumor_instances.nii.gz")
    assert not looks_like_label_map("portal-venous.nii.gz") and not looks_like_label_map("ct.nii.gz")


def test_real_lits_and_ircadb_folders(shared_data):
    loaded = load_study([shared_data / "ircadb-liver17"])
    assert len(loaded.study.phases) == 1 and loaded.study.phases[0].volume.array.shape == (119, 512, 512)
    loaded2 = load_study([shared_data / "lits-volume0-dicom" / "ScalarVolume_0"])
    vol = loaded2.study.reference.volume
    np.testing.assert_allclose(vol.direction, np.diag([1.0, -1.0, -1.0]))
    assert loaded2.skipped == []


# --- `liverview info` -------------------------------------------------------------------------------
@pytest.fixture
def info_only(monkeypatch):
    """Build the CLI with only the `info` command, so this test does not depend on the other commands."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["info"])


def test_info_command_prints_phases(tmp_path, capsys, info_only):
    folder = write_phantom_folder(tmp_path / "phantom")
    assert cli.main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "4 phase(s)" in out
    assert "portal venous  (reference)" in out
    assert "size:      5 x 4 x 3 voxels" in out
    assert "spacing:   0.8 x 0.8 x 2 mm" in out
    assert "origin:    (1.000, 2.000, 3.000) mm LPS" in out
    assert "direction: i (1.000, 0.000, 0.000)" in out
    assert "HU range:  40 .. 40" in out
    assert "file name 'arterial' says 'arterial'" in out
    assert "liver_mask.nii.gz: not loaded" in out


def test_info_command_errors_exit_2(tmp_path, capsys, info_only):
    assert cli.main(["info", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert "liverview info: error:" in err and "absent: no such file or folder" in err
    (tmp_path / "empty").mkdir()
    assert cli.main(["info", str(tmp_path / "empty")]) == 2
    assert "empty" in capsys.readouterr().err


def test_info_is_registered_in_the_cli():
    assert "info" in cli.COMMAND_MODULES
