"""Ultrasound lesions in the project: schema 2 (modality, pixel units), the migration from schema 1,
and a segmented lesion saved with mask, class and RECIST."""

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from liverview.measure.recist import EmptyMaskError
from liverview.store.migrations import MIGRATIONS, SCHEMA_VERSION, migrate, read_version
from liverview.store.project import Project
from liverview.store.records import InvalidRecordError, RecistRecord, normalize_phase
from liverview.store.ultrasound import (
    UsLesionResult,
    default_us_project_path,
    ensure_us_study,
    save_us_lesion,
)


def _v1_project(path: Path) -> None:
    """A project as LiverView with schema 1 wrote it: a CT study, a phase, a lesion with RECIST."""
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    now = "2026-01-01T00:00:00+00:00"
    conn.execute("INSERT INTO studies (uid, description, patient_id, created_at) VALUES ('1.2.3', 'old', 'P1', ?)",
                 (now,))
    conn.execute("INSERT INTO phases (study_id, kind, source_path, is_reference) VALUES (1, 'arterial', '/ct', 1)")
    conn.execute("INSERT INTO lesions (study_id, lesion_class, created_by, created_at, updated_at) "
                 "VALUES (1, 'hcc', 'old-user', ?, ?)", (now, now))
    conn.execute("INSERT INTO recist_marks (lesion_id, phase, key_slice, long_x0, long_y0, long_z0, long_x1, "
                 "long_y1, long_z1) VALUES (1, 'arterial', 4, 0, 0, 0, 10, 0, 0)")
    conn.close()


def test_a_schema_1_project_opens_upgraded_to_schema_2_with_its_data_as_ct_in_mm(tmp_path):
    path = tmp_path / "old.lvproj"
    _v1_project(path)
    with pytest.raises(Exception, match="open it once for editing"):
        Project.open(path, "reader", read_only=True)
    with Project.open(path, "alice") as p:
        assert p.schema_version == SCHEMA_VERSION >= 3  # upgraded all the way to the newest schema
        (study,) = p.list_studies()
        assert (study.uid, study.modality) == ("1.2.3", "CT")
        (phase,) = p.list_phases(study.id)
        assert (phase.kind, phase.pixel_units) == ("arterial", "mm")
        (lesion,) = p.list_lesions()
        assert lesion.lesion_class == "hcc" and lesion.recist.long_mm == 10.0
        # the upgraded project takes ultrasound studies next to the old CT one
        us = ensure_us_study(p, tmp_path / "echo.png", None)
        assert [s.modality for s in p.list_studies()] == ["CT", "US"]
        assert p.list_phases(us)[0].pixel_units == "px"
    conn = sqlite3.connect(path)
    assert read_version(conn) == SCHEMA_VERSION
    conn.close()


def test_schema_2_refuses_unknown_modalities_and_units_in_the_database_too(tmp_path):
    with Project.create(tmp_path / "p.lvproj", "alice") as p:
        with pytest.raises(InvalidRecordError, match="modality"):
            p.add_study(modality="MR")
        s = p.add_study(modality="US")
        with pytest.raises(InvalidRecordError, match="pixel units"):
            p.add_phase(s, "US", "/x.png", pixel_units="inch")
    conn = sqlite3.connect(tmp_path / "p.lvproj")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO studies (created_at, modality) VALUES ('now', 'MR')")
    conn.close()


def test_the_ultrasound_phase_name_and_its_aliases():
    assert normalize_phase("ultrasound") == normalize_phase("US") == normalize_phase("us") == "ultrasound"
    assert normalize_phase("PV") == "portal venous"
    with pytest.raises(InvalidRecordError):
        normalize_phase("doppler")


def _ellipse(h=60, w=80, cy=30, cx=40, ry=10, rx=20):
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


@pytest.mark.parametrize("spacing, units", [((0.25, 0.5), "mm"), (None, "px")])
def test_a_segmented_lesion_is_saved_with_mask_class_and_recist_and_reads_back_after_reopening(tmp_path, spacing,
                                                                                                   units):
    path = tmp_path / "us.lvproj"
    mask = _ellipse()
    result = UsLesionResult(mask, frame_index=3,
                            class_probs={"cyst": 0.1, "hemangioma": 0.6, "metastasis": 0.2, "hcc": 0.1},
                            malignant_prob=0.3, model_name="us_clickseg test")
    with Project.create(path, "sono") as p:
        study = ensure_us_study(p, tmp_path / "liver.dcm", spacing)
        assert ensure_us_study(p, tmp_path / "liver.dcm", spacing) == study  # found, not added twice
        saved = save_us_lesion(p, study, result, spacing)
    with Project.open(path, "other", read_only=True) as p:
        (lesion,) = p.list_lesions(study)
        assert lesion == saved
        assert lesion.lesion_class == "hemangioma"
        assert "hemangioma 0.60" in lesion.notes and "malignant 0.30" in lesion.notes and f"{units}^2" in lesion.notes
        assert p.list_phases(study)[0].pixel_units == units
        r = lesion.recist
        assert isinstance(r, RecistRecord) and r.phase == "ultrasound" and r.key_slice == 3
        sy, sx = spacing or (1.0, 1.0)
        # the ellipse is 41 px wide along columns (pixel squares, edge to edge) and 21 px tall
        assert r.long_mm == pytest.approx(41 * sx, rel=0.02)
        assert r.short_mm == pytest.approx(21 * sy, rel=0.05)
        stored = p.get_mask(lesion.id, "ultrasound")
        assert np.array_equal(stored.array[0], mask)
        assert stored.spacing[:2] == (sx, sy)


def test_an_empty_mask_is_refused_and_nothing_is_saved(tmp_path):
    with Project.create(tmp_path / "p.lvproj", "sono") as p:
        study = ensure_us_study(p, tmp_path / "a.png", None)
        empty = UsLesionResult(np.zeros((20, 20), bool), 0, {"cyst": 1.0}, None, "m")
        with pytest.raises(EmptyMaskError):
            save_us_lesion(p, study, empty, None)
        assert p.list_lesions() == []


def test_a_model_without_lesion_classes_saves_unknown_with_its_malignancy(tmp_path):
    with Project.create(tmp_path / "p.lvproj", "sono") as p:
        study = ensure_us_study(p, tmp_path / "breast.png", None)
        lesion = save_us_lesion(p, study, UsLesionResult(_ellipse(), 0, {}, 0.91, "busi"), None)
        assert lesion.lesion_class == "unknown"
        assert "malignant 0.91" in lesion.notes and "class probabilities" not in lesion.notes


def test_each_image_gets_its_own_default_project(tmp_path):
    a = default_us_project_path(tmp_path / "a.png", tmp_path)
    assert a == default_us_project_path(tmp_path / "a.png", tmp_path)
    assert a != default_us_project_path(tmp_path / "b.png", tmp_path)
    assert a.parent == tmp_path / "projects"
