"""Importing other tools' files into a project: the format is read from the content, export then import gives
the same lesions (end points within 0.01 mm, masks voxel for voxel), what does not fit is listed, and a file
goes in whole or not at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from liverview.core.volume import Volume
from liverview.io.export.annotation_import import ImportFormatError, detect_format, import_annotations
from liverview.io.export.dicom_seg import write_seg
from liverview.io.export.nifti_labels import LesionMask
from liverview.io.export.project_export import ExportError, export_annotations, export_sr_with_seg
from liverview.io.study_loader import load_study
from liverview.measure import recist_for_volume_mask
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.store.study_link import ensure_study

from .conftest import write_ct_series
from .test_export_dicom import dciodvfy

END_POINT_TOL_MM = 0.01


def _masks(project: Project, lesion_id: int, phase: str) -> np.ndarray:
    return project.get_mask(lesion_id, phase).array.astype(bool)


@pytest.fixture
def source(ct_series, tmp_path):
    """Anna's project: an HCC (RECIST + mask), a cyst (long axis only + mask) and a metastasis with a mask only."""
    study = load_study([ct_series.paths[0].parent]).study
    vol, phase = study.reference.volume, study.reference.kind

    def world(i, j, k):
        return tuple(float(v) for v in vol.index_to_world((i, j, k)))

    project = Project.create(tmp_path / "source.lvproj", "Anna Reader")
    sid = ensure_study(project, study)
    hcc = project.add_lesion(sid, "hcc", recist=RecistRecord((world(10.25, 20, 3), world(30, 20.5, 3)),
                                                           (world(20, 14, 3), world(20, 26, 3)), 3, phase))
    cyst = project.add_lesion(sid, "cyst", recist=RecistRecord((world(5, 40, 5), world(15, 50, 5)), None, 5, phase))
    meta = project.add_lesion(sid, "metastasis")
    for lesion, box in ((hcc, np.s_[2:5, 15:26, 12:29]), (cyst, np.s_[4:6, 40:50, 5:15]), (meta, np.s_[6:8, 2:9, 30:44])):
        mask = np.zeros(vol.array.shape, np.uint8)
        mask[box] = 1
        mask[box[0].start, box[1].start, box[2].start] = 0  # not a plain box: one corner voxel out
        project.set_mask(lesion.id, phase, Volume(mask, vol.spacing, vol.origin, vol.direction))
    yield project, sid, study, [hcc, cyst, meta]
    project.close()


@pytest.fixture
def target(source, tmp_path):
    _, _, study, _ = source
    project = Project.create(tmp_path / "target.lvproj", "Bob Importer")
    yield project, ensure_study(project, study)
    project.close()


def test_sr_export_then_import_gives_the_same_measurements(source, target, tmp_path):
    project, sid, study, lesions = source
    sr, _ = export_sr_with_seg(project, sid, study, tmp_path / "sr.dcm", tmp_path / "seg.dcm")
    other, tid = target
    result = import_annotations(other, tid, study, sr.path)
    assert result.format == "sr" and result.skipped == []
    assert any("its mask is segment" in note for note in result.notes)  # the SR's link to the SEG is reported
    back = [other.get_lesion(i) for i in result.added]
    measured = [les for les in lesions if les.recist is not None]
    assert [b.lesion_class for b in back] == [m.lesion_class for m in measured]
    for got, want in zip(back, measured):
        assert (got.recist.phase, got.recist.key_slice) == (want.recist.phase, want.recist.key_slice)
        np.testing.assert_allclose(got.recist.long_axis, want.recist.long_axis, atol=END_POINT_TOL_MM)
        if want.recist.short_axis is None:
            assert got.recist.short_axis is None
        else:
            np.testing.assert_allclose(got.recist.short_axis, want.recist.short_axis, atol=END_POINT_TOL_MM)
        assert got.created_by == "Anna Reader" and other.measured_by(got.id) == "Anna Reader"  # the SR's observer
        assert f"lesion {want.id}" in got.notes


