"""Exporting a study's annotations from a real project file, and importing DeepLesion CSV rows into it."""

from __future__ import annotations

import numpy as np
import pytest

from liverview.core.study import PhaseKind
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


# --- measurements on any phase ---------------------------------------------------------------------

@pytest.fixture
def two_phases(tmp_path):
    """A portal venous and an arterial series of one study (other grids), a lesion measured on each."""
    import pydicom

    from .conftest import write_ct_series

    pv = write_ct_series(tmp_path / "pv")
    art = write_ct_series(tmp_path / "art", slices=10, thickness=2.0, origin=(-22.0, -28.0, 99.0))
    for ds, path in zip(art.datasets, art.paths):
        ds.StudyInstanceUID, ds.FrameOfReferenceUID = pv.datasets[0].StudyInstanceUID, pv.datasets[0].FrameOfReferenceUID
        ds.SeriesDescription, ds.SeriesNumber = "arterial", 2
        ds.save_as(path, enforce_file_format=True)
    art.datasets = [pydicom.dcmread(p) for p in art.paths]
    study = load_study([tmp_path / "pv", tmp_path / "art"]).study
    assert [p.kind.value for p in study.phases] == ["arterial", "portal venous"]
    project = Project.create(tmp_path / "p.lvproj", "reader")
    sid = ensure_study(project, study)
    marks = []
    for phase, k in ((study.phase(PhaseKind.PORTAL_VENOUS), 3), (study.phase(PhaseKind.ARTERIAL), 6)):
        vol = phase.volume

        def world(i, j):
            return tuple(float(v) for v in vol.index_to_world((i, j, k)))

        marks.append(project.add_lesion(sid, "hcc", recist=RecistRecord(
            (world(10, 20), world(30, 20)), (world(20, 14), world(20, 26)), k, phase.kind)))
    yield project, sid, study, marks, pv.datasets + art.datasets
    project.close()


def test_measurements_on_every_phase_are_exported_with_their_phase(two_phases, tmp_path):
    project, sid, study, (on_pv, on_art), datasets = two_phases
    art = study.phase(PhaseKind.ARTERIAL)

    result = export_annotations(project, sid, study, "json", tmp_path / "out.json")
    assert result.skipped == []
    doc = read_lesions_json(result.path)
    measured = {les.lesion_id: les.measurements for les in doc.lesions}
    assert [m.phase for m in measured[str(on_pv.id)]] == ["portal venous"]
    m = measured[str(on_art.id)][0]
    assert (m.phase, m.key_slice) == ("arterial", 6)
    assert m.long_axis_mm == pytest.approx(on_art.recist.long_mm)
    assert doc.grids["arterial"].matches(art.volume) and doc.reference.matches(study.reference.volume)

    result = export_annotations(project, sid, study, "csv", tmp_path / "dl.csv")
    rows, errors = read_deeplesion_csv(result.path)
    assert errors == [] and result.skipped == []
    assert sorted(r.extra["Phase"] for r in rows) == ["arterial", "portal venous"]
    other = Project.create(tmp_path / "q.lvproj", "reader")
    back = import_deeplesion_csv(other, ensure_study(other, study), study, result.path)
    assert back.problems == []
    by_phase = {other.get_lesion(i).recist.phase: other.get_lesion(i).recist for i in back.added}
    np.testing.assert_allclose(by_phase["arterial"].long_axis, on_art.recist.long_axis, atol=1e-3)
    assert by_phase["arterial"].key_slice == 6
    other.close()

    sr = export_annotations(project, sid, study, "sr", tmp_path / "sr.dcm", observer="Reader^Rita")
    assert sr.written == 2 and sr.skipped == []
    assert dciodvfy(sr.path) == []
    read = {r.measurement.lesion_id: r for r in read_recist_sr(sr.path, datasets)}
    art_uids = {str(ds.SOPInstanceUID) for ds in datasets if ds.SeriesDescription == "arterial"}
    art_label, pv_label = f"HCC lesion {on_art.id}", f"HCC lesion {on_pv.id}"  # tracking ids: class and id
    assert read[art_label].referenced_sop_instance_uid in art_uids
    assert read[pv_label].referenced_sop_instance_uid not in art_uids
    assert read[art_label].measurement.key_slice == 6


@pytest.mark.parametrize("fmt, name", [("csv", "dl.csv"), ("json", "lesions.json"), ("sr", "sr.dcm"),
                                       ("seg", "seg.dcm"), ("nifti", "lesions.nii.gz")])
def test_an_export_that_fails_half_way_leaves_the_previous_file(annotated, tmp_path, fmt, name):
    import resource
    import signal

    project, sid, study, _ = annotated
    out = tmp_path / name
    export_annotations(project, sid, study, fmt, out)
    good = out.read_bytes()
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(good) // 2, old_limit[1]))  # the disk fills half-way
    try:
        with pytest.raises(ExportError):
            export_annotations(project, sid, study, fmt, out)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert out.read_bytes() == good  # other tools never read a truncated export
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial-")]


def test_readers_names_outside_latin1_survive_the_sr(annotated, tmp_path):
    import pydicom

    from liverview.io.export.dicom_import import sr_observers

    project, sid, study, _ = annotated
    project.close()
    named = Project.open(tmp_path / "p.lvproj", user="Ольга Иванова")
    lesion = named.add_lesion(sid, "hcc")
    first = named.list_lesions(sid)[0]
    named.set_recist(lesion.id, first.recist)
    out = export_annotations(named, sid, study, "sr", tmp_path / "sr.dcm").path
    ds = pydicom.dcmread(out)
    assert ds.SpecificCharacterSet == "ISO_IR 192"  # Cyrillic: UTF-8 (Latin-1 names get ISO_IR 100)
    assert "Ольга^Иванова" in sr_observers(ds)
    named.close()
