"""Turn what the user opened (DICOM folders, volume files, folders of volume files) into one Study.

Each input becomes one or more phases; their kinds come from liverview.io.phase_inference, judged
over all inputs together. Phases are ordered NC, ART, PV, DEL; the reference is the portal venous
phase when there is one, else the first. Everything odd along the way is listed: in ``problems`` what
the reader should know about the images (damaged files, mixed patients, two series of one phase), in
``notes`` what was left out as expected (non-image files, label maps, localizers), quiet "skipped" lines.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.io.dicom_series import DicomSeries, load_dicom_files, load_dicom_folder
from liverview.io.errors import LoadError, MissingInputError, NoImageSeriesError
from liverview.io.load_monitor import QUIET, LoadMonitor
from liverview.io.phase_inference import PhaseEvidence, infer_phases
from liverview.io.volumes import VOLUME_SUFFIXES, is_volume_file, read_volume, volume_stem

# Words in a file name that mark a label map / mask rather than an image (skipped in folders).
_LABEL_WORDS = {
    "label", "labels", "mask", "masks", "seg", "segmentation", "segmentations", "lesion", "lesions",
    "tumor", "tumors", "tumour", "tumours", "instances", "annotation", "annotations", "gt",
}
MAX_LISTED_SKIPPED = 20  # skipped files listed one by one; the rest are counted
# Reasons (from the DICOM reader) for leaving a file out that say nothing is wrong with the images.
_EXPECTED_SKIPS = ("not a DICOM file", "not an image series", "DICOMDIR index file")


@dataclass
class LoadedStudy:
    """A loaded Study plus why each phase got its kind and what went wrong on the way."""

    study: Study
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # files left out as expected: no action needed
    reasons: dict[Phase, str] = field(default_factory=dict)  # Phase objects hash by identity
    series: list[DicomSeries] = field(default_factory=list)  # the DICOM series used, if any
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    # why the inputs are not one exam (series of different patients or studies); empty when they are
    mixed: str = ""

    def reason_for(self, phase: Phase) -> str:
        """Why ``phase`` was given its kind (empty when unknown to this load)."""
        return self.reasons.get(phase, "")


@dataclass
class _Input:
    """One future phase: its volume, where it came from and the evidence for its kind."""

    volume: Volume
    source: Path
    evidence: PhaseEvidence
    series: DicomSeries | None = None


def looks_like_label_map(path: str | Path) -> bool:
    """True when a volume file's name says it holds labels / masks / lesions, not an image."""
    words = set(re.split(r"[^a-z0-9]+", volume_stem(path).lower()))
    return bool(words & _LABEL_WORDS)


def _volume_files_in(folder: Path, notes: list[str], problems: list[str] | None = None) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_volume_file(p))
    images = []
    for f in files:
        if looks_like_label_map(f):
            notes.append(f"{f}: not loaded as a phase (its name says it is a label map or mask)")
        else:
            images.append(f)
    if images and problems is not None:
        dicom = _dicom_files_beside(folder)
        if dicom:
            problems.append(f"{folder}: its volume files were read and {dicom} DICOM file(s) in it (or its "
                            "subfolders) were not; to read the DICOM series, open its folder by itself")
    return images


DICOM_SCAN_LIMIT = 2000  # files looked at for a DICOM preamble beside volume files (a count, not an inventory)


def _dicom_files_beside(folder: Path) -> int:
    """DICOM files (128-byte preamble then 'DICM') in ``folder`` and below, among the first files found."""
    found = seen = 0
    for root, _, names in os.walk(folder):
        for name in names:
            if seen >= DICOM_SCAN_LIMIT:
                return found
            path = Path(root) / name
            if is_volume_file(path):
                continue
            seen += 1
            try:
                with open(path, "rb") as f:
                    head = f.read(132)
            except OSError:
                continue
            found += len(head) == 132 and head[128:] == b"DICM"
    return found


def _from_volume_file(path: Path, problems: list[str], monitor: LoadMonitor = QUIET) -> _Input:
    volume = read_volume(path, problems, monitor)
    return _Input(volume, path, PhaseEvidence(file_name=volume_stem(path), volume=volume))


