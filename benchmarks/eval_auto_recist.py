"""How close the RECIST proposed from the image (liverview.review.auto_recist) gets to the truth.

1. Synthetic phantoms (liverview.synth.ct_phantom, seeds 0-3, 6 lesions each, 40x192x192 at
   0.9x0.9x2.5 mm): ground-truth box and key slice given, RECIST proposed from the non-contrast
   reference phase alone, and from the best of the four phases moved onto the reference by their
   true shift (an ideal registration). Compared with the phantom's true RECIST lengths.
2. Real CT: 3D-IRCADb-01 patient 17 (../shared/data/ircadb-liver17), both tumours, slice 96, box =
   the tumour's 3D bounding box from its mask; RECIST from the CT alone vs the mask's RECIST.
Run: .venv/bin/python benchmarks/eval_auto_recist.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liverview.core.study import PhaseKind  # noqa: E402
from liverview.measure.recist import recist_from_mask  # noqa: E402
from liverview.review.auto_recist import auto_recist, auto_recist_best  # noqa: E402
from liverview.synth.ct_phantom import PHASES, generate_ct_study  # noqa: E402

IRCAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "ircadb-liver17"


def phantom_errors() -> None:
    rows = []
    times = []
    for seed in range(4):
        ph = generate_ct_study(seed, n_lesions=6, shape=(40, 192, 192), spacing_mm=(0.9, 0.9, 2.5))
        ref = ph.phases[PhaseKind.NON_CONTRAST]
        aligned = [ref.with_array(ph.aligned_array(k)) for k in PHASES]
        for les in ph.lesions:
            x0, y0, z0, x1, y1, z1 = les.box_ijk
            box = ((x0, y0, z0), (x1, y1, z1))
            t0 = time.perf_counter()
            nc = auto_recist(ref, box, les.key_slice)
            times.append(time.perf_counter() - t0)
            _, best = auto_recist_best(aligned, box, les.key_slice)
            flat = auto_recist(ref.with_array(np.zeros_like(ref.array)), box, les.key_slice)  # box ellipse only
            # a loose box, as a detector gives: 25 % of the lesion's size added on every side in x and y
            gx, gy = round(0.25 * (x1 - x0 + 1)), round(0.25 * (y1 - y0 + 1))
            loose = ((x0 - gx, y0 - gy, z0), (x1 + gx, y1 + gy, z1))
            lnc = auto_recist(ref, loose, les.key_slice)
            lflat = auto_recist(ref.with_array(np.zeros_like(ref.array)), loose, les.key_slice)
            _, lbest = auto_recist_best(aligned, loose, les.key_slice)
            rows.append((les.long_axis_length_mm, les.short_axis_length_mm,
                         nc.measurement.long_axis_mm, nc.measurement.short_axis_mm, nc.method == "segmented",
                         best.measurement.long_axis_mm, best.measurement.short_axis_mm,
                         flat.measurement.long_axis_mm, flat.measurement.short_axis_mm,
                         lnc.measurement.long_axis_mm, lnc.measurement.short_axis_mm,
                         lflat.measurement.long_axis_mm, lflat.measurement.short_axis_mm,
                         lbest.measurement.long_axis_mm, lbest.measurement.short_axis_mm))
    a = np.array(rows, float)
    print(f"SYNTHETIC PHANTOM: {len(a)} lesions (4 seeds), true long axis {a[:, 0].min():.1f}-{a[:, 0].max():.1f} mm")
    for name, lc, sc in (("non-contrast only", 2, 3), ("best phase, ideal registration", 5, 6),
                         ("baseline: ellipse in the box", 7, 8),
                         ("LOOSE box (+25 %), non-contrast", 9, 10), ("LOOSE box, baseline ellipse", 11, 12),
                         ("LOOSE box, best phase", 13, 14)):
        el, es = np.abs(a[:, lc] - a[:, 0]), np.abs(a[:, sc] - a[:, 1])
        rel = el / a[:, 0]
        print(f"  {name:31s} long: median |err| {np.median(el):.2f} mm, mean {el.mean():.2f} mm, "
              f"median rel {np.median(rel) * 100:.1f} %, within 10 %: {(rel <= 0.10).mean() * 100:.0f} %; "
              f"short: median |err| {np.median(es):.2f} mm")
    print(f"  segmented (not box ellipse) on the non-contrast phase: {a[:, 4].mean() * 100:.0f} %; "
          f"time per lesion median {np.median(times) * 1e3:.1f} ms")


def ircad() -> None:
    if not IRCAD.is_dir():
        print("IRCAD data not found beside the repository; skipped")
        return
    from liverview.io.volumes import read_volume

    ct = read_volume(IRCAD / "ct.nii.gz")
    instances = read_volume(IRCAD / "tumor_instances.nii.gz").array
    print("REAL CT, 3D-IRCADb-01 patient 17, slice 96 (box = tumour's 3D bounding box):")
    for label in (1, 2):
        tumour = instances == label
        truth = recist_from_mask(tumour[96], ct, 96)
        ks, js, iis = (np.flatnonzero(tumour.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
        box = ((iis[0], js[0], ks[0]), (iis[-1], js[-1], ks[-1]))
        r = auto_recist(ct, box, 96)
        flat = auto_recist(ct.with_array(np.zeros_like(ct.array)), box, 96).measurement
        dice = 2 * (r.mask & tumour[96]).sum() / (r.mask.sum() + tumour[96].sum())
        m = r.measurement
        print(f"  tumour {label}: mask RECIST {truth.long_axis_mm:.2f} / {truth.short_axis_mm:.2f} mm, "
              f"from the image {m.long_axis_mm:.2f} / {m.short_axis_mm:.2f} mm ({r.method}), "
              f"Dice of the region {dice:.3f}; baseline ellipse in the box {flat.long_axis_mm:.2f} / "
              f"{flat.short_axis_mm:.2f} mm")


if __name__ == "__main__":
    phantom_errors()
    ircad()
