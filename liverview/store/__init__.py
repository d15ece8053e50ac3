"""The annotation store: one SQLite project file per reading session, every edit committed at once,
audited and undoable (no Qt; the UI redraws from :meth:`Project.subscribe` events)."""

from liverview.store.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    MigrationError,
    NewerSchemaError,
    NotAProjectError,
    SchemaError,
    migrate,
    read_version,
)
from liverview.store.project import (
    DamagedProjectError,
    DeletedLesionError,
    LockHolder,
    Project,
    ProjectClosedError,
    ProjectExistsError,
    ProjectLockedError,
    ProjectNotFoundError,
    ReadOnlyProjectError,
    UndoConflictError,
    UnknownEntityError,
    lock_path,
    read_lock_holder,
)
from liverview.store.records import (
    DECISIONS,
    LESION_CLASSES,
    LESION_STATUSES,
    PROPOSAL_STATUSES,
    AuditEntry,
    BoxRecord,
    DecisionRecord,
    InvalidRecordError,
    LesionRecord,
    PhaseRecord,
    Point3,
    ProposalRecord,
    RecistRecord,
    StoreChange,
    StoreError,
    StudyRecord,
)

__all__ = [
    "DECISIONS", "LESION_CLASSES", "LESION_STATUSES", "MIGRATIONS", "PROPOSAL_STATUSES", "SCHEMA_VERSION",
    "AuditEntry", "BoxRecord", "DamagedProjectError", "DecisionRecord", "DeletedLesionError",
    "InvalidRecordError", "LesionRecord",
    "LockHolder", "Migration", "MigrationError", "NewerSchemaError", "NotAProjectError", "PhaseRecord",
    "Point3", "Project", "ProjectClosedError", "ProjectExistsError", "ProjectLockedError",
    "ProjectNotFoundError", "ProposalRecord", "ReadOnlyProjectError", "RecistRecord", "SchemaError",
    "StoreChange", "StoreError", "StudyRecord", "UndoConflictError", "UnknownEntityError", "lock_path",
    "migrate", "read_lock_holder", "read_version",
]