def test_seg_export_then_import_gives_the_same_masks_voxel_for_voxel(source, target, tmp_path):
    project, sid, study, lesions = source
    seg = export_annotations(project, sid, study, "seg", tmp_path / "lesions.dcm")
    assert hd.seg.segread(seg.path).number_of_segments == 3
    other, tid = target
    result = import_annotations(other, tid, study, seg.path, reader="Rita Reader")
    assert result.format == "seg" and result.skipped == [] and len(result.added) == 3
    phase = study.reference.kind.value
    for new_id, old in zip(result.added, lesions):
        got, want = _masks(other, new_id, phase), _masks(project, old.id, phase)
        assert want.any() and np.array_equal(got, want)
        assert other.get_lesion(new_id).lesion_class == old.lesion_class
        assert other.get_lesion(new_id).created_by == "Rita Reader"


def test_nifti_export_then_import_gives_the_same_masks_voxel_for_voxel(source, target, tmp_path):
    project, sid, study, lesions = source
    nifti = export_annotations(project, sid, study, "nifti", tmp_path / "labels.nii.gz")
    other, tid = target
    result = import_annotations(other, tid, study, nifti.path)
    assert result.format == "nifti" and result.skipped == [] and len(result.added) == 3
    phase = study.reference.kind.value
    for new_id, old in zip(result.added, lesions):
        assert np.array_equal(_masks(other, new_id, phase), _masks(project, old.id, phase))
        assert other.get_lesion(new_id).lesion_class == old.lesion_class  # from the sidecar


def test_a_label_map_on_another_grid_is_listed_and_nothing_is_imported(source, target, tmp_path):
    import SimpleITK as sitk

    _, _, study, _ = source
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1, 2, 3], labels[2, 2, 2] = 1, 2
    sitk.WriteImage(sitk.GetImageFromArray(labels), str(tmp_path / "other.nii.gz"))
    other, tid = target
    result = import_annotations(other, tid, study, tmp_path / "other.nii.gz")
    assert result.added == [] and len(result.skipped) == 2
    assert all("grid of no phase" in line for line in result.skipped)
    assert other.list_lesions(tid) == []


def test_a_class_map_gives_no_organ_lesion_and_says_its_tumours_share_a_value(source, target, tmp_path):
    from liverview.io.volumes import write_volume

    _, _, study, _ = source
    grid = study.reference.volume
    z, h, w = grid.array.shape
    labels = np.zeros((z, h, w), np.uint8)
    labels[:, 2:h - 2, 2:w - 2] = 1  # "liver"
    labels[1:z - 1, 5:9, 5:9] = 2  # two tumours, one value, each inside the organ
    labels[1:z - 1, h - 10:h - 6, w - 10:w - 6] = 2
    write_volume(Volume(labels, grid.spacing, grid.origin, grid.direction), tmp_path / "classes.nii.gz")
    other, tid = target
    result = import_annotations(other, tid, study, tmp_path / "classes.nii.gz")
    assert len(result.added) == 1  # the tumours, as one lesion; the organ is not a lesion
    assert len(result.skipped) == 1 and "surrounds label(s) 2" in result.skipped[0]
    assert any("2 separate regions" in note for note in result.notes)
    assert _masks(other, result.added[0], study.reference.kind.value).sum() == (labels == 2).sum()


def test_csv_export_then_import_through_the_same_entry(source, target, tmp_path):
    project, sid, study, lesions = source
    csv = export_annotations(project, sid, study, "csv", tmp_path / "dl.csv")  # needs short axes: the HCC only
    other, tid = target
    result = import_annotations(other, tid, study, csv.path)
    assert result.format == "csv" and len(result.added) == 1
    np.testing.assert_allclose(other.get_lesion(result.added[0]).recist.long_axis, lesions[0].recist.long_axis,
                               atol=END_POINT_TOL_MM)


