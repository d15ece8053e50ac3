-- LiverView project schema, version 1 (migration step 1 in liverview/store/migrations.py).
-- Coordinates are patient LPS millimetres; voxel indices (i, j, k) are inclusive and refer to the
-- study's reference phase; times are UTC ISO 8601 text. Vocabularies (lesion classes, statuses) are
-- checked by liverview/store/records.py so a new class needs no table rebuild.
-- AUTOINCREMENT everywhere: an id is never reused, so the audit log and undo never confuse two rows.
-- Later schema versions change this base by migration steps (migrations.py): schema 2 adds
-- studies.modality ('CT' | 'US') and phases.pixel_units ('mm' | 'px'); schema 3 adds the scan_results table
-- (`liverview scan`: each archive study done or failed, its attempts and failure message).
-- Schema 4 adds the series_index table (the study browser's patient/study/series index).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE studies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uid         TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    patient_id  TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX studies_uid ON studies(uid) WHERE uid <> '';

-- A phase names its volume (file or DICOM folder + series UID); pixels are never copied here.
CREATE TABLE phases (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id     INTEGER NOT NULL REFERENCES studies(id),
    kind         TEXT NOT NULL,
    source_path  TEXT NOT NULL,
    series_uid   TEXT NOT NULL DEFAULT '',
    is_reference INTEGER NOT NULL DEFAULT 0 CHECK (is_reference IN (0, 1))
);
CREATE INDEX phases_study ON phases(study_id);
CREATE UNIQUE INDEX phases_one_reference ON phases(study_id) WHERE is_reference = 1;

CREATE TABLE lesions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id     INTEGER NOT NULL REFERENCES studies(id),
    lesion_class TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'draft',
    notes        TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
);
CREATE INDEX lesions_study ON lesions(study_id, deleted);
CREATE INDEX lesions_status ON lesions(status);

-- One RECIST mark per lesion: long axis end points, short axis end points (all NULL when absent).
CREATE TABLE recist_marks (
    lesion_id INTEGER PRIMARY KEY REFERENCES lesions(id),
    phase     TEXT NOT NULL,
    key_slice INTEGER NOT NULL CHECK (key_slice >= 0),
    long_x0   REAL NOT NULL, long_y0 REAL NOT NULL, long_z0 REAL NOT NULL,
    long_x1   REAL NOT NULL, long_y1 REAL NOT NULL, long_z1 REAL NOT NULL,
    short_x0  REAL, short_y0 REAL, short_z0 REAL,
    short_x1  REAL, short_y1 REAL, short_z1 REAL,
    CHECK ((short_x0 IS NULL AND short_y0 IS NULL AND short_z0 IS NULL
            AND short_x1 IS NULL AND short_y1 IS NULL AND short_z1 IS NULL)
        OR (short_x0 IS NOT NULL AND short_y0 IS NOT NULL AND short_z0 IS NOT NULL
            AND short_x1 IS NOT NULL AND short_y1 IS NOT NULL AND short_z1 IS NOT NULL))
);

-- Proposals keep their box inline, in mm and in voxels of the reference phase; score is s_g.
CREATE TABLE proposals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id     INTEGER NOT NULL REFERENCES studies(id),
    kind         TEXT NOT NULL DEFAULT '3d' CHECK (kind IN ('2d', '3d')),
    min_x REAL NOT NULL, min_y REAL NOT NULL, min_z REAL NOT NULL,
    max_x REAL NOT NULL, max_y REAL NOT NULL, max_z REAL NOT NULL,
    min_i INTEGER NOT NULL, min_j INTEGER NOT NULL, min_k INTEGER NOT NULL,
    max_i INTEGER NOT NULL, max_j INTEGER NOT NULL, max_k INTEGER NOT NULL,
    score        REAL NOT NULL,
    class_scores TEXT NOT NULL DEFAULT '{}',
    lesion_class TEXT NOT NULL DEFAULT 'unknown',
    key_slice    INTEGER,
    source_model TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    lesion_id    INTEGER REFERENCES lesions(id),
    created_at   TEXT NOT NULL
);
CREATE INDEX proposals_study_score ON proposals(study_id, score DESC);
CREATE INDEX proposals_status_score ON proposals(status, score DESC);
CREATE INDEX proposals_score ON proposals(score DESC);

-- Boxes of a lesion (one per kind) or the per-slice 2D boxes a 3D proposal was stacked from.
CREATE TABLE boxes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    lesion_id   INTEGER REFERENCES lesions(id),
    proposal_id INTEGER REFERENCES proposals(id),
    kind        TEXT NOT NULL CHECK (kind IN ('2d', '3d')),
    min_x REAL NOT NULL, min_y REAL NOT NULL, min_z REAL NOT NULL,
    max_x REAL NOT NULL, max_y REAL NOT NULL, max_z REAL NOT NULL,
    min_i INTEGER, min_j INTEGER, min_k INTEGER,
    max_i INTEGER, max_j INTEGER, max_k INTEGER,
    CHECK ((lesion_id IS NULL) <> (proposal_id IS NULL)),
    CHECK (min_x <= max_x AND min_y <= max_y AND min_z <= max_z)
);
CREATE UNIQUE INDEX boxes_lesion_kind ON boxes(lesion_id, kind) WHERE lesion_id IS NOT NULL;
CREATE INDEX boxes_proposal ON boxes(proposal_id) WHERE proposal_id IS NOT NULL;

-- A mask on its own grid (shape [k, j, i], spacing, origin, direction row-major, all JSON),
-- voxels zlib-compressed in C order; one per lesion and phase.
CREATE TABLE masks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    lesion_id  INTEGER NOT NULL REFERENCES lesions(id),
    phase      TEXT NOT NULL,
    shape      TEXT NOT NULL,
    dtype      TEXT NOT NULL CHECK (dtype IN ('bool', 'uint8')),
    spacing    TEXT NOT NULL,
    origin     TEXT NOT NULL,
    direction  TEXT NOT NULL,
    data       BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (lesion_id, phase)
);

CREATE TABLE review_decisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    proposal_id INTEGER NOT NULL REFERENCES proposals(id),
    decision    TEXT NOT NULL,
    reviewer    TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    model       TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX review_decisions_proposal ON review_decisions(proposal_id);

-- Append-only: every change, undo and redo included, with the rows before and after (JSON).
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    who         TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   INTEGER,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX audit_entity ON audit(entity, entity_id);

-- The persisted undo history: each command holds the rows it changed, before and after.
-- Entries with undone = 1 form the redo stack; a new edit deletes them.
CREATE TABLE undo_stack (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    seq          INTEGER NOT NULL UNIQUE,
    command_json TEXT NOT NULL,
    undone       INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1))
);
CREATE INDEX undo_stack_undone ON undo_stack(undone, seq);
