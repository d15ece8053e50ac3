"""`liverview scan ARCHIVE --project DB`: detect lesions in every CT study of an archive, each study a Ray task
(Ray embedded on this machine by default, a running cluster with --address), every finished study stored at
once in the project; a re-run goes on where the last one stopped."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.arg_types import non_negative_float, non_negative_int
from liverview.commands.model_choice import add_model_option, add_plugin_dir_option, resolve
from liverview.commands.ray_options import add_ray_options
from liverview.detection.liver_filter import DEFAULT_MARGIN_MM, DEFAULT_MAX_PROPOSALS
from liverview.terminal_progress import add_quiet_option

EXAMPLES_PER_REASON = 3  # skipped files named per reason (all of them with --list-skipped)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan", help="detect lesions in every CT study of an archive (on Ray) into a project",
        description="Find every CT study under ARCHIVE (DICOM files grouped by StudyInstanceUID and series; "
                    "folders of one volume file per phase; phantom folders with study.json) and say what was "
                    "skipped and why; run the liver mask and the detector on each study as a Ray task (the same "
                    "proposals as `liverview detect` gives); store each study's proposals in the project as soon "
                    "as it finishes. A re-run skips finished studies (known by their DICOM UID or a hash of "
                    "their files, not their path) and retries failed ones. Exit status 1 when a study is left "
                    "failed.")
    parser.add_argument("archive", metavar="ARCHIVE", type=Path, help="folder holding the studies (searched recursively)")
    parser.add_argument("--project", type=Path, required=True, metavar="DB",
                        help="project file to store proposals in (created when missing)")
    add_ray_options(parser)
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when the cluster has GPUs, else CPU), cpu or cuda")
    parser.add_argument("--retries", type=int, default=2, metavar="K",
                        help="try a failed study again up to K times, over this and later runs (default 2)")
    add_model_option(parser, "detector")
    add_plugin_dir_option(parser)
    parser.add_argument("--weights", type=Path, default=None, help="detector weights (default: the contribution's)")
    parser.add_argument("--liver-margin", type=non_negative_float, default=DEFAULT_MARGIN_MM, metavar="MM",
                        help="drop proposals with no voxel within MM of the liver (default 15)")
    parser.add_argument("--no-liver-filter", action="store_true", help="keep proposals outside the liver too")
    parser.add_argument("--max-proposals", type=non_negative_int, default=DEFAULT_MAX_PROPOSALS, metavar="N",
                        help="keep at most the N best-scored proposals per study (default 50; 0 = all)")
    parser.add_argument("--assume-phase", default="portal venous", metavar="PHASE",
                        help="phase kind given to a single phase of unknown kind (default portal venous)")
    parser.add_argument("--reader", dest="user", metavar="NAME", default=None,
                        help="name recorded in the project's audit log (default: login name)")
    parser.add_argument("--user", dest="user", help=argparse.SUPPRESS)  # the old spelling, kept working
    parser.add_argument("--dry-run", action="store_true",
                        help="only say which studies would be scanned and what is skipped (the project is read, "
                             "never made or changed)")
    parser.add_argument("--list-skipped", action="store_true", help="name every skipped file, not a few per reason")
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def _studies(n: int, what: str = "") -> str:
    """'1 study', '3 CT studies'."""
    return f"{n} {what + ' ' if what else ''}{'study' if n == 1 else 'studies'}"


def _user(name: str | None) -> str:
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "liverview-scan"


def _check_models(args: argparse.Namespace) -> None:
    """Fail before starting Ray when the detector (or its weights, or the liver mask) is not there."""
    detector = resolve("detector", args.model, plugin_dirs=args.plugin_dirs)
    weights = args.weights if args.weights is not None else detector.weights
    if weights is not None and not Path(weights).is_file():
        raise CliError(f"{detector.where} ('{detector.name}'): weights {weights} not found")
    detector.load()
    if not args.no_liver_filter:
        resolve("liver-segmenter", None, plugin_dirs=args.plugin_dirs).load()


def _open_project(path: Path, user: str):
    """The project for editing, created when missing; a locked or damaged one raises the store's error, which
    the CLI reports with its exit status (4 locked, 3 damaged)."""
    from liverview.store.project import Project

    return Project.open(path, user) if path.exists() else Project.create(path, user)


def _print_listing(listing, archive: Path, list_all: bool) -> None:
    kinds: dict[str, int] = {}
    for s in listing.studies:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    names = {"dicom": ("DICOM study", "DICOM studies"), "volumes": ("volume folder", "volume folders"),
             "phantom": ("phantom", "phantoms")}
    what = ", ".join(f"{n} {names.get(k, (k, k))[n != 1]}" for k, n in sorted(kinds.items())) or "none"
    print(f"found {_studies(len(listing.studies), 'CT')} under {archive} ({what}); "
          f"skipped {len(listing.skipped)} files or folders" + (":" if listing.skipped else ""))
    for reason, paths in sorted(listing.skipped_by_reason().items(), key=lambda kv: -len(kv[1])):
        shown = paths if list_all else paths[:EXAMPLES_PER_REASON]
        more = f", ... ({len(paths) - len(shown)} more)" if len(paths) > len(shown) else ""
        print(f"  {len(paths)} x {reason}: {', '.join(str(p) for p in shown)}{more}")


def _print_plan(plan, retries: int) -> None:
    if plan.done:
        print(f"{_studies(len(plan.done))} already scanned into the project: left as they are")
    for planned in plan.changed:  # its UID is known, its files are not those scanned: proposals may not fit them
        print(f"changed since it was scanned: {planned.source.label}: slices were "
              "added, removed or rewritten; its proposals (and any review of them) are from the files as they "
              "were and are left as they are; scan the folder into a new project to detect on it as it is now",
              file=sys.stderr)
    for planned, record in plan.given_up:
        print(f"given up: {planned.source.label} failed {record.attempts} times (last: {record.message}); "
              f"--retries {record.attempts} or more tries it again")
    for copy, first in plan.duplicates:
        print(f"skipped {copy.location}: the same study as {first.location} (same UID or files)")
    for source, why in plan.unidentified:
        print(f"skipped {source.location}: {why}")
    tries = f" (retries up to {retries} per study)" if retries else " (no retries)"
    print(f"{_studies(len(plan.to_run))} to scan" + (tries if plan.to_run else ""))


def _print_summary(summary, resources, project_path: Path) -> None:
    from liverview.scan.progress import format_duration

    finished, failing = summary.finished, summary.still_failing
    head = "interrupted after" if summary.interrupted else "scanned"
    print(f"{head} {_studies(len(finished) + len(failing))} in {format_duration(summary.seconds)}: "
          f"{len(finished)} finished with {summary.proposals} proposals, {len(failing)} failed; "
          f"{summary.studies_per_min():.1f} studies/min on Ray ({resources.describe()})")
    for f in failing:
        left = "no attempts left" if f.final else "will be retried by the next run"
        tries = f"{f.attempts} attempt" + ("" if f.attempts == 1 else "s")
        print(f"  failed: {f.source.label} [{f.key}] after {tries} ({left}): {f.message}")
    peaks = summary.peak_memory_mb_by_worker()
    if peaks:
        print(f"peak memory per worker: {max(peaks.values()):.0f} MB at most over {len(peaks)} worker processes")
    print(f"project: {project_path}")


def _dry_run(listing, args: argparse.Namespace) -> int:
    from liverview.scan.batch import plan_scan
    from liverview.store.project import Project

    if not args.project.exists():
        print(f"(project {args.project} does not exist yet: nothing scanned into it)")
        plan = plan_scan(listing.studies, None, args.retries)
    else:
        with Project.open(args.project, _user(args.user), read_only=True) as project:
            plan = plan_scan(listing.studies, project, args.retries)
    _print_plan(plan, args.retries)
    for planned in plan.to_run:  # what a dry run is asked for: which studies, not only how many
        again = f" (again: {planned.attempts} failed attempt{'' if planned.attempts == 1 else 's'})" \
            if planned.attempts else ""
        print(f"  would scan: {planned.source.label}{again}")
    return 0


def run(args: argparse.Namespace) -> int:
    from liverview.core.study import PhaseKind
    from liverview.detection.study_detection import ProposalFilter
    from liverview.scan.archive import ArchiveError, find_studies
    from liverview.scan.batch import plan_scan, run_batch
    from liverview.scan.cluster import ScanSetupError, ray_session, task_resources
    from liverview.scan.progress import ScanProgress
    from liverview.scan.study_task import DetectionSettings

    if args.retries < 0:
        raise CliError(f"--retries {args.retries}: give 0 or more")
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers {args.workers}: give at least 1")
    try:
        listing = find_studies(args.archive)
    except ArchiveError as exc:
        raise CliError(str(exc)) from None
    try:  # checked here, not by each study's task (which failed every study needing it, attempts and all)
        if PhaseKind.parse(args.assume_phase) is PhaseKind.UNKNOWN:
            raise ValueError(f"unknown phase '{args.assume_phase}' is no phase to assume")
    except ValueError as exc:
        raise CliError(f"--assume-phase: {exc}") from None
    _print_listing(listing, args.archive, args.list_skipped)
    if not listing.studies:  # a wrong folder, most likely: no project is made for it
        print(f"error: no CT study found under {args.archive}: nothing to scan", file=sys.stderr)
        return 1
    if args.dry_run:  # read-only: no project is made, an existing one is only read
        return _dry_run(listing, args)
    _check_models(args)
    project = _open_project(args.project, _user(args.user))
    try:
        plan = plan_scan(listing.studies, project, args.retries)
        _print_plan(plan, args.retries)
        sys.stdout.flush()
        if not plan.to_run:
            return 1 if plan.given_up or plan.changed else 0
        settings = DetectionSettings(
            args.model, str(args.weights.resolve()) if args.weights else None,
            tuple(str(Path(p).resolve()) for p in args.plugin_dirs),
            ProposalFilter(not args.no_liver_filter, args.liver_margin, args.max_proposals), args.assume_phase)
        workers = args.workers if args.workers is not None or args.address else (os.cpu_count() or 1)
        try:
            with ray_session(args.address, workers or 1) as cluster:
                resources = task_resources(args.device, args.gpus_per_task, args.workers, cluster)
                print(f"running on Ray: {resources.describe()}")
                sys.stdout.flush()
                progress = ScanProgress(len(plan.to_run), quiet=args.quiet)
                summary = run_batch(plan, project, settings, resources, args.retries, progress,
                                    on_event=progress.note)
        except ScanSetupError as exc:
            raise CliError(str(exc)) from None
        _print_summary(summary, resources, args.project)
        if summary.interrupted:
            return 130
        return 1 if summary.still_failing or plan.given_up or plan.changed else 0
    finally:
        project.close()
