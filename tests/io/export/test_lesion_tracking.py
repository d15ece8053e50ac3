"""One lesion, one identity across DICOM files: the SR group and the SEG segment of a lesion share a tracking
UID that stays the same on every export, carry its label (class and id), the SR names the reader who measured,
and an SR written with its SEG references that SEG."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from liverview.core.volume import Volume
from liverview.io.export.project_export import ExportError, export_annotations, export_sr_with_seg
from liverview.io.study_loader import load_study
from liverview.store.project import Project
from liverview.store.records import RecistRecord
from liverview.store.study_link import ensure_study

from .test_export_dicom import dciodvfy


@pytest.fixture
def measured(ct_series, tmp_path):
    """Anna measures an HCC (with a mask) and a cyst; Carl later re-measures the cyst; the project is then
    opened read-only by Bob, who exports."""
    study = load_study([ct_series.paths[0].parent]).study
    path = tmp_path / "p.lvproj"
    vol, phase = study.reference.volume, study.reference.kind

    def world(i, j, k):
        return tuple(float(v) for v in vol.index_to_world((i, j, k)))

    with Project.create(path, "Anna Reader") as project:
        sid = ensure_study(project, study)
        hcc = project.add_lesion(sid, "hcc", recist=RecistRecord((world(10, 20, 3), world(30, 20, 3)),
                                                               (world(20, 14, 3), world(20, 26, 3)), 3, phase))
        cyst = project.add_lesion(sid, "cyst", recist=RecistRecord((world(5, 40, 5), world(15, 50, 5)), None, 5, phase))
        mask = np.zeros(vol.array.shape, np.uint8)
        mask[2:5, 15:26, 12:29] = 1
        project.set_mask(hcc.id, phase, Volume(mask, vol.spacing, vol.origin, vol.direction))
        mask2 = np.zeros(vol.array.shape, np.uint8)
        mask2[4:6, 40:50, 5:15] = 1
        project.set_mask(cyst.id, phase, Volume(mask2, vol.spacing, vol.origin, vol.direction))
    with Project.open(path, "Carl Second") as project:
        project.set_recist(cyst.id, RecistRecord((world(5, 40, 5), world(16, 50, 5)), None, 5, phase))
    project = Project.open(path, "Bob Exporter", read_only=True)
    yield project, sid, study, hcc, cyst
    project.close()


def _segments(path):
    seg = hd.seg.segread(path)
    return {seg.get_segment_description(n).segment_label: seg.get_segment_description(n) for n in seg.segment_numbers}, seg


def _groups(path):
    report = hd.sr.srread(path).content
    return {str(g.tracking_identifier): g for g in report.get_image_measurement_groups()}, report


def test_sr_and_seg_share_one_tracking_uid_per_lesion_on_every_export(measured, tmp_path):
    project, sid, study, hcc, cyst = measured
    uids = []
    for n in (1, 2):
        export_annotations(project, sid, study, "sr", tmp_path / f"sr{n}.dcm")
        export_annotations(project, sid, study, "seg", tmp_path / f"seg{n}.dcm")
        groups, _ = _groups(tmp_path / f"sr{n}.dcm")
        segments, _ = _segments(tmp_path / f"seg{n}.dcm")
        labels = [f"HCC lesion {hcc.id}", f"Cyst lesion {cyst.id}"]
        assert sorted(groups) == sorted(segments) == sorted(labels)  # labels from class and id, not "1", "2"
        for label in labels:
            assert str(groups[label].tracking_uid) == str(segments[label].tracking_uid)
        uids.append({label: str(groups[label].tracking_uid) for label in labels})
    assert uids[0] == uids[1] and len(set(uids[0].values())) == 2  # stable across exports, one per lesion


def test_the_observer_is_the_reader_who_measured_not_who_exports(measured, tmp_path):
    project, sid, study, hcc, cyst = measured
    assert project.user == "Bob Exporter"
    assert project.measured_by(hcc.id) == "Anna Reader" and project.measured_by(cyst.id) == "Carl Second"
    export_annotations(project, sid, study, "sr", tmp_path / "sr.dcm")
    ds = pydicom.dcmread(tmp_path / "sr.dcm")
    names = [str(item.PersonName) for item in ds.ContentSequence if item.ValueType == "PNAME"]
    assert names == ["Anna^Reader", "Carl^Second"]
    assert dciodvfy(tmp_path / "sr.dcm") == []
    export_annotations(project, sid, study, "sr", tmp_path / "sr_named.dcm", observer="Doe^Jane")
    named = pydicom.dcmread(tmp_path / "sr_named.dcm")
    assert [str(i.PersonName) for i in named.ContentSequence if i.ValueType == "PNAME"] == ["Doe^Jane"]


def test_an_sr_written_with_its_seg_references_the_seg_and_each_lesions_segment(measured, tmp_path):
    project, sid, study, hcc, cyst = measured
    sr_result, seg_result = export_sr_with_seg(project, sid, study, tmp_path / "sr.dcm", tmp_path / "seg.dcm")
    assert (sr_result.written, seg_result.written) == (2, 2) and "seg.dcm" in sr_result.notes[0]
    assert dciodvfy(sr_result.path) == [] and dciodvfy(seg_result.path) == []
    segments, seg = _segments(seg_result.path)
    sr = pydicom.dcmread(sr_result.path)
    evidence = {str(i.ReferencedSOPInstanceUID) for s in sr.CurrentRequestedProcedureEvidenceSequence
                for series in s.ReferencedSeriesSequence for i in series.ReferencedSOPSequence}
    assert str(seg.SOPInstanceUID) in evidence
    groups, report = _groups(sr_result.path)
    volumetric = report.get_volumetric_roi_measurement_groups()
    assert len(volumetric) == 2
    for group in volumetric:
        label = str(group.tracking_identifier)
        ref = group.referenced_segment
        assert str(group.tracking_uid) == str(groups[label].tracking_uid) == str(segments[label].tracking_uid)
        assert ref.referenced_sop_instance_uid == str(seg.SOPInstanceUID)
        assert ref.referenced_segment_numbers == [segments[label].segment_number]


def test_sr_and_seg_must_be_two_dicom_files(measured, tmp_path):
    project, sid, study, _, _ = measured
    with pytest.raises(ExportError, match="two files"):
        export_sr_with_seg(project, sid, study, tmp_path / "x.dcm", tmp_path / "x.dcm")
    with pytest.raises(ExportError, match="writes .dcm"):
        export_sr_with_seg(project, sid, study, tmp_path / "x.dcm", tmp_path / "x.nii.gz")
