"""The driver of a scan: decide which studies still need work, run each as a Ray task, and store each one the
moment it finishes (``ray.wait``), one study per transaction, from this process alone. A killed scan loses only
the studies in flight; a re-run skips the finished ones and retries the failed ones, each study at most
``1 + retries`` times over all runs. A failure (unreadable files, out of memory, a worker that died) is
recorded with its message and the batch goes on."""

from __future__ import annotations

import sqlite3
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from liverview.scan.archive import StudySource
from liverview.scan.cluster import TaskResources
from liverview.scan.progress import ScanProgress
from liverview.scan.study_identity import identify
from liverview.scan.study_task import DetectionSettings, StudyScanResult, scan_study
from liverview.store.project import Project
from liverview.store.records import InvalidRecordError, StoreError
from liverview.store.scan_methods import ScanRecord, StudyAlreadyScannedError


@dataclass(frozen=True)
class PlannedStudy:
    source: StudySource
    key: str
    signature: str = ""
    attempts: int = 0  # made before this run


@dataclass
class ScanPlan:
    """The studies found, sorted into those to run and those left as they are."""

    to_run: list[PlannedStudy] = field(default_factory=list)
    done: list[PlannedStudy] = field(default_factory=list)  # finished by an earlier scan
    given_up: list[tuple[PlannedStudy, ScanRecord]] = field(default_factory=list)  # out of attempts
    duplicates: list[tuple[StudySource, StudySource]] = field(default_factory=list)  # (copy, first found)
    unidentified: list[tuple[StudySource, str]] = field(default_factory=list)  # files unreadable for hashing
    changed: list[PlannedStudy] = field(default_factory=list)  # scanned DICOM studies whose files changed since


@dataclass(frozen=True)
class StudyFailure:
    source: StudySource
    key: str
    message: str
    attempts: int
    final: bool  # no attempts left


@dataclass
class ScanSummary:
    plan: ScanPlan
    finished: list[StudyScanResult] = field(default_factory=list)
    failures: list[StudyFailure] = field(default_factory=list)  # every failed attempt of this run
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def proposals(self) -> int:
        return sum(len(r.proposals) for r in self.finished)

    @property
    def failed_for_good(self) -> list[StudyFailure]:
        return [f for f in self.failures if f.final]

    @property
    def still_failing(self) -> list[StudyFailure]:
        """The last failure of each study that ended this run unfinished."""
        done = {r.study_key for r in self.finished}
        last: dict[str, StudyFailure] = {}
        for f in self.failures:
            last[f.key] = f
        return [f for k, f in last.items() if k not in done]

    def studies_per_min(self) -> float:
        settled = len(self.finished) + len(self.still_failing)
        return settled / self.seconds * 60.0 if self.seconds > 0 else 0.0

    def peak_memory_mb_by_worker(self) -> dict[str, float]:
        peaks: dict[str, float] = {}
        for r in self.finished:
            peaks[r.worker] = max(peaks.get(r.worker, 0.0), r.peak_rss_mb)
        return peaks


def plan_scan(studies: list[StudySource], project: Project | None, retries: int) -> ScanPlan:
    """Identify every study and sort it: done already, out of attempts, a copy of another, or to run
    (``project`` None: a project not made yet, where nothing was scanned)."""
    records = project.scan_records() if project is not None else {}
    known = {r.source: (r.signature, r.study_key) for r in records.values() if r.signature}  # DICOM's never match
    plan = ScanPlan()
    first_of: dict[str, StudySource] = {}
    for source in studies:
        try:
            identity = identify(source, known)
        except OSError as exc:
            plan.unidentified.append((source, f"cannot read its files to identify it: {exc}"))
            continue
        if identity.key in first_of:
            plan.duplicates.append((source, first_of[identity.key]))
            continue
        first_of[identity.key] = source
        record = records.get(identity.key)
        attempts = record.attempts if record is not None else 0
        planned = PlannedStudy(source, identity.key, identity.signature, attempts)
        if record is not None and record.status == "done":
            changed = (source.kind == "dicom" and record.signature and identity.signature
                       and record.signature != identity.signature)
            (plan.changed if changed else plan.done).append(planned)
        elif record is not None and attempts >= 1 + retries:
            plan.given_up.append((planned, record))
        else:
            plan.to_run.append(planned)
    return plan


