"""Which project file a study's annotations live in, and the study's row in that project."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from liverview.core.study import Study
from liverview.store.project import Project


def study_key(study: Study) -> str:
    """A stable identity for a study: its DICOM StudyInstanceUID, else a hash of its source files,
    else (a study built in memory) a hash of every phase's geometry and voxels."""
    if study.study_uid:
        return study.study_uid
    if not study.phases:
        raise ValueError("the study has no phases to identify it by")
    sources = sorted(str(Path(p.source).resolve()) for p in study.phases if p.source)
    if len(sources) == len(study.phases):
        return "files:" + hashlib.sha1("\n".join(sources).encode()).hexdigest()[:20]
    digest = hashlib.sha1()
    for phase in study.phases:
        v = phase.volume
        digest.update(repr((phase.kind.value, v.array.shape, str(v.array.dtype), v.spacing, v.origin,
                            v.direction.round(9).tolist())).encode())
        digest.update(np.ascontiguousarray(v.array[:, ::4, ::4]).tobytes())
    return "content:" + digest.hexdigest()[:20]


def project_path_for_key(key: str, cache_root: Path | None = None) -> Path:
    """The project file kept for a study identity under $LIVERVIEW_CACHE (or ~/.cache/liverview)/projects/."""
    root = cache_root or Path(os.environ.get("LIVERVIEW_CACHE", Path.home() / ".cache" / "liverview"))
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return root / "projects" / f"{digest}.lvproj"


def default_project_path(study: Study, cache_root: Path | None = None) -> Path:
    """Per-study project under $LIVERVIEW_CACHE (or ~/.cache/liverview)/projects/."""
    return project_path_for_key(study_key(study), cache_root)


def ensure_study(project: Project, study: Study) -> int:
    """The id of the study in the project, adding it (and its phases) the first time."""
    key = study_key(study)
    for record in project.list_studies():
        if record.uid == key:
            return record.id
    if project.read_only:
        raise ValueError("this study is not in the project, and the project is open read-only")
    study_id = project.add_study(uid=key, description=study.description, patient_id=study.patient_id)
    for n, phase in enumerate(study.phases):
        project.add_phase(study_id, phase.kind, phase.source or f"phase-{n}", phase.series_uid,
                          reference=(n == study.reference_index))
    return study_id
