"""How a lesion is named in files other tools read: one tracking UID shared by its DICOM SR measurement group
and its DICOM SEG segment, and a label from its class and id ("HCC lesion 3").

The tracking UID is derived from what identifies the lesion in the project store (the study's identity, the
lesion's row id, which is never reused, and its creation time, which tells apart lesions of two projects of
one study), so every export of the same lesion carries the same UID and nothing has to be stored for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydicom.uid import generate_uid

_UID_ROOT = "LiverView lesion tracking"

# Display names of the lesion classes in labels (store vocabulary: liverview.store.records.LESION_CLASSES).
_CLASS_NAMES = {"cyst": "Cyst", "hemangioma": "Hemangioma", "hcc": "HCC", "metastasis": "Metastasis"}


@dataclass(frozen=True)
class LesionIdentity:
    """What an export writes to name one lesion: its label (tracking identifier, segment label) and UID."""

    label: str
    tracking_uid: str


def lesion_label(lesion_class: str, lesion_id: int | str) -> str:
    """"HCC lesion 3"; "Lesion 3" when the class is unknown."""
    name = _CLASS_NAMES.get(str(lesion_class).strip().lower())
    return f"{name} lesion {lesion_id}" if name else f"Lesion {lesion_id}"


def lesion_tracking_uid(study_key: str, lesion_id: int, created_at: datetime | str) -> str:
    """The lesion's DICOM tracking UID: the same for the same stored lesion on every export."""
    created = created_at.isoformat() if isinstance(created_at, datetime) else str(created_at)
    return str(generate_uid(entropy_srcs=[_UID_ROOT, study_key, str(int(lesion_id)), created]))


def lesion_identity(study_key: str, lesion_id: int, lesion_class: str, created_at: datetime | str) -> LesionIdentity:
    return LesionIdentity(lesion_label(lesion_class, lesion_id), lesion_tracking_uid(study_key, lesion_id, created_at))