def failure_message(exc: BaseException) -> str:
    """One line saying why a study's task failed, in the words of the cause rather than of Ray."""
    try:
        import ray.exceptions as rex
    except ImportError:  # pragma: no cover - the batch runs on Ray
        rex = None
    if rex is not None:
        if isinstance(exc, rex.RayTaskError):
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            if cause is not exc:
                return f"{type(cause).__name__}: {_first_line(cause)}"
        if isinstance(exc, rex.OutOfMemoryError):
            return f"out of memory: Ray stopped the task as its machine ran low ({_first_line(exc)})"
        if isinstance(exc, rex.WorkerCrashedError):
            return ("its worker process died (crashed, or killed, e.g. by the system when memory ran out): "
                    f"{_first_line(exc)}")
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0][:500] if lines else "(no message)"


def run_batch(plan: ScanPlan, project: Project, settings: DetectionSettings, resources: TaskResources,
              retries: int, progress: ScanProgress | None = None, on_event: Callable[[str], None] | None = None,
              clock: Callable[[], float] | None = None) -> ScanSummary:
    """Run ``plan.to_run`` on the Ray session of this process; store each study as it finishes."""
    import time

    import ray

    clock = clock or time.monotonic
    started = clock()
    summary = ScanSummary(plan)
    remote = ray.remote(scan_study).options(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus,
                                            max_retries=0, retry_exceptions=False)
    settings_ref = ray.put(settings)
    queue: deque[tuple[PlannedStudy, int]] = deque((p, p.attempts) for p in plan.to_run)
    in_flight: dict[Any, tuple[PlannedStudy, int]] = {}
    window = 2 * resources.slots
    tell = on_event or (lambda text: None)
    try:
        while queue or in_flight:
            while queue and len(in_flight) < window:
                planned, attempts = queue.popleft()
                ref = remote.remote(planned.source, planned.key, settings_ref, resources.device)
                in_flight[ref] = (planned, attempts)
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            if progress is not None:
                progress.draw()
            for ref in ready:
                planned, attempts = in_flight.pop(ref)
                try:
                    result: StudyScanResult = ray.get(ref)
                    project.record_scanned_study(
                        planned.key, str(planned.source.location), result.phases, result.proposals, result.model,
                        description=result.name, patient_id=result.patient_id, signature=planned.signature,
                        seconds=result.seconds)
                except StudyAlreadyScannedError:
                    continue  # stored already (cannot happen within one plan; never store it twice)
                except Exception as exc:  # noqa: BLE001 - any failure of one study is recorded, never fatal
                    if isinstance(exc, sqlite3.Error) or (isinstance(exc, StoreError)
                                                          and not isinstance(exc, InvalidRecordError)):
                        raise  # the project itself cannot be written (disk full, damaged): stop, nothing is lost
                    message = failure_message(exc)
                    made = project.record_scan_failure(planned.key, str(planned.source.location), message,
                                                       planned.signature)
                    final = made >= 1 + retries
                    summary.failures.append(StudyFailure(planned.source, planned.key, message, made, final))
                    tell(f"{planned.source.label}: attempt {made} failed: {message}"
                         + ("" if final else " (will retry)"))
                    if final:
                        if progress is not None:
                            progress.gave_up()
                    else:
                        queue.append((planned, made))
                    continue
                summary.finished.append(result)
                if progress is not None:
                    progress.finished(len(result.proposals))
    except KeyboardInterrupt:
        summary.interrupted = True
        for ref in in_flight:
            ray.cancel(ref, force=True)
    finally:
        summary.seconds = clock() - started
        if progress is not None:
            progress.close()
    return summary
