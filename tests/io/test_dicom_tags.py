"""The tag view's data: the file behind each slice is recorded at load, and its tags read without pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from liverview.core.study import Phase, PhaseKind
from liverview.core.volume import Volume
from liverview.io.dicom_tags import TagReadError, read_tags, slice_source
from liverview.io.study_loader import load_study
from tests.malformed_corpus import write_ct_series


def reversed_names_series(folder: Path, n: int = 6) -> Path:
    """A CT series whose file names run against the slice positions, so a name-order mix-up shows."""
    paths = write_ct_series(folder / "tmp", n=n)
    out = folder / "series"
    out.mkdir()
    for k, path in enumerate(paths):
        path.rename(out / f"F{n - k:03d}.dcm")
    return out


def test_each_slice_knows_its_file(tmp_path):
    phase = load_study([reversed_names_series(tmp_path)]).study.phases[0]
    assert len(phase.slice_files) == phase.volume.size_ijk[2] == 6
    for k, name in enumerate(phase.slice_files):
        ds = pydicom.dcmread(name, stop_before_pixels=True)
        assert int(ds.InstanceNumber) == k + 1  # written at position k
        centre = phase.volume.index_to_world((1.0, 1.0, k))
        assert slice_source(phase, centre).path == Path(name)


def test_a_missing_slice_has_no_file_and_says_so(tmp_path):
    paths = write_ct_series(tmp_path / "ct", n=6)
    paths[2].unlink()
    phase = load_study([tmp_path / "ct"]).study.phases[0]
    assert phase.volume.missing_slices == (2,) and phase.slice_files[2] == ""
    source = slice_source(phase, phase.volume.index_to_world((1.0, 1.0, 2)))
    assert source.path is None and source.slice_index == 2 and "missing from the series" in source.note
    assert slice_source(phase, phase.volume.index_to_world((1.0, 1.0, 3))).path == paths[3]


def test_tags_are_read_without_pixels(tmp_path):
    path = Path(load_study([reversed_names_series(tmp_path)]).study.phases[0].slice_files[2])
    rows = read_tags(path)
    by_keyword = {r.keyword: r for r in rows}
    assert by_keyword["PatientID"].value == "CORPUS"
    assert by_keyword["PatientID"].tag == "(0010,0020)" and by_keyword["PatientID"].vr == "LO"
    assert by_keyword["InstanceNumber"].value == "3"
    assert by_keyword["TransferSyntaxUID"].depth == 0  # file meta comes first
    assert "PixelData" not in by_keyword
    assert [r.keyword for r in rows if r.matches("0010,0020")] == ["PatientID"]


def test_sequences_are_flattened_with_depth(tmp_path):
    path = Path(write_ct_series(tmp_path, n=1)[0])
    ds = pydicom.dcmread(path)
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-62000", "SRT", "Liver"
    ds.AnatomicRegionSequence = [item]
    ds.save_as(path)
    rows = read_tags(path)
    seq = next(n for n, r in enumerate(rows) if r.keyword == "AnatomicRegionSequence")
    assert rows[seq].vr == "SQ" and rows[seq].value == "1 item(s)"
    assert rows[seq + 1].keyword == "item 1" and rows[seq + 1].depth == 1
    assert any(r.keyword == "CodeMeaning" and r.value == "Liver" and r.depth == 2 for r in rows[seq:])


def test_a_study_not_from_dicom_and_a_point_outside_say_why(tmp_path):
    phase = Phase(PhaseKind.ARTERIAL, Volume(np.zeros((3, 4, 4), np.int16)), source="a.nii.gz", description="art")
    note = slice_source(phase, np.zeros(3))
    assert note.path is None and "not loaded from DICOM" in note.note and "a.nii.gz" in note.note
    dicom = load_study([reversed_names_series(tmp_path)]).study.phases[0]
    outside = slice_source(dicom, dicom.volume.index_to_world((0.0, 0.0, 50.0)))
    assert outside.path is None and "outside" in outside.note


def test_a_file_gone_since_loading_is_a_clear_error(tmp_path):
    with pytest.raises(TagReadError, match="cannot read its DICOM tags"):
        read_tags(tmp_path / "gone.dcm")
