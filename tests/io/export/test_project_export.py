"""Exporting a study's annotations from a real project file, and importing DeepLesion CSV rows into it."""

from __future__ import annotations

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.io.export.deeplesion_csv import read_deeplesion_csv
from liverview.io.export.dicom_seg import read_seg
from liverview.io.export.dicom_sr import read_recist_sr
from liverview.io.export.json_export import read_lesions_json
from liverview.io.export.nifti_labels import read_label_map
from liverview.io.export.project_export import ExportError, export_annotations, import_deeplesion_csv
from liverview.io.study_loader import load_study
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.store.study_link import ensure_study

from .test_export_dicom import dciodvfy


@pytest.fixture
def annotated(ct_series, tmp_path):
    """A DICOM study loaded from disk, a project with two measured lesions (one with a mask) and one without."""
    study = load_study([ct_series.paths[0].parent]).study
    project = Project.create(tmp_path / "p.lvproj", "reader")
    sid = ensure_study(project, study)
    vol = study.reference.volume
    phase = study.reference.kind

    def world(i, j, k):
        return tuple(float(v) for v in vol.index_to_world((i, j, k)))

    a = project.add_lesion(sid, "hcc", recist=RecistRecord((world(10, 20, 3), world(30, 20, 3)),
                                                         (world(20, 14, 3), world(20, 26, 3)), 3, phase))
    b = project.add_lesion(sid, "cyst", recist=RecistRecord((world(5, 40, 5), world(15, 50, 5)),
                                                          (world(13, 42, 5), world(7, 48, 5)), 5, phase))
    project.add_lesion(sid, "metastasis")  # no measurement yet
    mask = np.zeros(vol.array.shape, np.uint8)
    mask[2:5, 15:26, 12:29] = 1
    project.set_mask(a.id, phase, Volume(mask, vol.spacing, vol.origin, vol.direction))
    yield project, sid, study, (a, b)
    project.close()


def test_json_holds_every_lesion_and_its_mm_measurement(annotated, tmp_path):
    project, sid, study, (a, b) = annotated
    result = export_annotations(project, sid, study, "json", tmp_path / "out.json")
    doc = read_lesions_json(result.path)
    assert result.written == 3 and [les.lesion_class for les in doc.lesions] == ["hcc", "cyst", "metastasis"]
    m = doc.lesions[0].measurements[0]
    assert m.long_axis_mm == pytest.approx(a.recist.long_mm) and m.key_slice == 3
    assert doc.reference.matches(study.reference.volume)


def test_csv_rows_convert_back_to_the_same_mm_points(annotated, tmp_path):
    project, sid, study, (a, b) = annotated
    result = export_annotations(project, sid, study, "csv", tmp_path / "dl.csv")
    rows, errors = read_deeplesion_csv(result.path)
    assert errors == [] and len(rows) == 2 and result.skipped == ["lesion 3: has no RECIST measurement"]
    # Import into a fresh project: the marks land on the same mm points.
    other = Project.create(tmp_path / "q.lvproj", "reader")
    sid2 = ensure_study(other, study)
    imported = import_deeplesion_csv(other, sid2, study, result.path)
    assert imported.problems == [] and len(imported.added) == 2
    back = other.get_lesion(imported.added[0]).recist
    np.testing.assert_allclose(back.long_axis, a.recist.long_axis, atol=1e-3)
    np.testing.assert_allclose(back.short_axis, a.recist.short_axis, atol=1e-3)
    assert back.key_slice == 3
    other.close()


def test_csv_import_reports_bad_and_misfitting_rows_by_line(annotated, tmp_path):
    project, sid, study, _ = annotated
    good = export_annotations(project, sid, study, "csv", tmp_path / "dl.csv").path
    lines = good.read_text().splitlines()
    bad_size = lines[2].replace('"48, 64"', '"512, 512"')
    assert bad_size != lines[2]
    text = "\n".join([lines[0], lines[1], "1,2,3", bad_size, lines[2]]) + "\n"
    (tmp_path / "mixed.csv").write_text(text)
    result = import_deeplesion_csv(project, sid, study, tmp_path / "mixed.csv")
    assert len(result.added) == 2
    assert [p.split(":")[0] for p in result.problems] == ["line 3", "line 4"]
    assert "image size" in result.problems[1]


def test_nifti_label_map_holds_the_mask_on_the_reference_grid(annotated, tmp_path):
    project, sid, study, (a, b) = annotated
    result = export_annotations(project, sid, study, "nifti", tmp_path / "labels.nii.gz")
    label_map = read_label_map(result.path)
    assert [m.lesion_id for m in label_map.lesions] == [str(a.id)]
    assert label_map.lesions[0].mask.sum() == 3 * 11 * 17
    assert any("has no mask" in s for s in result.skipped)


def test_dicom_sr_and_seg_are_valid_and_reference_the_source_series(annotated, ct_series, tmp_path):
    project, sid, study, (a, b) = annotated
    sr = export_annotations(project, sid, study, "sr", tmp_path / "sr.dcm", observer="Reader^Rita")
    assert dciodvfy(sr.path) == []
    read = read_recist_sr(sr.path, ct_series.datasets)
    assert sorted(round(r.long_axis_mm, 3) for r in read) == sorted(round(x.recist.long_mm, 3) for x in (a, b))
    seg = export_annotations(project, sid, study, "seg", tmp_path / "seg.dcm")
    assert dciodvfy(seg.path) == []
    masks = read_seg(seg.path, ct_series.datasets)
    assert len(masks) == 1 and masks[0].mask.sum() == 3 * 11 * 17


def test_dicom_exports_need_a_dicom_study_and_empty_exports_are_refused(tmp_path):
    from liverview.synth.ct_phantom import generate_ct_study

    study = generate_ct_study(1, n_lesions=0, shape=(16, 64, 64)).to_study()
    project = Project.create(tmp_path / "p.lvproj", "reader")
    sid = ensure_study(project, study)
    with pytest.raises(ExportError, match="no lesions"):
        export_annotations(project, sid, study, "json", tmp_path / "x.json")
    vol = study.reference.volume
    w = [tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 10, 4), (20, 10, 4))]
    project.add_lesion(sid, "cyst", recist=RecistRecord((w[0], w[1]), None, 4, study.reference.kind))
    with pytest.raises(ExportError, match="not loaded from DICOM"):
        export_annotations(project, sid, study, "sr", tmp_path / "x.dcm")
    with pytest.raises(ExportError, match="short axis"):
        export_annotations(project, sid, study, "csv", tmp_path / "x.csv")
    with pytest.raises(ExportError, match="unknown export format"):
        export_annotations(project, sid, study, "xml", tmp_path / "x.xml")
    project.close()