def test_the_format_is_read_from_the_content_not_the_name(source, tmp_path, ct_series):
    project, sid, study, _ = source
    nifti = export_annotations(project, sid, study, "nifti", tmp_path / "labels.nii.gz")
    shutil.copy(nifti.path, tmp_path / "looks_like.dcm")
    assert detect_format(tmp_path / "looks_like.dcm") == "nifti"
    seg = export_annotations(project, sid, study, "seg", tmp_path / "seg.dcm")
    shutil.copy(seg.path, tmp_path / "seg.nii.gz")
    assert detect_format(tmp_path / "seg.nii.gz") == "seg"
    with pytest.raises(ImportFormatError, match="CT Image Storage"):
        detect_format(ct_series.paths[0])  # a DICOM image holds no annotations
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ImportFormatError, match="not a file LiverView imports"):
        detect_format(tmp_path / "notes.txt")


def test_sr_groups_that_do_not_fit_are_listed_and_the_rest_imported(source, target, tmp_path):
    """Another tool's report: a RECIST group, a group with only a volume, one on an image of another study."""
    project, sid, study, lesions = source
    images = sorted((pydicom.dcmread(p) for p in Path(study.reference.source).iterdir()),
                    key=lambda ds: float(ds.ImagePositionPatient[2]))
    stranger = write_ct_series(tmp_path / "stranger").datasets[0]

    def group(label, measurements, image):
        return hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=label),
            measurements=measurements,
            source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(image)])

    def axis(name, points, image):
        return hd.sr.Measurement(name=name, value=10.0, unit=codes.UCUM.Millimeter, referenced_coordinates=[
            hd.sr.CoordinatesForMeasurement(graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                                            graphic_data=np.array(points, np.float32),
                                            source_image=hd.sr.SourceImageForRegion(image.SOPClassUID,
                                                                                    image.SOPInstanceUID))])

    volume = hd.sr.Measurement(name=codes.SCT.Volume, value=1234.0, unit=codes.UCUM.CubicMillimeter)
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.cid270.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="Other^Tool"))),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[
            group("target 1", [axis(codes.SCT.LongAxis, [[10.5, 20.5], [30.5, 20.5]], images[2]),
                               axis(codes.SCT.ShortAxis, [[20.5, 15.5], [20.5, 25.5]], images[2])], images[2]),
            group("volume only", [volume], images[2]),
            group("elsewhere", [axis(codes.SCT.LongAxis, [[1.5, 1.5], [9.5, 1.5]], stranger)], stranger),
        ])
    sr = hd.sr.Comprehensive3DSR(evidence=images[2:3] + [stranger], content=report, series_instance_uid=hd.UID(),
                                 series_number=5, sop_instance_uid=hd.UID(), instance_number=1, manufacturer="Other")
    sr.save_as(tmp_path / "other.dcm")
    other, tid = target
    result = import_annotations(other, tid, study, tmp_path / "other.dcm")
    assert len(result.added) == 1
    assert len(result.skipped) == 2
    assert "'volume only'" in result.skipped[0] and "Volume" in result.skipped[0] and "does not import" in result.skipped[0]
    assert "'elsewhere'" in result.skipped[1] and "no series of this study" in result.skipped[1]
    got = other.get_lesion(result.added[0])
    vol = study.reference.volume
    want = [vol.index_to_world((10, 20, 2)), vol.index_to_world((30, 20, 2))]  # SCOORD = pixel centre + 0.5
    np.testing.assert_allclose(got.recist.long_axis, want, atol=END_POINT_TOL_MM)
    assert got.recist.key_slice == 2 and got.created_by == "Other Tool" and got.lesion_class == "unknown"


