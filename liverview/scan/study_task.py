"""What a Ray worker does with one study of a scan: read its phases, run the liver mask and the detector found
through the plugin registry, and return the proposals as store records (small) for the driver to write.

The same core as `liverview detect` (detection.study_inputs, detection.study_detection), so both give the same
proposals. The models are made once per worker process and kept for its next studies (Ray reuses workers);
nothing is written to the project here: only the driver writes it.
"""

from __future__ import annotations

import functools
import os
import resource
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liverview.detection.study_detection import ProposalFilter, detect_in_study
from liverview.detection.study_inputs import PhaseSource, StudyInputs, inputs_from_loaded, read_phantom_inputs
from liverview.scan.archive import StudySource
from liverview.store.records import ProposalRecord
from liverview.store.scan_methods import ScannedPhase


@dataclass(frozen=True)
class DetectionSettings:
    """Which models a scan uses and how their proposals are cut down (hashable: it keys the model cache)."""

    model: str | None = None  # detector contribution name; None: the registry's default
    weights: str | None = None  # the detector's weights (default: the contribution's)
    plugin_dirs: tuple[str, ...] = ()  # searched before the bundled plugins
    keep: ProposalFilter = ProposalFilter()
    assume_phase: str = "portal venous"


@dataclass(frozen=True)
class StudyScanResult:
    """One finished study, as the driver stores it."""

    study_key: str
    name: str
    patient_id: str
    phases: tuple[ScannedPhase, ...]
    proposals: tuple[ProposalRecord, ...]
    model: str
    notes: tuple[str, ...]
    seconds: float
    worker: str  # host:pid of the process that ran it
    peak_rss_mb: float  # that process's peak resident memory so far


def read_source(source: StudySource, assume_phase: str = "portal venous") -> StudyInputs:
    """The study's detector inputs, read exactly as `liverview detect LOCATION` reads the folder; a DICOM study
    that shares its folder with other studies is read from a temporary folder of links to its own files."""
    from liverview.io.study_loader import load_study

    if source.kind == "phantom":
        return read_phantom_inputs(source.location)
    if source.kind == "volumes" or source.whole_folder:
        return inputs_from_loaded(load_study([source.location]), source.location.name, assume_phase)
    with tempfile.TemporaryDirectory(prefix="liverview-scan-") as tmp:
        for n, f in enumerate(source.files):
            os.symlink(Path(f).resolve(), Path(tmp) / f"{n:06d}_{Path(f).name}")
        inputs = inputs_from_loaded(load_study([Path(tmp)]), source.location.name, assume_phase)
    # the volumes are in memory; the phases are recorded where their files really lie
    inputs.phases = tuple(PhaseSource(p.kind, str(source.location), p.series_uid) for p in inputs.phases)
    return inputs


@functools.lru_cache(maxsize=2)
def _models(settings: DetectionSettings, device: str) -> tuple[Any, Any]:
    """The detector and liver segmenter for ``settings``, made once per worker process (a cache, not state:
    the same settings always give the same models)."""
    from liverview.plugin_registry import DEFAULT_PLUGIN_DIR, discover_plugins

    dirs = [*(Path(p) for p in settings.plugin_dirs), DEFAULT_PLUGIN_DIR] if settings.plugin_dirs else None
    catalog = discover_plugins(dirs)
    detector = catalog.resolve("detector", settings.model).create(device=device, weights=settings.weights)
    liver = catalog.resolve("liver-segmenter").create(device="cpu") if settings.keep.liver_filter else None
    return detector, liver


def scan_study(source: StudySource, study_key: str, settings: DetectionSettings, device: str) -> StudyScanResult:
    """Detect lesions in one study (the body of the Ray task). Raises whatever goes wrong: the driver records
    the message as this study's failure and goes on with the others."""
    from liverview.review.proposal_import import records_from_set

    start = time.perf_counter()
    inputs = read_source(source, settings.assume_phase)
    detector, liver = _models(settings, device)
    result, notes = detect_in_study(inputs, detector, liver, settings.keep)
    imported = records_from_set(result, inputs.volumes[inputs.reference], source=f"detector {result.model}")
    phases = tuple(ScannedPhase(p.kind, p.source, p.series_uid, p.kind == inputs.reference) for p in inputs.phases)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    peak_mb = peak_kb / (1 << 20) if sys.platform == "darwin" else peak_kb / 1024
    return StudyScanResult(study_key, inputs.name, inputs.patient_id, phases, imported.records, imported.model,
                           (*inputs.notes, *notes, *imported.problems), time.perf_counter() - start,
                           f"{socket.gethostname()}:{os.getpid()}", peak_mb)
