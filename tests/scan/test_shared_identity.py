"""`liverview scan` and the app file a study under one identity (liverview.io.study_identity): a study scanned
into a project and then opened from its files is the scanned row, never a second one, for phantom folders,
folders of volume files and DICOM series without a StudyInstanceUID. Projects written before the shared rule
(path-based keys) still find their study."""

import hashlib
import shutil
from pathlib import Path

import pytest

from liverview.core.study import PhaseKind
from liverview.io.study_identity import StudyIdentityError, content_key, study_identity_key
from liverview.io.study_loader import load_study
from liverview.io.volumes import write_volume
from liverview.scan.archive import find_studies
from liverview.scan.study_identity import identify
from liverview.store import Project
from liverview.store.scan_methods import ScannedPhase
from liverview.store.study_link import default_project_path, ensure_study, project_path_for_key, study_key
from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study
from tests.scan.dicom_writing import write_series

SHAPE, SPACING = (8, 40, 40), (4.0, 4.0, 5.0)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    phantom = generate_ct_study(4, n_lesions=1, shape=SHAPE, spacing_mm=SPACING)
    root = tmp_path_factory.mktemp("identity-archive")
    write_phantom_study(phantom, root / "phantom")
    vols = root / "volumes"
    vols.mkdir()
    write_volume(phantom.phases[PhaseKind.ARTERIAL], vols / "arterial.nii.gz")
    write_volume(phantom.phases[PhaseKind.PORTAL_VENOUS], vols / "portal.nii.gz")
    write_volume(phantom.liver_mask, vols / "liver_mask.nii.gz")
    write_series(root / "dicom-no-study-uid", phantom.phases[PhaseKind.PORTAL_VENOUS], "", "portal venous")
    return root


def scan_into(project: Project, archive: Path) -> dict[str, int]:
    """What the scan driver stores per study (its identity, phases), without running a detector."""
    ids = {}
    for source in find_studies(archive).studies:
        identity = identify(source)
        phases = [ScannedPhase("portal venous" if n == 0 else "arterial", str(f), reference=(n == 0))
                  for n, f in enumerate(source.files[:2])]
        ids[source.location.name] = project.record_scanned_study(identity.key, str(source.location), phases, [],
                                                                 "none", signature=identity.signature)
    return ids


@pytest.mark.parametrize("folder", ["phantom", "volumes", "dicom-no-study-uid"])
def test_a_scanned_study_opened_from_its_files_is_the_scanned_row(tmp_path, archive, folder):
    with Project.create(tmp_path / "p.lvproj", "scanner") as project:
        ids = scan_into(project, archive)
        assert set(ids) == {"phantom", "volumes", "dicom-no-study-uid"}
        study = load_study([archive / folder]).study
        assert ensure_study(project, study) == ids[folder]
        assert len(project.list_studies()) == 3  # no duplicate row


def test_the_key_follows_the_content_not_the_folder(tmp_path, archive):
    copy = tmp_path / "moved"
    shutil.copytree(archive / "phantom", copy)
    here, there = load_study([archive / "phantom"]).study, load_study([copy]).study
    assert study_key(here, tmp_path / "cache") == study_key(there, tmp_path / "cache")
    assert study_key(here).startswith("sha256:")
    assert study_key(here) == identify(find_studies(archive / "phantom").studies[0]).key


def test_the_kept_key_is_recomputed_when_a_file_changes(tmp_path, archive):
    folder = tmp_path / "study"
    shutil.copytree(archive / "volumes", folder)
    cache = tmp_path / "cache"
    first = study_key(load_study([folder]).study, cache)
    assert first == content_key(sorted(f for f in folder.glob("*.nii.gz") if "mask" not in f.name))
    phantom = generate_ct_study(9, n_lesions=1, shape=SHAPE, spacing_mm=SPACING)
    write_volume(phantom.phases[PhaseKind.ARTERIAL], folder / "arterial.nii.gz")  # other voxels, same name
    assert study_key(load_study([folder]).study, cache) != first


def test_uid_series_and_files_rule():
    assert study_identity_key("1.2.3", ["4.5"], ["/nowhere"]) == "1.2.3"
    assert study_identity_key("", ["b", "a"]) == study_identity_key("", ["a", "b", "a"])
    assert study_identity_key("", ["a"]).startswith("series:")
    with pytest.raises(StudyIdentityError):
        study_identity_key()


def test_a_project_filed_under_the_old_path_key_still_finds_its_study(tmp_path, archive):
    study = load_study([archive / "volumes"]).study
    old_key = "files:" + hashlib.sha1("\n".join(sorted(str(Path(p.source).resolve()) for p in study.phases))
                                      .encode()).hexdigest()[:20]
    cache = tmp_path / "cache"
    old_path = project_path_for_key(old_key, cache)
    old_path.parent.mkdir(parents=True)
    with Project.create(old_path, "reader") as project:
        old_id = project.add_study(uid=old_key)
    assert default_project_path(study, cache) == old_path
    with Project.open(old_path, "reader") as project:
        assert ensure_study(project, study) == old_id
        assert len(project.list_studies()) == 1
