"""What identifies a study wherever its files lie: one rule for `liverview scan` and the app, so a study scanned
into a project and later opened in the app (or opened first, scanned later) is one study row.

- a DICOM study: its StudyInstanceUID;
- DICOM series without a StudyInstanceUID: "series:" + a hash of their SeriesInstanceUIDs;
- volume files (NIfTI, NRRD, MetaImage; phantom folders): "sha256:" + a hash of the files' bytes, independent
  of their names, folders and order (a copied or moved archive keeps its keys).

Hashing a large study reads all its bytes; :func:`file_signature` (paths, sizes, modification times) lets a
caller keep a key and skip the hashing while the files have not changed. It only saves work: the key is always
the content's.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

_CHUNK = 1 << 20


class StudyIdentityError(ValueError):
    """Nothing to identify the study by (no UID and no files)."""


def content_key(files: Iterable[str | os.PathLike[str]]) -> str:
    """"sha256:" + a hash of the files' bytes, independent of their names, folders and order."""
    digests = []
    for f in files:
        h = hashlib.sha256()
        with open(f, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                h.update(chunk)
        digests.append(h.hexdigest())
    if not digests:
        raise StudyIdentityError("no files to identify the study by")
    return "sha256:" + hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()[:40]


def series_key(series_uids: Iterable[str]) -> str:
    """The key of DICOM series that carry no StudyInstanceUID: a hash of their (sorted, unique) series UIDs."""
    uids = sorted({u for u in series_uids if u})
    if not uids:
        raise StudyIdentityError("no SeriesInstanceUID to identify the study by")
    return "series:" + hashlib.sha256("\n".join(uids).encode()).hexdigest()[:40]


def study_identity_key(study_uid: str = "", series_uids: Sequence[str] = (),
                       files: Sequence[str | os.PathLike[str]] = ()) -> str:
    """The study's key by the rule above: the StudyInstanceUID, else the series UIDs (DICOM), else the
    volume files' contents. Raises StudyIdentityError when none is given."""
    if study_uid:
        return study_uid
    if any(series_uids):
        return series_key(series_uids)
    if files:
        return content_key(files)
    raise StudyIdentityError("the study has no StudyInstanceUID, no series UID and no files to identify it by")


def file_signature(files: Iterable[str | os.PathLike[str]]) -> str:
    """The files' absolute paths, sizes and modification times (JSON, in sorted path order): changes when any
    file changes, so a key computed for the same signature can be reused."""
    rows = []
    for f in sorted(str(Path(f).resolve()) for f in files):
        st = os.stat(f)
        rows.append([f, st.st_size, st.st_mtime_ns])
    return json.dumps(rows, separators=(",", ":"))