def test_seg_segments_that_do_not_fit_are_listed(source, target, tmp_path):
    project, sid, study, lesions = source
    stranger = write_ct_series(tmp_path / "stranger")
    mask = np.zeros(stranger.volume.array.shape, bool)
    mask[2:4, 5:9, 5:9] = True
    write_seg([LesionMask("elsewhere", mask, "hcc")], stranger.datasets, tmp_path / "stranger_seg.dcm")
    other, tid = target
    result = import_annotations(other, tid, study, tmp_path / "stranger_seg.dcm")
    assert result.added == [] and len(result.skipped) == 1 and "not in this study" in result.skipped[0]

    # a SEG of this study with a lesion and an organ: the organ is listed, the lesion imported
    images = [pydicom.dcmread(p) for p in sorted(Path(study.reference.source).iterdir())]
    seg = hd.seg.Segmentation(
        source_images=sorted(images, key=lambda ds: float(ds.ImagePositionPatient[2])),
        pixel_array=np.stack([_masks(project, lesions[0].id, "portal venous"),
                              _masks(project, lesions[1].id, "portal venous")], axis=-1),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[
            hd.seg.SegmentDescription(1, "tumour", codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm,
                                      hd.seg.SegmentAlgorithmTypeValues.MANUAL),
            hd.seg.SegmentDescription(2, "liver", codes.SCT.Organ, codes.SCT.Liver,
                                      hd.seg.SegmentAlgorithmTypeValues.MANUAL)],
        series_instance_uid=hd.UID(), series_number=7, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="Other", manufacturer_model_name="x", software_versions="1", device_serial_number="1")
    seg.save_as(tmp_path / "mixed.dcm")
    result = import_annotations(other, tid, study, tmp_path / "mixed.dcm")
    assert len(result.added) == 1 and len(result.skipped) == 1 and "'liver'" in result.skipped[0]
    assert "not a lesion" in result.skipped[0]
    assert np.array_equal(_masks(other, result.added[0], "portal venous"),
                          _masks(project, lesions[0].id, "portal venous"))


def test_a_file_goes_in_whole_or_not_at_all(source, target, tmp_path, monkeypatch):
    project, sid, study, _ = source
    seg = export_annotations(project, sid, study, "seg", tmp_path / "seg.dcm")
    other, tid = target
    import liverview.store.lesion_methods as lesion_methods

    def disk_full(*args, **kwargs):  # the audit row is written after every lesion row of the file
        raise OSError("disk full")

    monkeypatch.setattr(lesion_methods, "write_audit", disk_full)
    with pytest.raises(OSError, match="disk full"):
        import_annotations(other, tid, study, seg.path)
    assert other.list_lesions(tid) == []
    monkeypatch.undo()
    assert len(import_annotations(other, tid, study, seg.path).added) == 3


# --- the real IRCADb 17 series --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ircadb_study():
    root = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ircadb-liver17"
    if not root.is_dir():
        pytest.skip(f"{root} is not present beside this checkout")
    import SimpleITK as sitk

    study = load_study([root / "PATIENT_DICOM"]).study
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "tumor_instances.nii.gz")))
    assert labels.shape == study.reference.volume.array.shape
    return study, labels