def _from_dicom(paths: list[Path], source: Path, problems: list[str], notes: list[str],
                skipped: list[tuple[Path, str]], monitor: LoadMonitor = QUIET) -> list[_Input]:
    """The series in ``paths`` (exactly these files), or in the folder ``source`` when no file is given."""
    whole_folder = not paths
    try:
        report = (load_dicom_folder(source, monitor) if whole_folder
                  else load_dicom_files(paths, source=str(source), monitor=monitor))
    except NoImageSeriesError as exc:
        hint = f"; volume files ({', '.join(VOLUME_SUFFIXES)}) are read too" if whole_folder else ""
        raise NoImageSeriesError(f"{exc}{hint}") from exc
    skipped.extend(report.skipped)
    series = [s for s in report.series if not s.is_localizer]
    for s in report.series:
        if s.is_localizer:
            notes.append(f"{source}: localizer series '{s.label}' not loaded as a phase")
    if not series:
        raise NoImageSeriesError(f"{source}: holds only localizer (scout) images, no image series")
    inputs = []
    for s in series:
        # A folder holding one series may be named after its phase ("arterial/").
        folder_name = source.name if whole_folder and len(series) == 1 else ""
        evidence = PhaseEvidence(
            description=s.description, protocol_name=s.protocol_name, file_name=folder_name,
            contrast_agent=s.contrast_agent, contrast_start_time_s=s.contrast_start_time_s,
            acquisition_time_s=s.acquisition_time_s, series_number=s.series_number, volume=s.volume,
        )
        inputs.append(_Input(s.volume, source, evidence, s))
        problems.extend(f"{s.label}: {w}" for w in s.warnings)
    return inputs


def _skipped_problems(skipped: list[tuple[Path, str]]) -> list[str]:
    lines = [f"skipped {path}: {reason}" for path, reason in skipped[:MAX_LISTED_SKIPPED]]
    if len(skipped) > MAX_LISTED_SKIPPED:
        lines.append(f"... and {len(skipped) - MAX_LISTED_SKIPPED} more skipped file(s)")
    return lines


def _check_consistency(inputs: list[_Input], problems: list[str]) -> str:
    """Adds to ``problems`` when the series are not one exam; returns that reason ('' when they are)."""
    found = []
    patients = sorted({i.series.patient_id for i in inputs if i.series and i.series.patient_id})
    if len(patients) > 1:
        found.append(f"the series belong to {len(patients)} different patients ({', '.join(patients)}): "
                     "check that these inputs belong together")
    studies = {i.series.study_uid for i in inputs if i.series and i.series.study_uid}
    if len(studies) > 1:
        found.append(f"the series come from {len(studies)} different studies (StudyInstanceUID)")
    problems[:0] = found  # first: it changes how everything else is read
    return "; ".join(found)


def _provisional_phase(item: _Input) -> Phase:
    """The phase as a viewer may show it before every input is read: its kind is judged over all inputs later."""
    s = item.series
    return Phase(kind=PhaseKind.UNKNOWN, volume=item.volume, source=str(item.source), series_uid=s.uid if s else "",
                 description=s.label if s else volume_stem(item.source))


def _is_loose_file(path: Path) -> bool:
    """A file given by itself that is not a volume file: a DICOM file (or something to skip with a reason)."""
    return not path.is_dir() and not is_volume_file(path)


def _grouped_inputs(paths: Sequence[str | Path]) -> list[list[Path]]:
    """The inputs in order, one per group, except that consecutive loose (DICOM) files form one group: the
    files of a series are read together into one volume, not one volume per file."""
    groups: list[list[Path]] = []
    for raw in paths:
        path = Path(raw)
        if groups and _is_loose_file(path) and _is_loose_file(groups[-1][-1]):
            groups[-1].append(path)
        else:
            groups.append([path])
    return groups


def _files_source(files: list[Path]) -> Path:
    """Where a group of DICOM files came from: the file itself, or the deepest folder holding them all."""
    if len(files) == 1:
        return files[0]
    return Path(os.path.commonpath([str(f.parent) for f in files]))


