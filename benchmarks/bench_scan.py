"""Throughput of `liverview scan` on embedded Ray with 1 and 2 workers in one run (studies per minute, and the
ratio), and memory per worker. The archive is synthetic phantoms written once; each worker count scans it into
a fresh project with the registry's default detector (or --model/--plugin-dir) and the liver mask, exactly as
the command does (liverview.scan: plan_scan, ray_session, run_batch).

Run: .venv/bin/python benchmarks/bench_scan.py [--studies 12] [--shape 32 128 128] [--workers 1,2] [--repeat 1]
Prints per run: Ray start-up seconds, scan seconds (first task of each worker included: it imports torch and
loads the models), studies/min, mean task seconds, peak RSS per worker process (max and mean) and of the
driver; then the throughput ratio of the largest worker count to 1 worker, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from liverview.detection.study_detection import ProposalFilter
from liverview.scan.archive import find_studies
from liverview.scan.batch import plan_scan, run_batch
from liverview.scan.cluster import ray_session, task_resources
from liverview.scan.study_task import DetectionSettings
from liverview.store.project import Project
from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study


def write_archive(root: Path, n: int, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> None:
    for seed in range(1, n + 1):
        write_phantom_study(generate_ct_study(seed, n_lesions=3, shape=shape, spacing_mm=spacing), root / f"s{seed:03d}")


def scan_once(archive: Path, project_path: Path, workers: int, settings: DetectionSettings) -> dict:
    listing = find_studies(archive)
    with Project.create(project_path, "bench") as project:
        plan = plan_scan(listing.studies, project, retries=0)
        t = time.perf_counter()
        with ray_session(None, workers) as cluster:
            started = time.perf_counter() - t
            resources = task_resources("cpu", 1.0, None, cluster)
            summary = run_batch(plan, project, settings, resources, retries=0)
    peaks = summary.peak_memory_mb_by_worker()
    failed = summary.still_failing
    return {
        "workers": workers, "studies": len(summary.finished), "failed": len(failed),
        "failures": [f.message for f in failed], "ray_start_s": round(started, 2),
        "scan_s": round(summary.seconds, 2), "studies_per_min": round(summary.studies_per_min(), 2),
        "mean_task_s": round(statistics.mean(r.seconds for r in summary.finished), 2) if summary.finished else None,
        "proposals": summary.proposals, "worker_processes": len(peaks),
        "worker_peak_rss_mb_max": round(max(peaks.values()), 0) if peaks else None,
        "worker_peak_rss_mb_mean": round(statistics.mean(peaks.values()), 0) if peaks else None,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=12)
    ap.add_argument("--shape", type=int, nargs=3, default=(32, 128, 128), metavar=("Z", "Y", "X"))
    ap.add_argument("--spacing", type=float, nargs=3, default=(2.0, 2.0, 2.5), metavar=("X", "Y", "Z"))
    ap.add_argument("--workers", default="1,2", help="worker counts to compare, in order (default 1,2)")
    ap.add_argument("--repeat", type=int, default=1, help="scan each worker count this many times, interleaved")
    ap.add_argument("--model", default=None)
    ap.add_argument("--plugin-dir", default=None)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    settings = DetectionSettings(args.model, None, (args.plugin_dir,) if args.plugin_dir else (), ProposalFilter())
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        archive = Path(tmp) / "archive"
        t = time.perf_counter()
        write_archive(archive, args.studies, tuple(args.shape), tuple(args.spacing))
        print(f"{args.studies} phantoms of {tuple(args.shape)} x 4 phases written in {time.perf_counter() - t:.1f} s "
              f"(cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")
        for rep in range(args.repeat):
            for w in counts:
                run = scan_once(archive, Path(tmp) / f"w{w}-r{rep}.lvproj", w, settings)
                runs.append(run)
                print(json.dumps(run))
    driver_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    best = {w: max(r["studies_per_min"] for r in runs if r["workers"] == w) for w in counts}
    print(f"driver peak RSS {driver_peak:.0f} MB")
    for w in counts:
        print(f"{w} worker(s): best {best[w]:.1f} studies/min")
    if 1 in best and len(best) > 1:
        top = max(counts)
        print(f"throughput ratio {top} workers / 1 worker: {best[top] / best[1]:.2f}")
    if args.out:
        args.out.write_text(json.dumps({"runs": runs, "driver_peak_rss_mb": round(driver_peak),
                                        "best_studies_per_min": best}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