def test_round_trip_on_the_real_ircadb_series(ircadb_study, tmp_path):
    """SR + SEG and NIfTI of the two real tumours, exported and imported back: same RECIST end points, same
    masks; both DICOM files read by highdicom and valid per dciodvfy (no errors)."""
    study, labels = ircadb_study
    vol, phase = study.reference.volume, study.reference.kind
    source = Project.create(tmp_path / "src.lvproj", "Anna Reader")
    sid = ensure_study(source, study)
    made = []
    for value, cls in ((1, "hcc"), (2, "metastasis")):
        m = recist_for_volume_mask(vol, labels == value)
        lesion = source.add_lesion(sid, cls, recist=RecistRecord.from_measurement(m, phase))
        source.set_mask(lesion.id, phase, Volume((labels == value).astype(np.uint8), vol.spacing, vol.origin,
                                                 vol.direction))
        made.append(lesion)
    sr, seg = export_sr_with_seg(source, sid, study, tmp_path / "sr.dcm", tmp_path / "seg.dcm")
    nifti = export_annotations(source, sid, study, "nifti", tmp_path / "labels.nii.gz")
    assert hd.sr.srread(sr.path).content.get_image_measurement_groups()
    assert hd.seg.segread(seg.path).number_of_segments == 2
    for path in (sr.path, seg.path):
        assert not [line for line in dciodvfy(path) if line.startswith("Error")]

    target = Project.create(tmp_path / "dst.lvproj", "Bob Importer")
    tid = ensure_study(target, study)
    from_sr = import_annotations(target, tid, study, sr.path)
    from_seg = import_annotations(target, tid, study, seg.path)
    from_nifti = import_annotations(target, tid, study, nifti.path)
    assert [r.skipped for r in (from_sr, from_seg, from_nifti)] == [[], [], []]
    # the SEG names the SR's lesions by tracking UID: their masks join them, no second lesion each
    assert from_seg.added == [] and from_seg.completed == from_sr.added
    for n, want in enumerate(made):
        got = target.get_lesion(from_sr.added[n])
        assert (got.lesion_class, got.recist.key_slice) == (want.lesion_class, want.recist.key_slice)
        np.testing.assert_allclose(got.recist.long_axis, want.recist.long_axis, atol=END_POINT_TOL_MM)
        np.testing.assert_allclose(got.recist.short_axis, want.recist.short_axis, atol=END_POINT_TOL_MM)
        truth = labels == (n + 1)
        assert np.array_equal(_masks(target, from_sr.added[n], phase.value), truth)
        assert np.array_equal(_masks(target, from_nifti.added[n], phase.value), truth)  # a label map names no lesion
    source.close()
    target.close()


def test_sr_then_seg_of_one_export_make_one_lesion_each_and_a_second_import_adds_nothing(source, target, tmp_path):
    project, sid, study, lesions = source
    sr, seg = export_sr_with_seg(project, sid, study, tmp_path / "sr.dcm", tmp_path / "seg.dcm")
    other, tid = target
    from_sr = import_annotations(other, tid, study, sr.path)
    from_seg = import_annotations(other, tid, study, seg.path)
    measured = [les for les in lesions if les.recist is not None]
    assert len(from_sr.added) == len(measured) and from_seg.completed == from_sr.added
    assert len(from_seg.added) == len(lesions) - len(measured)  # segments without a measurement are lesions too
    phase = study.reference.kind.value
    for new_id, old in zip(from_sr.added, measured):
        assert other.get_lesion(new_id).recist is not None
        assert np.array_equal(_masks(other, new_id, phase), _masks(project, old.id, phase))
    count = len(other.list_lesions(tid))
    again = import_annotations(other, tid, study, seg.path)
    assert again.added == [] and again.completed == [] and len(other.list_lesions(tid)) == count
    assert sum("keeps its own" in n for n in again.notes) == len(lesions)  # each part kept is said
    # exported again from here, the lesions keep the tracking UIDs their source gave them
    sr2, _ = export_sr_with_seg(other, tid, study, tmp_path / "sr2.dcm", tmp_path / "seg2.dcm")
    uids = lambda path: sorted(str(g.tracking_uid) for g in hd.sr.srread(path).content.get_image_measurement_groups())
    assert uids(sr2.path) == uids(sr.path)


def test_a_re_imported_export_completes_its_own_lesions_instead_of_doubling_them(source, tmp_path):
    project, sid, study, lesions = source
    seg = export_annotations(project, sid, study, "seg", tmp_path / "lesions.dcm")
    count = len(project.list_lesions(sid))
    result = import_annotations(project, sid, study, seg.path)
    assert result.added == [] and result.completed == [] and len(project.list_lesions(sid)) == count


