"""DeepLesion CSV import timing. Target: 1,000,000 rows into a project in < 60 s, in one transaction.

The file is generated here (DL_info layout, 512 x 512 images, 0.7 mm pixels, perpendicular RECIST axes;
0.1 % of the rows broken: end points outside the image, a short axis longer than the long one, a cell
that is not a number). The timing runs from before ``import_deeplesion_table`` (reading, checking,
converting to mm, writing with ``Project.import_lesions`` and its one commit) to its return; generating
the file and creating the project are not timed. Reported: wall and CPU time, rows/s, rows refused, and
the lesions in the project afterwards.
Run: .venv/bin/python benchmarks/bench_csv_import.py [--rows 1000000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from liverview.core.study import Phase, PhaseKind, Study
from liverview.core.volume import Volume
from liverview.io.export.deeplesion_csv import DL_INFO_COLUMNS
from liverview.io.export.deeplesion_import import import_deeplesion_table
from liverview.store.project import Project
from liverview.store.study_link import ensure_study

TARGET_S = 60.0
WIDTH = HEIGHT = 512
SLICES = 120
SPACING = (0.7, 0.7, 2.5)


def write_rows(path: Path, n: int, seed: int = 0) -> int:
    """n rows of valid marks, 0.1 % of them broken on purpose; returns how many are broken."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(60, 450, size=(n, 2))
    angle = rng.uniform(0, np.pi, size=n)
    long_half = rng.uniform(5, 40, size=n)
    short_half = long_half * rng.uniform(0.3, 0.95, size=n)
    u = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    v = np.stack([-u[:, 1], u[:, 0]], axis=1)
    ends = np.concatenate([centre - u * long_half[:, None], centre + u * long_half[:, None],
                           centre - v * short_half[:, None], centre + v * short_half[:, None]], axis=1)
    broken = rng.choice(n, size=max(n // 1000, 3), replace=False)
    kinds = np.arange(len(broken)) % 3
    ends[broken[kinds == 0], 0] = 4000.0  # outside the image
    sw = broken[kinds == 1]
    ends[sw, 4:8] = ends[sw, 0:4] * 1.0
    ends[sw, 6:8] = ends[sw, 4:6] + (ends[sw, 6:8] - ends[sw, 4:6]) * 2  # short axis twice the long one
    key = rng.integers(1, SLICES + 1, size=n)
    not_a_number = set(broken[kinds == 2].tolist())
    with path.open("w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(DL_INFO_COLUMNS)
        for r in range(n):
            e = ends[r]
            coords = ", ".join(f"{x:.6g}" for x in e)
            if r in not_a_number:
                coords = "x, " + coords.split(", ", 1)[1]
            box = f"{min(e[0::2]) - 5:.6g}, {min(e[1::2]) - 5:.6g}, {max(e[0::2]) + 5:.6g}, {max(e[1::2]) + 5:.6g}"
            out.writerow([f"000001_01_01_{key[r]:03d}.png", 1, 1, 1, int(key[r]), coords, box,
                          f"{2 * long_half[r]:.6g}, {2 * short_half[r]:.6g}", "", 4, 0, f"1, {SLICES}",
                          "0.7, 0.7, 2.5", f"{WIDTH}, {HEIGHT}", "-175, 275", "F", 60, 1])
    return len(broken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one, removed after)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-csv-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        csv_path = work / "DL_info_bench.csv"
        t = time.perf_counter()
        broken = write_rows(csv_path, args.rows)
        print(f"wrote {args.rows} rows ({csv_path.stat().st_size / 1e6:.0f} MB, {broken} broken) "
              f"in {time.perf_counter() - t:.1f} s")
        volume = Volume(np.zeros((SLICES, HEIGHT, WIDTH), np.int16), SPACING, (-180.0, -180.0, 0.0))
        study = Study([Phase(PhaseKind.PORTAL_VENOUS, volume, source="bench", series_uid="1.2.3")],
                      study_uid="1.2.3.4", description="bench")
        project = Project.create(work / "bench.lvproj", "bench")
        study_id = ensure_study(project, study)
        t, cpu = time.perf_counter(), time.process_time()
        result = import_deeplesion_table(project, study_id, study, csv_path)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        count = project._conn.execute("SELECT COUNT(*) FROM lesions").fetchone()[0]
        project.close()
        verdict = "PASS" if wall < TARGET_S else "FAIL"
        print(f"imported {len(result.added)} rows, refused {len(result.problems)}, project holds {count} lesions")
        print(f"import wall time {wall:.1f} s = {args.rows / wall:,.0f} rows/s (target < {TARGET_S:.0f} s): {verdict}; "
              f"CPU time {cpu:.1f} s (wall exceeds it when other work shares the cores)")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
