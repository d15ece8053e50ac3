"""Finding the CT studies of an archive: phantom folders, folders of volume files, DICOM grouped by study and
series; everything else listed as skipped with the reason. A DICOM study sharing its folder with another is
read from just its own files, the same volumes as `liverview detect` reads from a folder holding it alone."""

import shutil

import numpy as np
import pytest

from liverview.core.study import PhaseKind
from liverview.detection.study_inputs import read_study_inputs
from liverview.io.volumes import write_volume
from liverview.scan.archive import ArchiveError, find_studies
from liverview.scan.study_identity import content_key, identify
from liverview.scan.study_task import read_source
from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study
from tests.scan.dicom_writing import write_phantom_as_dicom, write_series

SHAPE, SPACING = (8, 40, 40), (4.0, 4.0, 5.0)


@pytest.fixture(scope="module")
def phantom():
    return generate_ct_study(3, n_lesions=1, shape=SHAPE, spacing_mm=SPACING)


@pytest.fixture(scope="module")
def archive(tmp_path_factory, phantom):
    root = tmp_path_factory.mktemp("archive")
    write_phantom_study(phantom, root / "phantoms" / "p3")
    (root / "phantoms" / "bad").mkdir()
    (root / "phantoms" / "bad" / "study.json").write_text("{not json")
    vols = root / "nifti" / "case1"
    vols.mkdir(parents=True)
    write_volume(phantom.phases[PhaseKind.ARTERIAL], vols / "arterial.nii.gz")
    write_volume(phantom.phases[PhaseKind.PORTAL_VENOUS], vols / "portal.nii.gz")
    write_volume(phantom.liver_mask, vols / "liver_mask.nii.gz")
    (vols / "readme.txt").write_text("case 1")
    # patient A: one study in its own folder (two series in sub-folders), plus a localizer
    a = root / "dicom" / "A" / "study1"
    uid_a = write_phantom_as_dicom(a / "series", {k: phantom.phases[k] for k in (PhaseKind.ARTERIAL,
                                                                                  PhaseKind.PORTAL_VENOUS)})
    write_series(a / "scout", phantom.phases[PhaseKind.ARTERIAL], uid_a, "scout", localizer=True)
    # two studies in one flat folder, with an MR series of a third and a stray text file
    flat = root / "dicom" / "flat"
    uid_b = write_phantom_as_dicom(flat, {PhaseKind.PORTAL_VENOUS: phantom.phases[PhaseKind.PORTAL_VENOUS]},
                                   prefix="b_")
    uid_c = write_phantom_as_dicom(flat, {k: phantom.phases[k] for k in (PhaseKind.NON_CONTRAST,
                                                                          PhaseKind.DELAYED)}, prefix="c_")
    write_series(flat, phantom.phases[PhaseKind.DELAYED], "9.9.9", "brain", modality="MR", prefix="m_")
    (flat / "notes.txt").write_text("not DICOM")
    (root / ".hidden").mkdir()
    return root, {"A": uid_a, "B": uid_b, "C": uid_c}


def test_every_layout_is_found_and_the_rest_is_skipped_with_a_reason(archive):
    root, uids = archive
    listing = find_studies(root)
    by_kind = sorted((s.kind, s.location.relative_to(root).as_posix()) for s in listing.studies)
    assert by_kind == [("dicom", "dicom/A/study1/series"), ("dicom", "dicom/flat"), ("dicom", "dicom/flat"),
                       ("phantom", "phantoms/p3"), ("volumes", "nifti/case1")]
    dicom = {s.study_uid: s for s in listing.studies if s.kind == "dicom"}
    assert set(dicom) == set(uids.values())
    assert len(dicom[uids["A"]].series_uids) == 2 and len(dicom[uids["A"]].files) == 2 * SHAPE[0]
    assert dicom[uids["A"]].whole_folder  # its folder holds nothing else
    assert not dicom[uids["B"]].whole_folder and not dicom[uids["C"]].whole_folder
    assert dicom[uids["B"]].patient_id == "P1" and dicom[uids["B"]].description == "CT liver"
    volumes = next(s for s in listing.studies if s.kind == "volumes")
    assert [f.name for f in volumes.files] == ["arterial.nii.gz", "portal.nii.gz"]
    reasons = {(p.relative_to(root).as_posix(), r) for p, r in listing.skipped}
    grouped = listing.skipped_by_reason()
    assert ("phantoms/bad", next(r for r in grouped if r.startswith("study.json is not a phantom"))) in reasons
    assert ("nifti/case1/liver_mask.nii.gz", "label map or mask (by its name), not a phase") in reasons
    assert ("nifti/case1/readme.txt", "not a volume file (this folder is read as one volume file per phase)") \
        in reasons
    assert ("dicom/flat/notes.txt", "not a DICOM file") in reasons
    assert all("dicom/A/study1/scout/" in p for p in map(str, grouped["CT localizer (scout) image, not a phase"]))
    assert len(grouped["CT localizer (scout) image, not a phase"]) == SHAPE[0]
    assert len(grouped["MR Modality, not CT"]) == SHAPE[0]
    assert (".hidden", "hidden folder") in reasons


