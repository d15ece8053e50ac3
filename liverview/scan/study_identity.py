"""What identifies a study across scans, whatever folder it was copied to: its DICOM StudyInstanceUID, else a
hash of its files' contents. (The same UID is what the app files a DICOM study under, see
liverview.store.study_link, so a study scanned here and opened there is one row.)

Hashing a large study reads all its bytes, so the project keeps, beside each study's key, the files' sizes and
modification times when it was hashed (the *signature*); a re-run whose files still match reuses the key
instead of reading them again. The signature only saves work: the key is always the content's.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from liverview.scan.archive import StudySource

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StudyIdentity:
    key: str  # the StudyInstanceUID, "series:<hash>" (DICOM without a study UID) or "sha256:<hash>" of the files
    signature: str = ""  # sizes and times of the hashed files ("" when the key needs no hashing)


def file_signature(files: tuple[Path, ...]) -> str:
    """The files' absolute paths, sizes and modification times (JSON): changes when any file changes."""
    rows = []
    for f in files:
        st = os.stat(f)
        rows.append([str(Path(f).resolve()), st.st_size, st.st_mtime_ns])
    return json.dumps(rows, separators=(",", ":"))


def content_key(files: tuple[Path, ...]) -> str:
    """"sha256:" + a hash of the files' bytes, independent of their names, folders and order."""
    digests = []
    for f in files:
        h = hashlib.sha256()
        with open(f, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                h.update(chunk)
        digests.append(h.hexdigest())
    return "sha256:" + hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()[:40]


def identify(source: StudySource, known: Mapping[str, tuple[str, str]] | None = None) -> StudyIdentity:
    """The study's identity. ``known`` maps a source folder to (signature, key) from earlier scans: a folder
    whose files still have that signature keeps its key without being read again."""
    if source.kind == "dicom":
        if source.study_uid:
            return StudyIdentity(source.study_uid)
        series = "\n".join(sorted(source.series_uids)).encode()
        return StudyIdentity("series:" + hashlib.sha256(series).hexdigest()[:40])
    signature = file_signature(source.files)
    previous = (known or {}).get(str(source.location))
    if previous is not None and previous[0] == signature:
        return StudyIdentity(previous[1], signature)
    return StudyIdentity(content_key(source.files), signature)
