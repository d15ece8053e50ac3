"""Schema versions of a project database: read the version, refuse newer ones, upgrade older ones.

The version lives in ``meta('schema_version')``. Step N turns a version N-1 database into version N;
step 1 creates the base schema (``schema.sql``) in an empty database, so a new project and an old one
take the same path. All pending steps run in one transaction: a failing step leaves the file as it was.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import Callable, Iterator, Sequence

from liverview.store.project_errors import DamagedProjectError, is_corruption
from liverview.store.records import StoreError


class SchemaError(StoreError):
    """The database's schema cannot be used as it is."""


class NotAProjectError(SchemaError):
    """The file is not a LiverView project (not SQLite, or SQLite without LiverView's tables)."""


class NewerSchemaError(SchemaError):
    """The project was written by a newer LiverView; this one must not touch it."""


class MigrationError(SchemaError):
    """Upgrading an older project failed; the file was left unchanged."""


@dataclass(frozen=True)
class Migration:
    """One upgrade step: ``apply`` turns a version ``version - 1`` database into version ``version``.
    It runs inside the upgrade transaction and must not commit."""

    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def split_statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, one at a time (executescript would commit first)."""
    buffer: list[str] = []
    for line in script.splitlines(keepends=True):
        buffer.append(line)
        text = "".join(buffer)
        if sqlite3.complete_statement(text):
            yield text
            buffer.clear()
    rest = [ln for ln in "".join(buffer).splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if rest:
        raise MigrationError(f"the schema script ends with an incomplete statement: {' '.join(rest)[:80]}")


def _create_base_schema(conn: sqlite3.Connection) -> None:
    script = resources.files("liverview.store").joinpath("schema.sql").read_text(encoding="utf-8")
    for statement in split_statements(script):
        conn.execute(statement)


def _add_ultrasound(conn: sqlite3.Connection) -> None:
    """Schema 2: a study says its modality (CT, US) and a phase whether its pixels have a size in mm.
    Old rows are CT in mm, which is what every schema-1 project holds. The phase name 'ultrasound'
    needs no column: phase names are checked in liverview/store/records.py."""
    conn.execute("ALTER TABLE studies ADD COLUMN modality TEXT NOT NULL DEFAULT 'CT' "
                 "CHECK (modality IN ('CT', 'US'))")
    conn.execute("ALTER TABLE phases ADD COLUMN pixel_units TEXT NOT NULL DEFAULT 'mm' "
                 "CHECK (pixel_units IN ('mm', 'px'))")


def _add_scan_results(conn: sqlite3.Connection) -> None:
    """Schema 3: what `liverview scan` did with each study of an archive (done or failed, attempts, the
    failure's message), keyed by the study's identity (DICOM StudyInstanceUID or a hash of its files), so a
    re-run skips finished studies and retries failed ones. Older projects simply have no scan rows yet."""
    conn.execute("""CREATE TABLE scan_results (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        study_key   TEXT NOT NULL UNIQUE,
        study_id    INTEGER REFERENCES studies(id),
        source      TEXT NOT NULL,
        signature   TEXT NOT NULL DEFAULT '',
        status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
        attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        message     TEXT NOT NULL DEFAULT '',
        model       TEXT NOT NULL DEFAULT '',
        proposals   INTEGER NOT NULL DEFAULT 0,
        seconds     REAL,
        updated_at  TEXT NOT NULL,
        CHECK ((status = 'done') = (study_id IS NOT NULL))
    )""")
    conn.execute("CREATE INDEX scan_results_source ON scan_results(source)")


def _add_series_index(conn: sqlite3.Connection) -> None:
    """Schema 4: the study browser's index (liverview/io/study_index.py): one row per CT series or ultrasound
    image found in an indexed folder, with its patient, study, modality, phase and files. Bookkeeping for the
    browser, not annotations: older projects simply have an empty index."""
    conn.execute("""CREATE TABLE series_index (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        series_key         TEXT NOT NULL UNIQUE,
        modality           TEXT NOT NULL CHECK (modality IN ('CT', 'US')),
        source_kind        TEXT NOT NULL CHECK (source_kind IN ('dicom', 'volume', 'raster')),
        files              TEXT NOT NULL,
        patient_id         TEXT NOT NULL DEFAULT '',
        patient_name       TEXT NOT NULL DEFAULT '',
        study_uid          TEXT NOT NULL DEFAULT '',
        study_date         TEXT NOT NULL DEFAULT '',
        study_description  TEXT NOT NULL DEFAULT '',
        series_uid         TEXT NOT NULL DEFAULT '',
        series_description TEXT NOT NULL DEFAULT '',
        series_number      INTEGER,
        phase              TEXT NOT NULL DEFAULT '',
        frames             INTEGER NOT NULL DEFAULT 1 CHECK (frames >= 1),
        indexed_at         TEXT NOT NULL
    )""")
    conn.execute("CREATE INDEX series_index_study ON series_index(patient_id, study_uid)")


def _add_lesion_tracking_uid(conn: sqlite3.Connection) -> None:
    """Schema 5: a lesion's DICOM tracking UID when it came from another tool's SR or SEG, so that a later file
    naming the same UID (the SEG of an imported SR) adds to that lesion instead of making a second one, and
    exports name it as its source did. '' for lesions made here (exports derive theirs) and older projects."""
    conn.execute("ALTER TABLE lesions ADD COLUMN tracking_uid TEXT NOT NULL DEFAULT ''")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create the base schema (studies, lesions, RECIST, boxes, masks, proposals, audit, undo)",
              _create_base_schema),
    Migration(2, "ultrasound studies: study modality, phase pixel units (mm or px)", _add_ultrasound),
    Migration(3, "archive scans: one row per scanned study (done or failed, attempts, message)", _add_scan_results),
    Migration(4, "study browser: one row per indexed CT series or ultrasound image", _add_series_index),
    Migration(5, "lesions: the DICOM tracking UID of an imported lesion", _add_lesion_tracking_uid),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def read_version(conn: sqlite3.Connection, where: str = "the database") -> int:
    """Schema version of the database: 0 for an empty one. Raises NotAProjectError for other files and
    DamagedProjectError for a damaged one (a truncated project is SQLite that is "malformed", not "not a
    database"); busy or I/O errors come out as they are (the opener reports them)."""
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    except sqlite3.DatabaseError as err:
        if is_corruption(err):
            raise DamagedProjectError(
                f"{where} is damaged ({err}); it was not changed. Open it read-only to see what can still be "
                "read, or restore it from a backup") from None
        if isinstance(err, sqlite3.OperationalError):
            raise  # locked, unreadable: not a statement about what the file is
        raise NotAProjectError(f"{where} is not a LiverView project ({err}): choose a project file") from None
    if not tables:
        return 0
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() \
            if "meta" in tables else None
    except sqlite3.DatabaseError as err:
        raise DamagedProjectError(
            f"{where} is damaged: its schema version cannot be read ({err}); open it read-only to see what "
            "can still be read, or restore it from a backup") from None
    if row is None:
        raise NotAProjectError(
            f"{where} is an SQLite database but not a LiverView project (it has no schema version): "
            "choose a project file, or create a new project")
    try:
        return int(row[0])
    except ValueError:
        raise NotAProjectError(f"{where} has an unreadable schema version {row[0]!r}: it is damaged") from None


def check_version(conn: sqlite3.Connection, latest: int = SCHEMA_VERSION, where: str = "this project") -> int:
    """The database's version; NewerSchemaError when it is newer than ``latest`` (what this code knows)."""
    version = read_version(conn, where)
    if version > latest:
        raise NewerSchemaError(
            f"{where}: this project was written by a newer LiverView (schema {version} > {latest}): "
            "upgrade LiverView to open it")
    return version


def _check_steps(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration steps must be numbered 1, 2, 3, ... in order, got {versions}")


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS,
            where: str = "this project", app_version: str = "") -> int:
    """Bring the database to the last step's version in one transaction; returns that version.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Foreign keys are switched off while
    steps run (so a step may rebuild a table, as SQLite's ALTER TABLE guide prescribes) and checked
    before the commit.
    """
    _check_steps(migrations)
    latest = migrations[-1].version if migrations else 0
    version = check_version(conn, latest, where)
    if version == latest:
        return version
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = check_version(conn, latest, where)  # another writer may have upgraded meanwhile
            for step in migrations[version:]:
                try:
                    step.apply(conn)
                except Exception as err:
                    raise MigrationError(
                        f"{where}: upgrading to schema {step.version} ({step.description}) failed: {err}; "
                        "the project was left unchanged") from err
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise MigrationError(f"{where}: the upgrade to schema {latest} left broken references in "
                                     f"{sorted({r[0] for r in broken})}; the project was left unchanged")
            now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
            rows = [("schema_version", str(latest)), ("migrated_at", now)]
            if version == 0:
                rows.append(("created_at", now))
            if app_version:
                rows.append(("written_by", app_version))
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value", rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    return latest
