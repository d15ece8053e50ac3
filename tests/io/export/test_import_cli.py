"""`liverview import FILE... --project P`: the format from the content, one line per file, what did not fit
listed, the exit status saying whether everything went in."""

from __future__ import annotations

import numpy as np

from liverview.cli import EXIT_PARTIAL, EXIT_USAGE, main
from liverview.core.volume import Volume
from liverview.io.study_loader import load_study
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.store.study_link import ensure_study


def _project_with_a_lesion(ct_series, path):
    study = load_study([ct_series.paths[0].parent]).study
    vol, phase = study.reference.volume, study.reference.kind
    w = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, 3), (30, 20, 3), (20, 14, 3), (20, 26, 3))]
    with Project.create(path, "Anna Reader") as project:
        sid = ensure_study(project, study)
        lesion = project.add_lesion(sid, "hcc", recist=RecistRecord((w[0], w[1]), (w[2], w[3]), 3, phase))
        mask = np.zeros(vol.array.shape, np.uint8)
        mask[2:5, 15:26, 12:29] = 1
        project.set_mask(lesion.id, phase, Volume(mask, vol.spacing, vol.origin, vol.direction))
    return study


def test_export_sr_with_seg_then_import_both_into_another_project(ct_series, tmp_path, capsys):
    folder = str(ct_series.paths[0].parent)
    study = _project_with_a_lesion(ct_series, tmp_path / "a.lvproj")
    sr, seg = tmp_path / "sr.dcm", tmp_path / "seg.dcm"
    assert main(["export", folder, "--format", "sr", "--out", str(sr), "--seg-out", str(seg),
                 "--project", str(tmp_path / "a.lvproj")]) == 0
    out = capsys.readouterr().out
    assert f"wrote 1 lesion(s) to {sr}" in out and f"wrote 1 lesion(s) to {seg}" in out and "references the SEG" in out

    with Project.create(tmp_path / "b.lvproj", "someone") as other:
        ensure_study(other, study)  # the project knows the study: no --study needed
    assert main(["import", str(sr), str(seg), "--project", str(tmp_path / "b.lvproj")]) == 0
    out = capsys.readouterr().out
    assert "imported 1 lesion(s) from" in out and "DICOM SR" in out
    assert "imported 0 lesion(s) from" in out and "DICOM SEG" in out and "completed 1 lesion(s) already" in out
    with Project.open(tmp_path / "b.lvproj", "x", read_only=True) as other:
        lesions = other.list_lesions()
        assert [les.lesion_class for les in lesions] == ["hcc"]  # one lesion: the SEG's mask joined the SR's mark
        assert lesions[0].recist is not None and lesions[0].created_by == "Anna Reader"
        assert other.get_mask(lesions[0].id, study.reference.kind).array.sum() == 3 * 11 * 17


def test_a_file_that_is_not_an_annotation_is_refused_and_the_others_still_go_in(ct_series, tmp_path, capsys):
    folder = str(ct_series.paths[0].parent)
    _project_with_a_lesion(ct_series, tmp_path / "a.lvproj")
    nifti = tmp_path / "labels.nii.gz"
    assert main(["export", folder, "--format", "nifti", "--out", str(nifti), "--project", str(tmp_path / "a.lvproj")]) == 0
    capsys.readouterr()
    code = main(["import", str(ct_series.paths[0]), str(nifti), "--study", folder, "--project",
                 str(tmp_path / "c.lvproj"), "--reader", "Rita Reader"])
    captured = capsys.readouterr()
    assert code == EXIT_PARTIAL
    assert "CT Image Storage" in captured.err and "nothing of it was imported" in captured.err
    assert "imported 1 lesion(s)" in captured.out and "NIfTI label map" in captured.out
    with Project.open(tmp_path / "c.lvproj", "x", read_only=True) as p:
        assert [les.created_by for les in p.list_lesions()] == ["Rita Reader"]
    assert main(["import", str(ct_series.paths[0]), "--study", folder, "--project", str(tmp_path / "c.lvproj")]) \
        == EXIT_USAGE
    assert main(["import", str(nifti)]) == EXIT_USAGE  # no study and no project
    assert "--study" in capsys.readouterr().err


def test_a_seg_with_no_mask_to_hold_is_reported_as_not_written(ct_series, tmp_path, capsys):
    folder = str(ct_series.paths[0].parent)
    study = load_study([folder]).study
    vol, phase = study.reference.volume, study.reference.kind
    w = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, 3), (30, 20, 3), (20, 14, 3), (20, 26, 3))]
    with Project.create(tmp_path / "a.lvproj", "Anna Reader") as project:  # a RECIST mark, no mask
        project.add_lesion(ensure_study(project, study), "hcc", recist=RecistRecord((w[0], w[1]), (w[2], w[3]), 3, phase))
    sr, seg = tmp_path / "sr.dcm", tmp_path / "seg.dcm"
    assert main(["export", folder, "--format", "sr", "--out", str(sr), "--seg-out", str(seg),
                 "--project", str(tmp_path / "a.lvproj")]) == EXIT_PARTIAL
    out = capsys.readouterr().out
    assert f"wrote 1 lesion(s) to {sr}" in out and f"did not write {seg}" in out and "no SEG was written" in out
    assert sr.exists() and not seg.exists()
