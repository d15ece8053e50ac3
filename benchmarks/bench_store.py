"""Annotation store timings. Targets: a project with 10,000 lesions opens in < 1 s; one edit commits in
< 5 ms (median).

- open: a fresh Python process per run; timed from before ``Project.open`` (for editing: lock, pragmas,
  version check) to after ``list_lesions(study)`` returned every lesion with its RECIST mark. The import of
  the package is timed apart. The OS file cache is warm (dropping it needs root and would disturb others).
- commit: single edits alternating ``update_lesion`` and ``set_recist`` on random lesions, each timed from
  call to return: validation, the transaction with its audit row and undo entry, and the fsync that
  ``synchronous=FULL`` makes at every commit.
Run: .venv/bin/python benchmarks/bench_store.py [--lesions 10000] [--edits 500] [--opens 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from liverview.store import BoxRecord, Project, RecistRecord

OPEN_TARGET_S = 1.0
COMMIT_TARGET_MS = 5.0
CLASSES = ("cyst", "hemangioma", "hcc", "metastasis", "unknown")

OPEN_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from liverview.store import Project
t1 = time.perf_counter()
project = Project.open(sys.argv[1], "bench-reader")
lesions = project.list_lesions(int(sys.argv[2]))
t2 = time.perf_counter()
with_recist = sum(l.recist is not None for l in lesions)
project.close()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "lesions": len(lesions), "with_recist": with_recist}))
"""


def recist(rng: np.random.Generator) -> RecistRecord:
    c = rng.uniform(-150, 150, 3)
    half = rng.uniform(3, 40)
    return RecistRecord((tuple(c - [half, 0, 0]), tuple(c + [half, 0, 0])),
                        (tuple(c - [0, half / 2, 0]), tuple(c + [0, half / 2, 0])), int(rng.integers(0, 300)), "pv")


def build(path: Path, lesions: int, rng: np.random.Generator) -> tuple[int, float]:
    """A project with one study of four phases and ``lesions`` lesions, each with RECIST mark and 3D box."""
    t0 = time.perf_counter()
    with Project.create(path, "bench") as project:
        study = project.add_study("1.2.3.4.5", "benchmark study", "BENCH")
        for kind in ("nc", "art", "pv", "del"):
            project.add_phase(study, kind, f"/data/bench/{kind}")
        for n in range(lesions):
            m = recist(rng)
            lo = np.minimum(m.long_axis[0], m.short_axis[0])
            hi = np.maximum(m.long_axis[1], m.short_axis[1])
            project.add_lesion(study, CLASSES[n % 5], f"lesion {n}", recist=m, box=BoxRecord("3d", lo, hi))
    return study, time.perf_counter() - t0


def time_opens(path: Path, study: int, runs: int, expected: int) -> list[dict]:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", OPEN_SCRIPT, str(path), str(study)], capture_output=True,
                             text=True, check=True)
        r = json.loads(out.stdout)
        if r["lesions"] != expected or r["with_recist"] != expected:
            raise RuntimeError(f"open listed {r['lesions']} lesions ({r['with_recist']} with RECIST), "
                               f"expected {expected}")
        results.append(r)
    return results


def time_commits(path: Path, study: int, edits: int, rng: np.random.Generator) -> list[float]:
    times = []
    with Project.open(path, "bench-editor") as project:
        ids = [lesion.id for lesion in project.list_lesions(study)]
        for n in range(edits):
            lesion_id = ids[int(rng.integers(len(ids)))]
            t0 = time.perf_counter()
            if n % 2 == 0:
                project.update_lesion(lesion_id, notes=f"edited {n}", lesion_class=CLASSES[n % 5])
            else:
                project.set_recist(lesion_id, recist(rng))
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lesions", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=500)
    parser.add_argument("--opens", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the project (default: a temp folder)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench_store_"))
    path = folder / "bench.lvproj"
    rng = np.random.default_rng(0)
    try:
        study, build_s = build(path, args.lesions, rng)
        size_mb = path.stat().st_size / 1e6
        print(f"built {args.lesions} lesions (RECIST + box) one edit at a time in {build_s:.1f} s "
              f"({build_s / args.lesions * 1e3:.2f} ms per add_lesion); file {size_mb:.1f} MB")

        opens = time_opens(path, study, args.opens, args.lesions)
        open_s = [r["open_s"] for r in opens]
        print(f"open + list_lesions, fresh process x{len(opens)}: median {statistics.median(open_s) * 1e3:.0f} ms, "
              f"max {max(open_s) * 1e3:.0f} ms (target < {OPEN_TARGET_S * 1e3:.0f} ms) "
              f"-> {'PASS' if max(open_s) < OPEN_TARGET_S else 'FAIL'}; "
              f"package import apart: median {statistics.median(r['import_s'] for r in opens) * 1e3:.0f} ms")

        commits = np.array(time_commits(path, study, args.edits, rng)) * 1e3
        median = float(np.median(commits))
        print(f"commit of one edit (update_lesion / set_recist alternating) x{len(commits)}: median {median:.2f} ms, "
              f"p95 {np.percentile(commits, 95):.2f} ms, max {commits.max():.2f} ms "
              f"(target median < {COMMIT_TARGET_MS:.0f} ms) -> {'PASS' if median < COMMIT_TARGET_MS else 'FAIL'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
