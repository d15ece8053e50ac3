"""What identifies a study across scans, whatever folder it was copied to. The rule itself (StudyInstanceUID,
else the series UIDs, else a hash of the files' contents) is liverview.io.study_identity's, the one the app
files an opened study under too (liverview.store.study_link), so a study scanned here and opened there is one
row.

Hashing a large study reads all its bytes, so the project keeps, beside each study's key, the files' sizes and
modification times when it was hashed (the *signature*); a re-run whose files still match reuses the key
instead of reading them again. The signature only saves work: the key is always the content's. A DICOM study's
key is its UID, which stays when slices are added or rewritten: its signature is kept too, so that a re-run can
tell that a scanned study's files changed: the names and sizes of its files (:func:`dicom_file_set`), not their
folder or times, so that a moved or copied archive is not taken as changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from liverview.io.study_identity import content_key, file_signature, study_identity_key
from liverview.scan.archive import StudySource

__all__ = ["StudyIdentity", "content_key", "dicom_file_set", "file_signature", "identify"]


def dicom_file_set(files) -> str:
    """A DICOM study's files by name and size, hashed: changes when slices are added, removed or rewritten at
    another size, not when the archive is moved or copied."""
    rows = sorted((Path(f).name, os.stat(f).st_size) for f in files)
    return "files:" + hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class StudyIdentity:
    key: str  # the StudyInstanceUID, "series:<hash>" (DICOM without a study UID) or "sha256:<hash>" of the files
    signature: str = ""  # volume files: their paths, sizes and times; DICOM: dicom_file_set


def identify(source: StudySource, known: Mapping[str, tuple[str, str]] | None = None) -> StudyIdentity:
    """The study's identity. ``known`` maps a source folder to (signature, key) from earlier scans: a folder
    whose files still have that signature keeps its key without being read again."""
    if source.kind == "dicom":  # keyed by UIDs; the signature tells a study whose slices changed since its scan
        return StudyIdentity(study_identity_key(source.study_uid, source.series_uids), dicom_file_set(source.files))
    signature = file_signature(source.files)
    previous = (known or {}).get(str(source.location))
    if previous is not None and previous[0] == signature:
        return StudyIdentity(previous[1], signature)
    return StudyIdentity(study_identity_key(files=source.files), signature)
