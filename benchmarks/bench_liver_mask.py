"""Liver mask (plugins/liver_mask through the registry): Dice against IRCADb 17's liver label and the
phantoms' liver masks, time per study; contour overlays of the unlabelled real CTs (HCC048, LiTS 0) for a
look. Usage: python benchmarks/bench_liver_mask.py [--out DIR]"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from liverview.core.study import PhaseKind
from liverview.io.study_loader import load_study
from liverview.io.volumes import read_volume
from liverview.metrics.segmentation import dice_coefficient
from liverview.plugin_registry import discover_plugins
from liverview.synth.ct_phantom import generate_ct_study

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PV = PhaseKind.PORTAL_VENOUS


def overlay(volume, mask, path: Path) -> None:
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    tiles = []
    for k in np.linspace(zs[0], zs[-1], 5)[1:-1].astype(int):
        img = cv2.cvtColor(np.clip((volume.array[k] + 160.0) / 400 * 255, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        contours, _ = cv2.findContours(mask[k].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(img, contours, -1, (0, 255, 255), 2)
        tiles.append(cv2.resize(img, (300, 300)))
    cv2.imwrite(str(path), np.hstack(tiles))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/liver_mask"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seg = discover_plugins().resolve("liver-segmenter").create()
    print(f"liver segmenter: {seg.name}")
    ct = read_volume(DATA / "ircadb-liver17" / "ct.nii.gz")
    truth = read_volume(DATA / "ircadb-liver17" / "label_liver1_tumor2.nii.gz").array > 0
    t = time.perf_counter()
    mask = seg.segment({PV: ct}, PV).array > 0
    ml = float(np.prod(ct.spacing)) / 1000
    print(f"IRCADb 17 {ct.array.shape}: Dice {dice_coefficient(mask, truth):.3f}, {mask.sum() * ml:.0f} mL vs "
          f"{truth.sum() * ml:.0f} mL labelled, {time.perf_counter() - t:.2f} s")
    overlay(ct, mask, args.out / "ircadb17.png")
    dices = []
    for seed in range(900, 905):  # phantom seeds outside the training range of every model
        st = generate_ct_study(seed)
        study = st.to_study()
        m = seg.segment({p.kind: p.volume for p in study.phases}, study.reference.kind).array > 0
        dices.append(dice_coefficient(m, st.liver_mask.array > 0))
    print(f"phantoms 900-904: Dice mean {np.mean(dices):.3f} (min {np.min(dices):.3f})")
    for folder, name in (("hcc048-pv-dicom/dicom", "hcc048"), ("lits-volume0-dicom", "lits0")):
        v = load_study([DATA / folder]).study.reference.volume
        t = time.perf_counter()
        m = seg.segment({PV: v}, PV).array
        print(f"{name} {v.array.shape}: {m.sum() * np.prod(v.spacing) / 1000:.0f} mL in {time.perf_counter() - t:.2f} s "
              f"(no label; overlay {args.out / (name + '.png')})")
        overlay(v, m, args.out / f"{name}.png")


if __name__ == "__main__":
    main()
