"""One entry of the study browser's index: a CT series or an ultrasound image, with where its files lie.
Made by liverview/io/study_index.py, kept in the project by liverview/store/series_index_methods.py."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODALITIES = ("CT", "US")
SOURCE_KINDS = ("dicom", "volume", "raster")


@dataclass(frozen=True)
class IndexedSeries:
    """One openable unit of the browser: a CT series (files or a volume file) or one ultrasound image."""

    key: str  # identity across re-indexing: SeriesInstanceUID (CT), SOPInstanceUID or "file:<path>" (US)
    modality: str  # "CT" or "US"
    source_kind: str  # "dicom", "volume" or "raster"
    files: tuple[Path, ...]
    patient_id: str = ""
    patient_name: str = ""
    study_uid: str = ""  # DICOM StudyInstanceUID, else "folder:<path>" / "file:<path>"
    study_date: str = ""
    study_description: str = ""
    series_uid: str = ""
    series_description: str = ""
    series_number: int | None = None
    phase: str = ""  # a PhaseKind value named by the description or file name; "" when none is named
    frames: int = 1  # images (CT slices, US frames) the entry holds

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.source_kind not in SOURCE_KINDS:
            raise ValueError(f"source kind must be one of {SOURCE_KINDS}, got {self.source_kind!r}")
        if not self.files:
            raise ValueError(f"indexed entry {self.key} names no file")

    @property
    def location(self) -> Path:
        """The deepest folder holding all of its files."""
        if len(self.files) == 1:
            return self.files[0].parent
        return Path(os.path.commonpath([str(f.parent) for f in self.files]))

    @property
    def label(self) -> str:
        """How people see it named: the description, else the (first) file name."""
        if self.series_description:
            number = f"{self.series_number}: " if self.series_number is not None else ""
            return f"{number}{self.series_description}"
        return self.files[0].name if len(self.files) == 1 else self.location.name
