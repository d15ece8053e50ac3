"""What a detector is given for one study: one volume per known phase kind, the reference phase, and where
each volume came from. One reader for `liverview detect` and `liverview scan`, so both see a study alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.io.errors import LoadError


MIN_SLICES = 2  # fewer is one image: nothing for a 2.5D detector's neighbours or its 3D proposals


class StudyInputError(LoadError):
    """The study cannot be handed to a detector (missing, unreadable, or no phase of a known kind)."""


@dataclass(frozen=True)
class PhaseSource:
    """Where one phase's volume came from (a file, or a DICOM folder and series UID)."""

    kind: PhaseKind
    source: str
    series_uid: str = ""


@dataclass
class StudyInputs:
    """A study as detectors take it; ``notes`` says what was assumed or left out on the way."""

    volumes: dict[PhaseKind, Volume]
    reference: PhaseKind
    name: str
    phases: tuple[PhaseSource, ...] = ()  # in the order of ``volumes``
    notes: list[str] = field(default_factory=list)
    study_uid: str = ""
    patient_id: str = ""


def read_phantom_inputs(folder: Path) -> StudyInputs:
    """A phantom folder as `liverview synth-ct` writes it (study.json naming one file per phase)."""
    from liverview.io.volumes import read_volume

    meta_file = folder / "study.json"
    try:
        meta = json.loads(meta_file.read_text())
        files = {PhaseKind(name): folder / info["file"] for name, info in meta["phases"].items()}
        reference = PhaseKind(meta.get("reference_phase", "non-contrast"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StudyInputError(f"{meta_file}: not a readable phantom description ({type(exc).__name__}: {exc})") \
            from None
    volumes = {kind: read_volume(path) for kind, path in files.items()}
    phases = tuple(PhaseSource(kind, str(path)) for kind, path in files.items())
    return StudyInputs(volumes, reference, folder.name, phases)


def inputs_from_loaded(loaded, fallback_name: str, assume_phase: str = "portal venous") -> StudyInputs:
    """The detector's inputs from a ``liverview.io.study_loader.LoadedStudy``: a single phase of unknown kind
    is read as ``assume_phase``; unknown or repeated kinds are left out (with a note); what the loader found
    wrong is passed on as warnings. Refused (StudyInputError): series of different patients or studies (they are
    not the phases of one exam) and a single slice (an image, not a volume)."""
    study = loaded.study
    phases = list(study.phases)
    name = study.description or fallback_name
    if loaded.mixed:
        raise StudyInputError(f"{fallback_name}: {loaded.mixed}; these are not the phases of one exam. Pass the "
                              "series of one study (one folder or file per phase)")
    for p in phases:
        if p.volume.array.shape[0] < MIN_SLICES:
            raise StudyInputError(f"{fallback_name}: '{p.label}' is a single slice, not a volume: the detector "
                                  "reads each slice with its neighbours and finds lesions across slices")
    warnings = [f"warning: {problem}" for problem in loaded.problems]
    if len(phases) == 1 and phases[0].kind is PhaseKind.UNKNOWN:
        kind = PhaseKind.parse(assume_phase)
        p = phases[0]
        return StudyInputs({kind: p.volume}, kind, name, (PhaseSource(kind, str(p.source), p.series_uid),),
                           [f"note: the single phase's kind is unknown; read as {kind.value} (--assume-phase)"]
                           + warnings, study.study_uid, study.patient_id)
    volumes: dict[PhaseKind, Volume] = {}
    sources: list[PhaseSource] = []
    notes = list(warnings)
    for p in phases:
        if p.kind is PhaseKind.UNKNOWN or p.kind in volumes:
            notes.append(f"note: phase '{p.label}' left out (unknown or repeated kind)")
            continue
        volumes[p.kind] = p.volume
        sources.append(PhaseSource(p.kind, str(p.source), p.series_uid))
    if not volumes:
        raise StudyInputError(f"{fallback_name}: no phase of a known kind; name the files by phase "
                              "(e.g. arterial.nii.gz)")
    reference = study.reference.kind if study.reference.kind in volumes else next(iter(volumes))
    return StudyInputs(volumes, reference, name, tuple(sources), notes, study.study_uid, study.patient_id)


def read_study_inputs(study_path: Path, assume_phase: str = "portal venous") -> StudyInputs:
    """A phantom folder (study.json), or anything liverview.io.study_loader reads (DICOM folder, volume file,
    folder of one volume per phase). StudyInputError (a LoadError) when it cannot be read."""
    from liverview.io.study_loader import load_study

    if not study_path.exists():
        raise StudyInputError(f"{study_path}: no such file or folder")
    if (study_path / "study.json").is_file():
        return read_phantom_inputs(study_path)
    try:
        loaded = load_study([study_path])
    except LoadError as exc:
        raise StudyInputError(str(exc)) from None
    return inputs_from_loaded(loaded, study_path.name, assume_phase)