def test_a_missing_archive_or_a_file_is_refused(tmp_path):
    with pytest.raises(ArchiveError, match="no such folder"):
        find_studies(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ArchiveError, match="is a file"):
        find_studies(tmp_path / "f")


def test_a_study_in_a_shared_folder_reads_as_detect_reads_it_alone(archive, tmp_path):
    root, uids = archive
    source = next(s for s in find_studies(root).studies if s.study_uid == uids["C"])
    alone = tmp_path / "c_alone"
    alone.mkdir()
    for f in source.files:
        shutil.copy(f, alone / f.name)
    expected = read_study_inputs(alone)
    got = read_source(source)
    assert list(got.volumes) == list(expected.volumes) == [PhaseKind.NON_CONTRAST, PhaseKind.DELAYED]
    assert got.reference == expected.reference
    for kind, volume in expected.volumes.items():
        assert np.array_equal(got.volumes[kind].array, volume.array)
        assert np.allclose(got.volumes[kind].origin, volume.origin)
    # phases are recorded where the files really are, not in the temporary folder of links
    assert {p.source for p in got.phases} == {str(source.location)}
    assert {p.series_uid for p in got.phases} == set(source.series_uids)


def test_identity_is_the_study_uid_or_the_files_content_wherever_they_lie(archive, tmp_path):
    root, uids = archive
    listing = find_studies(root)
    dicom = next(s for s in listing.studies if s.study_uid == uids["A"])
    assert identify(dicom).key == uids["A"]
    phantom = next(s for s in listing.studies if s.kind == "phantom")
    first = identify(phantom)
    assert first.key.startswith("sha256:") and first.key == content_key(phantom.files)
    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(phantom.location, copy)
    moved = next(s for s in find_studies(tmp_path / "elsewhere").studies)
    assert identify(moved).key == first.key  # same content, another path: the same study
    # a known signature saves reading the files again; a changed file is hashed anew
    assert identify(phantom, {str(phantom.location): (first.signature, "sha256:remembered")}).key == \
        "sha256:remembered"
    (copy / "arterial.nii.gz").write_bytes(b"changed")
    moved = next(s for s in find_studies(tmp_path / "elsewhere").studies)
    assert identify(moved, {str(copy): (first.signature, first.key)}).key != first.key


def test_a_dicom_file_cut_short_is_skipped_as_cut_short_not_only_for_a_missing_tag(tmp_path, phantom):
    from tests.scan.dicom_writing import cut_before_tag

    folder = tmp_path / "a"
    files = write_series(folder, phantom.phases[PhaseKind.ARTERIAL], "1.2.3", "arterial")
    cut_before_tag(files[0], 0x0020, 0x000E)  # before SeriesInstanceUID: Modality and StudyInstanceUID read
    cut_before_tag(files[1], 0x0008, 0x0060)  # before Modality
    import pydicom

    whole = pydicom.dcmread(files[2])
    del whole.SeriesInstanceUID  # a whole image without the tag: no word of cutting
    whole.save_as(files[2])
    listing = find_studies(tmp_path)
    reasons = {p.name: r for p, r in listing.skipped}
    assert reasons[files[0].name] == ("DICOM file without SeriesInstanceUID or pixel data: cut short "
                                      "(an interrupted copy?) or no image")
    assert "or pixel data: cut short" in reasons[files[1].name]
    assert reasons[files[2].name] == "DICOM file without SeriesInstanceUID"
    assert [len(s.files) for s in listing.studies] == [SHAPE[0] - 3]  # the rest of the series is still found