def _read_inputs(paths: Sequence[str | Path], problems: list[str], notes: list[str],
                 skipped: list[tuple[Path, str]], monitor: LoadMonitor) -> list[_Input]:
    """Every input's volumes, in the order given; progress is shared equally among the inputs (and among the
    volume files of a folder), and the first volume read is handed to ``monitor.phase_read`` at once."""
    inputs: list[_Input] = []

    def add(items: list[_Input]) -> None:
        if items and not inputs:
            monitor.phase_read(_provisional_phase(items[0]))
        inputs.extend(items)

    groups = _grouped_inputs(paths)
    for n, group in enumerate(groups):
        path = group[0]
        part = monitor.part(n / len(groups), (n + 1) / len(groups))
        if path.is_dir():
            files = _volume_files_in(path, notes, problems)
            for m, f in enumerate(files):
                add([_from_volume_file(f, problems, part.part(m / len(files), (m + 1) / len(files)))])
            if not files:
                add(_from_dicom([], path, problems, notes, skipped, part))
        elif is_volume_file(path):
            add([_from_volume_file(path, problems, part)])
        else:
            add(_from_dicom(group, _files_source(group), problems, notes, skipped, part))
        part.progress(1.0)
    return inputs


def load_study(paths: Sequence[str | Path], monitor: LoadMonitor = QUIET) -> LoadedStudy:
    """Load DICOM folders / files and NIfTI / NRRD / MetaImage files (or folders of them) as one Study.

    A folder holding volume files at its top level is read as one volume per phase (label-map-named
    files left out); any other folder is scanned recursively for DICOM; DICOM files given one after another
    are read together (exactly those files: one series of a shared folder). Raises LoadError (a subclass)
    when an input is missing or nothing loadable is found. ``monitor`` hears the progress, may cancel
    (LoadCancelled) and gets the first phase as soon as it is read, before its kind is known.
    """
    if not paths:
        raise LoadError("no input given: name one or more DICOM folders or volume files")
    for raw in paths:  # a missing path is said before seconds are spent reading the others
        if not Path(raw).exists():
            raise MissingInputError(f"{Path(raw)}: no such file or folder")
    problems: list[str] = []
    notes: list[str] = []
    skipped: list[tuple[Path, str]] = []
    inputs = _read_inputs(paths, problems, notes, skipped, monitor)
    monitor.check()
    if not inputs:
        raise NoImageSeriesError(
            f"no image found in {', '.join(str(p) for p in paths)} (only label maps or non-image files)"
        )

    guesses = infer_phases([i.evidence for i in inputs])
    phases: list[Phase] = []
    reasons: dict[Phase, str] = {}
    for item, guess in zip(inputs, guesses):
        s = item.series
        phase = Phase(
            kind=guess.kind,
            volume=item.volume,
            source=str(item.source),
            series_uid=s.uid if s else "",
            description=(s.label if s else volume_stem(item.source)),
            acquisition_time_s=s.acquisition_time_s if s else None,
            frame_of_reference_uid=s.frame_of_reference_uid if s else "",
            kind_rule=guess.rule,
            kind_reason=guess.reason,
            slice_files=[str(f) if f else "" for f in s.slice_files] if s else [],
        )
        phases.append(phase)
        reasons[phase] = guess.reason
    kinds_seen: dict[PhaseKind, Phase] = {}
    for phase in phases:
        if phase.kind is not PhaseKind.UNKNOWN and phase.kind in kinds_seen:
            problems.append(f"two inputs were taken as {phase.kind.value}: "
                            f"'{kinds_seen[phase.kind].description}' and '{phase.description}'")
        kinds_seen.setdefault(phase.kind, phase)
    mixed = _check_consistency(inputs, problems)
    expected = [(p, r) for p, r in skipped if r.startswith(_EXPECTED_SKIPS)]
    problems.extend(_skipped_problems([(p, r) for p, r in skipped if not r.startswith(_EXPECTED_SKIPS)]))
    notes.extend(_skipped_problems(expected))

    first_series = next((i.series for i in inputs if i.series), None)
    study = Study(
        phases=phases,
        patient_id=first_series.patient_id if first_series else "",
        study_uid=first_series.study_uid if first_series else "",
        description=(first_series.study_description if first_series else "") or Path(paths[0]).name,
        not_one_exam=mixed,
    )
    study.sort_by_phase()
    pv = [n for n, p in enumerate(study.phases) if p.kind is PhaseKind.PORTAL_VENOUS]
    study.reference_index = pv[0] if pv else 0
    return LoadedStudy(
        study=study, problems=problems, notes=notes, reasons=reasons,
        series=[i.series for i in inputs if i.series], skipped=skipped, mixed=mixed,
    )
