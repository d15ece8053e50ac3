"""CPU speed and peak memory of `Detector.detect` on a 4-phase 512x512 study (target: 100 slices < 60 s
on 2 cores). The study is a synthetic phantom (content matters little for the time: a fixed number of
slices is run through the network; stacking is negligible).

Run: .venv/bin/python benchmarks/bench_detect.py [--slices 100] [--threads 2] [--weights PATH] [--repeat 1]
Prints: seconds per study (wall) and process CPU seconds, reference slices per second, working slices per second, peak RSS of the
process (MiB, after detection) and the part added by detection over the loaded volumes.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from liverview.synth.ct_phantom import generate_ct_study
from liverview_plugins.mscn_detector.inference import load_detector
from liverview_plugins.mscn_detector.preprocess import working_grid


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slices", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 2.5), metavar=("X", "Y", "Z"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    study = generate_ct_study(3, n_lesions=6, shape=(args.slices, 512, 512), spacing_mm=tuple(args.spacing))
    print(f"phantom {args.slices}x512x512 x 4 phases ({tuple(args.spacing)} mm) generated in "
          f"{time.perf_counter() - t:.1f} s")
    det = load_detector(args.weights, "cpu")
    from liverview.plugin_registry import discover_plugins

    segmenter = discover_plugins().resolve("liver-segmenter", None).create("cpu")
    ref = study.reference_phase
    base = peak_rss_mib()
    grid = working_grid(study.phases[ref], det.config)
    times, cpu, liver_times = [], [], []
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        result = det.detect(study.phases, ref)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        t = time.perf_counter()
        segmenter.segment(study.phases, ref)  # what `liverview detect` adds for its liver filter
        liver_times.append(time.perf_counter() - t)
    best = min(times)
    liver = min(liver_times)
    peak = peak_rss_mib()
    print(f"model {det.name}, {args.threads} threads, working grid {grid.shape} (z, y, x)")
    print(f"detect: {best:.1f} s per study (runs: {', '.join(f'{x:.1f}' for x in times)}), "
          f"{args.slices / best:.2f} reference slices/s, {grid.shape[0] / best:.2f} working slices/s, "
          f"{len(result.proposals)} proposals")
    print(f"process CPU time {min(cpu):.1f} s (all threads; wall >> CPU / threads means other jobs shared the cores; "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"peak RSS {peak:.0f} MiB (volumes loaded: {base:.0f} MiB; detection added {peak - base:.0f} MiB)")
    total = best + liver
    print(f"liver mask ({segmenter.name}): {liver:.1f} s; detect + liver mask: {total:.1f} s")
    print(f"target 100 slices < 60 s with the liver mask: {'met' if total * 100 / args.slices < 60 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
