"""A multi-phase study: several contrast phases of one patient, each a Volume."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping, Sequence

from liverview.core.volume import Volume


class PhaseKind(str, Enum):
    """Contrast phases of a liver CT, in acquisition order."""

    NON_CONTRAST = "non-contrast"
    ARTERIAL = "arterial"
    PORTAL_VENOUS = "portal venous"
    DELAYED = "delayed"
    UNKNOWN = "unknown"

    @property
    def short(self) -> str:
        return {"non-contrast": "NC", "arterial": "ART", "portal venous": "PV", "delayed": "DEL"}.get(
            self.value, "?"
        )

    @classmethod
    def parse(cls, text: str) -> "PhaseKind":
        """Accept 'arterial', 'ART', 'portal_venous', 'pv', ... (case-insensitive)."""
        t = text.strip().lower().replace("_", " ").replace("-", " ")
        aliases = {
            "nc": cls.NON_CONTRAST, "non contrast": cls.NON_CONTRAST, "noncontrast": cls.NON_CONTRAST,
            "plain": cls.NON_CONTRAST, "native": cls.NON_CONTRAST, "pre": cls.NON_CONTRAST,
            "art": cls.ARTERIAL, "arterial": cls.ARTERIAL, "a": cls.ARTERIAL,
            "pv": cls.PORTAL_VENOUS, "portal venous": cls.PORTAL_VENOUS, "portal": cls.PORTAL_VENOUS,
            "venous": cls.PORTAL_VENOUS, "del": cls.DELAYED, "delayed": cls.DELAYED, "late": cls.DELAYED,
            "unknown": cls.UNKNOWN, "?": cls.UNKNOWN,
        }
        if t in aliases:
            return aliases[t]
        raise ValueError(f"unknown phase '{text}': use one of non-contrast, arterial, portal venous, delayed")


PHASE_ORDER = [PhaseKind.NON_CONTRAST, PhaseKind.ARTERIAL, PhaseKind.PORTAL_VENOUS, PhaseKind.DELAYED]
# The phase a single-phase method reads the liver on: portal venous shows it best, non-contrast worst.
LIVER_READING_ORDER = (PhaseKind.PORTAL_VENOUS, PhaseKind.DELAYED, PhaseKind.ARTERIAL, PhaseKind.NON_CONTRAST)


def phase_to_read(volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
                  preference: Sequence[PhaseKind] = LIVER_READING_ORDER) -> PhaseKind:
    """The first phase of ``preference`` that lies on the reference phase's grid (so what is found on it is on
    the reference grid: an unregistered phase of the same shape is not), else the reference itself."""
    ref = volumes[reference]
    return next((k for k in preference if k in volumes and volumes[k].same_grid(ref)), reference)


@dataclass(eq=False)
class Phase:
    """One acquisition of the study, with where it came from."""

    kind: PhaseKind
    volume: Volume
    source: str = ""
    series_uid: str = ""
    description: str = ""
    acquisition_time_s: float | None = None  # seconds since midnight, when DICOM gives it
    frame_of_reference_uid: str = ""
    # How the kind was found (liverview.io.phase_inference's rule: 'keyword', 'contrast-timing', 'image',
    # 'order', 'none'; 'reader' once the reader set or confirmed it) and why, for the pane header.
    kind_rule: str = ""
    kind_reason: str = ""
    # The file behind each slice k of the volume as loaded, where the loader knows it (DICOM); else empty.
    # "" for a slice missing from the series (Volume.missing_slices).
    slice_files: list[str] = field(default_factory=list)

    @property
    def kind_confirmed(self) -> bool:
        """True when the tags named the phase or the reader set it; an image or order guess is not."""
        return self.kind_rule in ("", "keyword", "contrast-timing", "reader")

    @property
    def label(self) -> str:
        return self.kind.value if self.kind is not PhaseKind.UNKNOWN else (self.description or "phase")


@dataclass(eq=False)
class Study:
    """All phases of one patient's examination. Phase 0 is the reference unless told otherwise."""

    phases: list[Phase] = field(default_factory=list)
    patient_id: str = ""
    study_uid: str = ""
    description: str = ""
    reference_index: int = 0
    # Why the phases may not be one exam (series of different patients or studies), as the loader found it;
    # empty when they are. A viewer asks before linking such phases.
    not_one_exam: str = ""

    @property
    def reference(self) -> Phase:
        if not self.phases:
            raise ValueError("the study has no phases")
        return self.phases[self.reference_index]

    def phase(self, kind: PhaseKind) -> Phase:
        for p in self.phases:
            if p.kind is kind:
                return p
        have = ", ".join(p.label for p in self.phases) or "none"
        raise KeyError(f"the study has no {kind.value} phase (it has: {have})")

    def sort_by_phase(self) -> None:
        """Order phases NC, ART, PV, DEL, unknown last; keep the reference phase the same object."""
        ref = self.phases[self.reference_index] if self.phases else None
        rank = {k: n for n, k in enumerate(PHASE_ORDER)}
        self.phases.sort(key=lambda p: (rank.get(p.kind, len(PHASE_ORDER)), p.acquisition_time_s or 0.0))
        if ref is not None:
            self.reference_index = self.phases.index(ref)
