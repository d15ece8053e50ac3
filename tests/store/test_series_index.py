"""The study browser's index in the project (schema 4): entries round-trip, re-indexing replaces by key, and a
schema-3 project is upgraded with its data kept."""

import sqlite3
from pathlib import Path

import pytest

from liverview.core.indexed_series import IndexedSeries
from liverview.store.migrations import MIGRATIONS, SCHEMA_VERSION, migrate, read_version
from liverview.store.project import Project, ReadOnlyProjectError


def _ct(key: str, description: str, phase: str = "") -> IndexedSeries:
    return IndexedSeries(key=key, modality="CT", source_kind="dicom",
                         files=(Path(f"/data/{key}/1.dcm"), Path(f"/data/{key}/2.dcm")), patient_id="P1",
                         patient_name="Doe John", study_uid="1.2.3", study_date="20240102",
                         study_description="CT liver", series_uid=key, series_description=description,
                         series_number=4, phase=phase, frames=2)


def test_entries_round_trip_and_reindexing_replaces_by_key(tmp_path):
    us = IndexedSeries(key="file:/data/us.png", modality="US", source_kind="raster", files=(Path("/data/us.png"),),
                       study_uid="file:/data/us.png", series_description="us.png", phase="ultrasound")
    with Project.create(tmp_path / "p.lvproj", "alice") as p:
        assert p.index_series([_ct("1.2.3.4", "Arterial", "arterial"), us]) == 2
        assert p.indexed_series() == [_ct("1.2.3.4", "Arterial", "arterial"), us]
        p.index_series([_ct("1.2.3.4", "Arterial (re-read)", "arterial")])
        assert [s.series_description for s in p.indexed_series()] == ["Arterial (re-read)", "us.png"]
        assert p.forget_indexed_series(["file:/data/us.png"]) == 1
        assert [s.key for s in p.indexed_series()] == ["1.2.3.4"]
        assert p.audit_log() == []  # bookkeeping, not an edit of the reading


def test_a_read_only_project_lists_but_refuses_to_index(tmp_path):
    with Project.create(tmp_path / "p.lvproj", "alice") as p:
        p.index_series([_ct("9", "PV", "portal venous")])
    with Project.open(tmp_path / "p.lvproj", "bob", read_only=True) as p:
        assert [s.phase for s in p.indexed_series()] == ["portal venous"]
        with pytest.raises(ReadOnlyProjectError):
            p.index_series([_ct("10", "NC")])


def test_a_bad_entry_is_refused_before_it_reaches_the_database():
    with pytest.raises(ValueError, match="modality"):
        IndexedSeries(key="x", modality="MR", source_kind="dicom", files=(Path("a.dcm"),))
    with pytest.raises(ValueError, match="names no file"):
        IndexedSeries(key="x", modality="CT", source_kind="dicom", files=())


def test_a_schema_3_project_gains_an_empty_index_and_keeps_its_studies(tmp_path):
    path = tmp_path / "old.lvproj"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:3]) == 3
    conn.execute("INSERT INTO studies (uid, created_at) VALUES ('1.2.3', '2024-01-01T00:00:00+00:00')")
    conn.close()
    with Project.open(path, "alice") as p:
        assert p.indexed_series() == []
        assert [s.uid for s in p.list_studies()] == ["1.2.3"]
    conn = sqlite3.connect(path)
    assert read_version(conn) == SCHEMA_VERSION >= 4
    conn.close()


def test_a_schema_4_project_keeps_its_lesions_and_they_have_no_tracking_uid(tmp_path):
    path = tmp_path / "old4.lvproj"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:4]) == 4
    conn.execute("INSERT INTO studies (uid, created_at) VALUES ('1.2.3', '2024-01-01T00:00:00+00:00')")
    conn.execute("INSERT INTO lesions (study_id, lesion_class, status, notes, created_by, created_at, updated_at) "
                 "VALUES (1, 'cyst', 'draft', 'old', 'bob', '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00')")
    conn.close()
    with Project.open(path, "alice") as p:
        (lesion,) = p.list_lesions()
        assert (lesion.lesion_class, lesion.notes, lesion.tracking_uid) == ("cyst", "old", "")
    conn = sqlite3.connect(path)
    assert read_version(conn) == SCHEMA_VERSION == 5
    assert conn.execute("SELECT tracking_uid FROM lesions").fetchall() == [("",)]
    conn.close()
