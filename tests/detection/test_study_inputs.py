"""What `detect` and `scan` refuse to hand a detector, and what they warn about (liverview.detection.study_inputs):
real DICOM files written and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

import liverview.cli as cli
from liverview.cli import EXIT_USAGE
from liverview.core.volume import Volume
from liverview.detection.study_inputs import StudyInputError, read_study_inputs
from tests.scan.dicom_writing import write_series


def ct(slices: int, value: int = 60) -> Volume:
    rng = np.random.default_rng(slices)
    return Volume(rng.normal(value, 10, (slices, 24, 24)).astype(np.int16), spacing=(0.8, 0.8, 2.5),
                  origin=(0.0, 0.0, -40.0))


def test_series_of_two_patients_in_one_folder_are_refused_not_read_as_phases(tmp_path, capsys):
    folder = tmp_path / "two"
    write_series(folder, ct(6), generate_uid(), "CT abdomen", patient_id="ANON-A")
    write_series(folder, ct(6, 120), generate_uid(), "CT abdomen", patient_id="ANON-B", prefix="b")
    with pytest.raises(StudyInputError, match="2 different patients.*not the phases of one exam"):
        read_study_inputs(folder)
    assert cli.main(["detect", str(folder), "--out", str(tmp_path / "p.json")]) != 0
    err = capsys.readouterr().err
    assert "not the phases of one exam" in err and "Traceback" not in err
    assert not (tmp_path / "p.json").exists()


def test_two_studies_of_one_patient_are_refused_too(tmp_path):
    folder = tmp_path / "two"
    write_series(folder, ct(6), generate_uid(), "CT abdomen")
    write_series(folder, ct(6, 120), generate_uid(), "CT abdomen", prefix="b")
    with pytest.raises(StudyInputError, match="2 different studies"):
        read_study_inputs(folder)


def test_phases_of_one_study_are_read(tmp_path):
    folder, study = tmp_path / "one", generate_uid()
    write_series(folder, ct(6), study, "arterial")
    write_series(folder, ct(6, 120), study, "portal venous", prefix="b")
    inputs = read_study_inputs(folder)
    assert len(inputs.volumes) == 2 and not any(n.startswith("warning") for n in inputs.notes)


def test_a_single_slice_is_refused(tmp_path, capsys):
    folder = tmp_path / "one_slice"
    write_series(folder, ct(1), generate_uid(), "CT abdomen")
    with pytest.raises(StudyInputError, match="single slice, not a volume"):
        read_study_inputs(folder)
    assert cli.main(["detect", str(folder), "--out", str(tmp_path / "p.json")]) == EXIT_USAGE
    assert "single slice" in capsys.readouterr().err


def test_a_series_with_a_missing_slice_is_read_with_a_warning(tmp_path):
    folder = tmp_path / "gap"
    paths = write_series(folder, ct(8), generate_uid(), "CT abdomen")
    Path(paths[4]).unlink()  # a slice lost on the way: the positions jump by two steps there
    inputs = read_study_inputs(folder)
    assert any(n.startswith("warning:") and "1 slice(s) missing" in n for n in inputs.notes), inputs.notes
    (volume,) = inputs.volumes.values()
    # On its true 2.5 mm grid, the gap marked: the detector reads it filled, every view shows it missing.
    assert volume.array.shape[0] == 8 and volume.spacing[2] == pytest.approx(2.5) and volume.missing_slices == (4,)
