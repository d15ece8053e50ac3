"""Per-interaction latency of the ultrasound workspace on CPU: mouse click -> mask on screen.

A synthetic 800x600 B-mode phantom (liverview.synth.us_phantom, DICOM US with pixel size) is opened in
the real workspace (offscreen Qt). Each interaction is a simulated mouse click (QTest) on the canvas:
sessions of 1 foreground click inside the lesion, then background / foreground refinements, then Esc.
The next click comes once the previous mask's measurements are shown (a user looks before clicking
again), so each figure is one interaction's own latency. Four times are taken per interaction:

- ui_ms: how long the UI thread is busy handling the click itself (must stay small: never blocks);
- shown_ms: click -> mask overlay set and painted (Qt's pending paint events processed at once);
- inference_ms: the segmenter's own time (UsPrediction.time_ms);
- paint_ms: that paint (part of shown_ms); full repaint: the whole canvas repainted, for comparison.

Usage: QT_QPA_PLATFORM=offscreen python benchmarks/bench_us_interaction.py [--clicks 40] [--weights PT]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clicks", type=int, default=40, help="timed interactions (after 3 warm-up clicks)")
    p.add_argument("--weights", help="segmenter weights (default: the plugin's, via the registry)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)

    import torch
    from PySide6 import QtCore, QtWidgets
    from PySide6.QtTest import QTest

    torch.set_num_threads(args.threads)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from liverview.annotate.us_segmenter import load_us_segmenter
    from liverview.synth.us_demo import synthetic_us_dicom
    from liverview.ui.ultrasound.us_workspace import UsWorkspace

    segmenter = load_us_segmenter(device="cpu", weights=args.weights)
    with tempfile.TemporaryDirectory() as tmp:
        phantom = synthetic_us_dicom(Path(tmp) / "bench.dcm", seed=args.seed, lesion_class="metastasis",
                                     size=(600, 800))
        w = UsWorkspace(segmenter=segmenter, project_path=Path(tmp) / "bench.lvproj", user="bench")
        w.resize(1300, 850)
        w.show()
        app.processEvents()
        assert w.open_image(phantom.path)
        rng = np.random.default_rng(args.seed)
        ys, xs = np.nonzero(phantom.mask)
        out_ys, out_xs = np.nonzero(~phantom.mask)
        vp = w.canvas.viewport()
        shown: list[float] = []
        ui: list[float] = []
        infer: list[float] = []
        paint: list[float] = []
        full_paint: list[float] = []
        fired: list[float] = []
        w.mask_shown.connect(fired.append)

        def interaction(n: int) -> None:
            if n % 4 == 0:
                w.clear()
                i = rng.integers(len(xs))
                x, y, button = xs[i], ys[i], QtCore.Qt.MouseButton.LeftButton
            elif n % 2 == 1:
                i = rng.integers(len(out_xs))
                x, y, button = out_xs[i], out_ys[i], QtCore.Qt.MouseButton.RightButton
            else:
                i = rng.integers(len(xs))
                x, y, button = xs[i], ys[i], QtCore.Qt.MouseButton.LeftButton
            before = len(fired)
            t0 = time.perf_counter()
            QTest.mouseClick(vp, button, pos=w.canvas.widget_pos_of(float(x), float(y)))
            t1 = time.perf_counter()
            if len(fired) == before:  # wait in Qt's event loop, as the app does (a Python poll loop
                loop = QtCore.QEventLoop()  # would hold the GIL against the worker)
                w.mask_shown.connect(loop.quit)
                QtCore.QTimer.singleShot(60000, loop.quit)
                loop.exec()
                w.mask_shown.disconnect(loop.quit)
                if len(fired) == before:
                    raise RuntimeError("no mask within 60 s")
            t_set = time.perf_counter()
            app.processEvents()  # Qt paints what changed (overlay, markers, axes), as the app's loop would
            t2 = time.perf_counter()
            vp.repaint()  # for comparison: a full repaint of the canvas
            full_paint.append((time.perf_counter() - t2) * 1000)
            ui.append((t1 - t0) * 1000)
            shown.append((t2 - t0) * 1000)
            infer.append(w.inference_ms[-1])
            paint.append((t2 - t_set) * 1000)
            w.wait_idle(60)  # the user looks at the mask (its measurements finish) before clicking again

        for n in range(3):  # warm-up: first torch calls allocate
            interaction(n)
        shown.clear(), ui.clear(), infer.clear(), paint.clear(), full_paint.clear()
        for n in range(args.clicks):
            interaction(n)
        w.close()

    def row(name: str, v: list[float]) -> str:
        q = np.percentile(v, [50, 90])
        return f"{name:<14} median {q[0]:7.1f} ms   p90 {q[1]:7.1f} ms   max {max(v):7.1f} ms"

    print(f"US workspace interaction latency, image 800x600, {args.clicks} clicks, segmenter "
          f"'{segmenter.name}' (input {getattr(segmenter, 'input_size', '?')} px), device cpu, "
          f"torch threads {args.threads}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpu(s), "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print(row("click->shown", shown))
    print(row("inference", infer))
    print(row("UI busy/click", ui))
    print(row("paint", paint))
    print(row("full repaint", full_paint))
    print(f"median click->shown {statistics.median(shown):.1f} ms "
          f"({'meets' if statistics.median(shown) < 80 else 'misses'} the 80 ms target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
