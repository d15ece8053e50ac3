"""Median time of 'next proposal' in the review queue (target < 50 ms), offscreen.

Four 512x512 phases of 100 slices, 40 proposals. One navigation = ReviewController.next(): the queue
moves, every pane is re-centred on the proposal's key slice (new slice cut + windowed), the boxes are
cut by each pane's plane and drawn, the list, progress and tri-planar thumbnails are updated, and every
pane is repainted synchronously (viewport().repaint()). The RECIST proposed from the image is computed
and the thumbnails are drawn right after (deferred to the event loop, so the panes are on screen
first): timed separately.
Run: .venv/bin/python benchmarks/bench_review_nav.py [--proposals 40] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from liverview.core.study import Phase, PhaseKind, Study  # noqa: E402
from liverview.core.volume import Volume  # noqa: E402
from liverview.detection.proposals import Proposal3D, ProposalSet, write_proposals  # noqa: E402
from liverview.ui.main_window import MainWindow  # noqa: E402


def make_study(slices: int) -> Study:
    rng = np.random.default_rng(0)
    base = rng.normal(60, 20, size=(slices, 512, 512)).astype(np.int16)
    kinds = [PhaseKind.NON_CONTRAST, PhaseKind.ARTERIAL, PhaseKind.PORTAL_VENOUS, PhaseKind.DELAYED]
    study = Study([Phase(k, Volume(base + 10 * n, (0.7, 0.7, 2.0))) for n, k in enumerate(kinds)])
    study.study_uid = "bench-review-nav"
    return study


def make_proposals(study: Study, n: int, path: Path) -> Path:
    rng = np.random.default_rng(1)
    ref = study.reference.volume
    nz = ref.array.shape[0]
    props = []
    for _ in range(n):
        x0, y0 = rng.uniform(60, 400, 2)
        w, h = rng.uniform(10, 60, 2)
        z0 = int(rng.integers(0, nz - 8))
        z1 = z0 + int(rng.integers(1, 8))
        props.append(Proposal3D((x0, y0, x0 + w, y0 + h), (z0, z1), float(rng.uniform(0.1, 1.0)), (z0 + z1) // 2))
    return write_proposals(path, ProposalSet.for_volume(props, ref, model="bench"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--proposals", type=int, default=40)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    tmp = Path(tempfile.mkdtemp())
    study = make_study(args.slices)
    window = MainWindow(register_mode=None, project_path=tmp / "bench.lvproj", user="bench")
    window.resize(1600, 1000)
    window.show()
    window.set_study(study)
    review = window.review
    review.import_file(make_proposals(study, args.proposals, tmp / "proposals.json"))
    app.processEvents()
    nav, recist = [], []
    for n in range(args.steps):
        forward = (n // (args.proposals - 1)) % 2 == 0
        t0 = time.perf_counter()
        review.next() if forward else review.previous()
        for pane in window.grid.panes:
            pane.view.viewport().repaint()
        t1 = time.perf_counter()
        app.processEvents()  # the deferred thumbnails and RECIST proposal
        t2 = time.perf_counter()
        nav.append(t1 - t0)
        recist.append(t2 - t1)
        p = review.queue.current
        assert all(pane.shown_slice == p.key_slice for pane in window.grid.panes)
    # Reference in the same run (the machine is shared, so absolute times move with its load): a plain
    # synchronized slice step of the same four panes, overlays included.
    steps = []
    pane = window.grid.panes[0]
    for n in range(args.steps):
        t0 = time.perf_counter()
        pane.step_slices(1 if (n // 10) % 2 == 0 else -1)
        for p in window.grid.panes:
            p.view.viewport().repaint()
        steps.append(time.perf_counter() - t0)
    window.close()
    med, p95 = statistics.median(nav) * 1e3, np.percentile(nav, 95) * 1e3
    print(f"4 panes x 512x512 x {args.slices} slices, {args.proposals} proposals, {args.steps} navigations, "
          f"offscreen, {os.cpu_count()} CPUs")
    print(f"next proposal (panes re-centred + drawn): median {med:.1f} ms   p95 {p95:.1f} ms   (target < 50 ms)")
    print(f"thumbnails + RECIST proposal, after:     median {statistics.median(recist) * 1e3:.1f} ms   "
          f"p95 {np.percentile(recist, 95) * 1e3:.1f} ms")
    step = statistics.median(steps) * 1e3
    print(f"plain slice step, same window and run:   median {step:.1f} ms   (navigation / step = {med / step:.2f})")
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