def test_a_study_with_a_damaged_slice_left_out_exports_and_imports_its_sr_and_seg(tmp_path):
    series = write_ct_series(tmp_path / "ct")
    damaged = series.paths[0]  # the top slice (one in the middle would leave a gap: positions approximate)
    damaged.write_bytes(damaged.read_bytes()[:2000])  # cut short: the loader leaves this slice out
    loaded = load_study([tmp_path / "ct"])
    study = loaded.study
    vol, phase = study.reference.volume, study.reference.kind
    assert vol.array.shape[0] == len(series.paths) - 1 and loaded.problems  # left out, and said so
    with Project.create(tmp_path / "a.lvproj", "Anna Reader") as project:
        sid = ensure_study(project, study)
        lesion = project.add_lesion(sid, "hcc", recist=RecistRecord(
            tuple(tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, 3), (30, 20, 3))),
            tuple(tuple(float(v) for v in vol.index_to_world(p)) for p in ((20, 14, 3), (20, 26, 3))), 3, phase))
        mask = np.zeros(vol.array.shape, np.uint8)
        mask[2:5, 15:26, 12:29] = 1
        project.set_mask(lesion.id, phase, Volume(mask, vol.spacing, vol.origin, vol.direction))
        sr, seg = export_sr_with_seg(project, sid, study, tmp_path / "sr.dcm", tmp_path / "seg.dcm")
    with Project.create(tmp_path / "b.lvproj", "Bob Importer") as other:
        tid = ensure_study(other, study)
        from_sr = import_annotations(other, tid, study, sr.path)  # found 8 images for 7 slices before
        from_seg = import_annotations(other, tid, study, seg.path)
        assert len(from_sr.added) == 1 and from_seg.completed == from_sr.added
        assert np.array_equal(_masks(other, from_sr.added[0], phase.value), mask.astype(bool))


def test_a_study_with_a_slice_missing_exports_sr_and_seg_on_its_images_and_reads_them_back(tmp_path):
    series = write_ct_series(tmp_path / "ct")
    series.paths[4].write_bytes(series.paths[4].read_bytes()[:2000])  # damaged, left out: a gap in the series
    study = load_study([tmp_path / "ct"]).study
    vol, phase = study.reference.volume, study.reference.kind
    (gap,) = vol.missing_slices  # on its true grid, the gap marked
    k = gap + 1  # after the gap: image n is slice n + 1
    with Project.create(tmp_path / "a.lvproj", "Anna Reader") as project:
        sid = ensure_study(project, study)
        measured = project.add_lesion(sid, "hcc", recist=RecistRecord(
            tuple(tuple(float(v) for v in vol.index_to_world(p)) for p in ((10, 20, k), (30, 20, k))),
            tuple(tuple(float(v) for v in vol.index_to_world(p)) for p in ((20, 14, k), (20, 26, k))), k, phase))
        mask = np.zeros(vol.array.shape, np.uint8)
        mask[gap - 1:gap + 2, 15:26, 12:29] = 1  # across the gap: its voxels there have no source image
        project.set_mask(measured.id, phase, Volume(mask, vol.spacing, vol.origin, vol.direction))
        on_gap = project.add_lesion(sid, "cyst", recist=RecistRecord(
            tuple(tuple(float(v) for v in vol.index_to_world(p)) for p in ((5, 5, gap), (15, 5, gap))), None, gap,
            phase))
        sr, seg = export_sr_with_seg(project, sid, study, tmp_path / "sr.dcm", tmp_path / "seg.dcm")
        assert sr.written == 1 and any(f"lesion {on_gap.id}: measured on slice {gap + 1}" in m and "missing" in m
                                       for m in sr.skipped)
        assert seg.written == 1 and any(f"{11 * 17} voxel(s)" in n and "missing from the series" in n
                                        for n in seg.notes)
        assert len(pydicom.dcmread(seg.path).PerFrameFunctionalGroupsSequence) == 2  # frames on images only
    with Project.create(tmp_path / "b.lvproj", "Bob Importer") as other:
        tid = ensure_study(other, study)
        from_sr = import_annotations(other, tid, study, sr.path)
        from_seg = import_annotations(other, tid, study, seg.path)
        (added,) = from_sr.added
        back = other.get_lesion(added).recist
        assert back.key_slice == k and np.allclose(back.long_axis, measured.recist.long_axis, atol=END_POINT_TOL_MM)
        assert from_seg.completed == from_sr.added
        expected = mask.astype(bool)
        expected[gap] = False
        assert np.array_equal(_masks(other, added, phase.value), expected)  # each frame on its own slice