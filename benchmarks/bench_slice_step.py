"""Median time of one synchronized slice step over 4 panes of 512x512 (target < 16 ms), offscreen.

Baseline in the same process: four bare pyqtgraph ImageItems given the same int16 slices with
levels and repainted (what a viewer without our windowing/geometry layer would pay).
Run: .venv/bin/python benchmarks/bench_slice_step.py [--slices 100] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from liverview.core.study import Phase, PhaseKind, Study  # noqa: E402
from liverview.core.volume import Volume  # noqa: E402
from liverview.ui.main_window import MainWindow  # noqa: E402


def make_study(slices: int) -> Study:
    rng = np.random.default_rng(0)
    base = rng.normal(40, 20, size=(slices, 512, 512)).astype(np.int16)
    kinds = [PhaseKind.NON_CONTRAST, PhaseKind.ARTERIAL, PhaseKind.PORTAL_VENOUS, PhaseKind.DELAYED]
    return Study([Phase(k, Volume(base + 10 * n, (0.7, 0.7, 2.0))) for n, k in enumerate(kinds)])


def time_liverview(app, study: Study, steps: int) -> list[float]:
    window = MainWindow(register_mode=None)
    window.resize(1600, 1000)
    window.show()
    window.set_study(study)
    app.processEvents()
    pane = window.grid.panes[0]
    pane.go_to_slice(10)
    times = []
    for n in range(steps):
        t0 = time.perf_counter()
        pane.step_slices(1 if (n // 20) % 2 == 0 else -1)
        for p in window.grid.panes:
            p.view.viewport().repaint()
        times.append(time.perf_counter() - t0)
    assert len({p.shown_slice for p in window.grid.panes}) == 1
    window.close()
    return times


def time_baseline(app, study: Study, steps: int) -> list[float]:
    host = QtWidgets.QWidget()
    layout = QtWidgets.QGridLayout(host)
    views, items = [], []
    for n in range(4):
        view = pg.GraphicsView()
        box = pg.ViewBox(lockAspect=True)
        view.setCentralItem(box)
        item = pg.ImageItem(axisOrder="row-major")
        box.addItem(item)
        layout.addWidget(view, n // 2, n % 2)
        views.append(view)
        items.append(item)
    host.resize(1600, 1000)
    host.show()
    app.processEvents()
    times = []
    s = 10
    for n in range(steps):
        t0 = time.perf_counter()
        s += 1 if (n // 20) % 2 == 0 else -1
        for item, phase in zip(items, study.phases):
            item.setImage(phase.volume.array[s], levels=(-160, 240), autoLevels=False)
        for view in views:
            view.viewport().repaint()
        times.append(time.perf_counter() - t0)
    host.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    study = make_study(args.slices)
    ours = time_liverview(app, study, args.steps)
    base = time_baseline(app, study, args.steps)
    med, p95 = statistics.median(ours) * 1e3, np.percentile(ours, 95) * 1e3
    bmed = statistics.median(base) * 1e3
    print(f"4 panes x 512x512, {args.steps} synchronized slice steps, offscreen, {os.cpu_count()} CPUs")
    print(f"LiverView step:        median {med:.2f} ms   p95 {p95:.2f} ms   (target < 16 ms)")
    print(f"bare pyqtgraph (base): median {bmed:.2f} ms")
    print(f"ratio LiverView / baseline: {med / bmed:.2f}")


if __name__ == "__main__":
    main()
