"""Latency of one ultrasound click interaction on the CPU (target: median < 80 ms on 2 cores, images up to
800x600). An interaction = crop placement + net forward + paste back at native resolution + island
removal, i.e. everything UsSegmenter.predict does per click, and for a corrective click the nudge of the contour
shown (liverview.us.local_correction), as the workspace answers it.

    python benchmarks/bench_us.py [--weights PATH] [--threads 1] [--cv-threads N] [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from liverview.synth.us_phantom import generate_us_phantom  # noqa: E402
from liverview.us.clicks import Click, box_to_clicks  # noqa: E402
from liverview.metrics.refinement import next_click  # noqa: E402
from liverview.us.click_simulation import eval_box  # noqa: E402
from liverview.us.local_correction import correct_shown_mask  # noqa: E402
from liverview_plugins.us_clickseg.inference import load_segmenter  # noqa: E402


def interactions(seg, img: np.ndarray, mask: np.ndarray, seed: int) -> list[float]:
    """A box, then two corrective clicks where the mask shown is most wrong (the simulated reader of NoC):
    the milliseconds of each of the three interactions."""
    clicks, shown, times = box_to_clicks(*eval_box(mask, seed)), None, []
    for _ in range(3):
        start = time.perf_counter()
        pred = seg.predict(img, clicks, prior=shown)
        shown = correct_shown_mask(pred.mask, shown, clicks, bool(getattr(seg, "box_fit", False)))
        times.append((time.perf_counter() - start) * 1000.0)
        click = next_click(shown, mask)
        if click is None:
            break
        clicks = clicks + [click]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a busy 2-core machine 2 threads spin against other work)")
    parser.add_argument("--repeats", type=int, default=20, help="images per size")
    parser.add_argument("--cv-threads", type=int, default=None,
                        help="OpenCV threads (default: OpenCV's own choice); 1 stops its pool spinning against torch's")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)
    seg = load_segmenter(args.weights, "cpu")
    print(f"model {seg.name}, input {seg.input_size}x{seg.input_size}, torch threads {torch.get_num_threads()}, OpenCV threads "
          f"{cv2.getNumThreads()}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, load average "
          f"{os.getloadavg()[0]:.1f}")
    all_times = []
    for h, w in [(300, 400), (600, 800)]:
        times = []
        for i in range(args.repeats):
            ph = generate_us_phantom(np.random.default_rng([99, i]), size=(h, w))
            img = ph.image.astype(np.float32)
            times += interactions(seg, img, ph.mask, i)
        interactions(seg, img, ph.mask, 0)  # keep the comparison fair: both sizes warmed
        t = np.array(times[3:])  # first image's interactions warm the allocator
        all_times += list(t)
        print(f"  {w}x{h}: {len(t)} interactions, median {np.median(t):.1f} ms, p95 {np.percentile(t, 95):.1f} ms, "
              f"max {t.max():.1f} ms")
    a = np.array(all_times)
    print(f"all: median {np.median(a):.1f} ms, p95 {np.percentile(a, 95):.1f} ms (target: median < 80 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
