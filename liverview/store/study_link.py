"""Which project file a study's annotations live in, and the study's row in that project."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from liverview.cache_root import default_cache_root
from liverview.core.study import Study
from liverview.io.study_identity import file_signature, study_identity_key
from liverview.store.project import Project


def study_key(study: Study, cache_root: Path | None = None) -> str:
    """A stable identity for a study, by liverview.io.study_identity's rule (the one `liverview scan` uses):
    its DICOM StudyInstanceUID, else its series UIDs, else a hash of its volume files' contents; a study built
    in memory (no files) by a hash of every phase's geometry and voxels. A content hash is kept under the cache
    folder by the files' signature (paths, sizes, times), so an unchanged study is not read twice."""
    if study.study_uid:
        return study.study_uid
    if not study.phases:
        raise ValueError("the study has no phases to identify it by")
    if all(p.series_uid for p in study.phases):
        return study_identity_key(series_uids=[p.series_uid for p in study.phases])
    files = [Path(p.source) for p in study.phases if p.source]
    if len(files) == len(study.phases) and all(f.is_file() for f in files):
        return _content_key_kept(files, cache_root)
    digest = hashlib.sha1()
    for phase in study.phases:
        v = phase.volume
        digest.update(repr((phase.kind.value, v.array.shape, str(v.array.dtype), v.spacing, v.origin,
                            v.direction.round(9).tolist())).encode())
        digest.update(np.ascontiguousarray(v.array[:, ::4, ::4]).tobytes())
    return "content:" + digest.hexdigest()[:20]


def legacy_study_key(study: Study) -> str | None:
    """The key LiverView gave a study of volume files before the app and the scan shared one rule (a hash of
    the files' paths), so annotations filed under it are still found; None for other studies."""
    if study.study_uid or not study.phases or any(p.series_uid for p in study.phases):
        return None
    sources = sorted(str(Path(p.source).resolve()) for p in study.phases if p.source)
    if len(sources) != len(study.phases):
        return None
    return "files:" + hashlib.sha1("\n".join(sources).encode()).hexdigest()[:20]


def _cache_root(cache_root: Path | None) -> Path:
    return cache_root or default_cache_root()


def _content_key_kept(files: list[Path], cache_root: Path | None) -> str:
    """content_key(files), reused from the cache while the files' signature is unchanged (a cache, not state:
    a lost or stale entry only costs hashing again, the signature names every file's size and time)."""
    signature = file_signature(files)
    entry = _cache_root(cache_root) / "identity" / (hashlib.sha1(signature.encode()).hexdigest()[:24] + ".key")
    try:
        kept = entry.read_text(encoding="utf-8").split("\n", 1)
        if len(kept) == 2 and kept[1] == signature:
            return kept[0]
    except OSError:
        pass
    key = study_identity_key(files=files)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(f"{key}\n{signature}", encoding="utf-8")
    except OSError:
        pass  # a read-only cache folder only means hashing again next time
    return key


def project_path_for_key(key: str, cache_root: Path | None = None) -> Path:
    """The project file kept for a study identity under $LIVERVIEW_CACHE (or ~/.cache/liverview)/projects/."""
    root = _cache_root(cache_root)
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return root / "projects" / f"{digest}.lvproj"


def default_project_path(study: Study, cache_root: Path | None = None, key: str | None = None) -> Path:
    """Per-study project under $LIVERVIEW_CACHE (or ~/.cache/liverview)/projects/; a project kept under the
    study's older, path-based key is used while no project exists under its key."""
    path = project_path_for_key(key or study_key(study, cache_root), cache_root)
    legacy = legacy_study_key(study)
    if not path.exists() and legacy is not None and project_path_for_key(legacy, cache_root).exists():
        return project_path_for_key(legacy, cache_root)
    return path


def find_study(project: Project, study: Study, key: str | None = None) -> int | None:
    """The id of the study's row in the project (under its key, or its older path-based key), or None."""
    keys = [key or study_key(study), legacy_study_key(study)]
    by_uid = {record.uid: record.id for record in project.list_studies()}
    return next((by_uid[k] for k in keys if k and k in by_uid), None)


def ensure_study(project: Project, study: Study, key: str | None = None) -> int:
    """The id of the study in the project, adding it (and its phases) the first time. A row filed under the
    study's older, path-based key (a project from before the shared rule) is the same study."""
    key = key or study_key(study)
    found = find_study(project, study, key)
    if found is not None:
        return found
    if project.read_only:
        raise ValueError("this study is not in the project, and the project is open read-only")
    study_id = project.add_study(uid=key, description=study.description, patient_id=study.patient_id)
    for n, phase in enumerate(study.phases):
        project.add_phase(study_id, phase.kind, phase.source or f"phase-{n}", phase.series_uid,
                          reference=(n == study.reference_index))
    return study_id
