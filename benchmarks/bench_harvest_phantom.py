"""End-to-end harvest round on SYNTHETIC phantoms whose marks were made incomplete on purpose.

Set-up (all synthetic 4-phase liver CT phantoms, `liverview.synth.ct_phantom`):
- V_M: fully annotated training volumes (every lesion marked; a simulated reviewer decides on their proposals);
- V_H: training volumes where a seeded random half of the lesions is marked, the rest left unmarked;
  V_H^test, a subset of V_H, is scored against its hidden full labels (never used by the round);
- V_D^test: unseen fully labelled volumes to compare the detector before and after fine-tuning.
Round: detector R0 trained on the marks -> proposals -> LPC trained on P_M^R + P_H^R vs P_M^- ->
s = s_g * s_c -> threshold for precision >= 95 % on V_M -> harvested positives + hard negatives ->
detector R1 fine-tuned from R0 with HNSL. Prints the numbers and writes OUT/round_1/report.{json,md}
and pr_curve.png.

    .venv/bin/python benchmarks/bench_harvest_phantom.py --out runs/harvest_phantom
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liverview.core.study import PhaseKind  # noqa: E402
from liverview.harvest.evaluation import round_quality  # noqa: E402
from liverview.harvest.report import PrCurve, draw_pr_curves, write_report  # noqa: E402
from liverview.harvest.rounds import harvest, split_proposals  # noqa: E402
from liverview.harvest.steps import (HarvestStudy, classify_all, crossfit_classifier_scores,  # noqa: E402
                                     detector_training_cases, harvest_volumes, run_detector, simulated_decisions,
                                     train_classifier)
from liverview.metrics.detection import evaluate_detections, format_report  # noqa: E402
from liverview.metrics.ground_truth import read_phantom_ground_truth  # noqa: E402
from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def make_studies(root: Path, seeds: list[int], n_lesions: int, role: str, rng: np.random.Generator,
                 shape, spacing) -> list[HarvestStudy]:
    studies = []
    for seed in seeds:
        folder = root / f"phantom-{seed}"
        study = generate_ct_study(seed, n_lesions=n_lesions, shape=shape, spacing_mm=spacing)
        if not (folder / "study.json").is_file():
            write_phantom_study(study, folder)
        truth = read_phantom_ground_truth(folder)
        # a mark is what a reader leaves: the RECIST box on the key slice and the class, no 3D extent
        recist = [dataclasses.replace(g, box_3d=None) for g in truth]
        if role == "harvest":  # a random half of the lesions keeps its mark
            keep = np.sort(rng.choice(len(truth), len(truth) // 2, replace=False))
            marks = [recist[i] for i in keep]
        else:
            marks = recist
        studies.append(HarvestStudy(folder.name, dict(study.phases), PhaseKind.NON_CONTRAST, marks,
                                    fully_annotated=role == "reviewed", truth=truth))
    return studies


def pr_points(report) -> tuple[list[float], list[float]]:
    c = report.curve
    return [0.0, *c.recall.tolist()], [1.0, *c.precision.tolist()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/harvest_phantom"))
    ap.add_argument("--reviewed", type=int, default=4, help="fully annotated training volumes (V_M)")
    ap.add_argument("--harvest", type=int, default=8, help="incompletely marked training volumes (V_H)")
    ap.add_argument("--harvest-test", type=int, default=4, help="of V_H, how many are scored (V_H^test)")
    ap.add_argument("--test", type=int, default=4, help="unseen fully labelled volumes (V_D^test)")
    ap.add_argument("--lesions", type=int, default=8)
    ap.add_argument("--det-steps", type=int, default=1200)
    ap.add_argument("--ft-steps", type=int, default=400)
    ap.add_argument("--lpc-epochs", type=int, default=30)
    ap.add_argument("--det-crop", type=int, default=64, help="detector training crop in working pixels")
    ap.add_argument("--lpc-folds", type=int, default=2,
                    help="cross-fit the classifier over the V_M volumes (1 = one classifier, threshold set on "
                         "the V_M proposals it was trained on)")
    ap.add_argument("--r0-init", type=Path, default=None,
                    help="start R0 from these weights (themselves trained on the same original marks only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true", help="32x128x128 volumes of 1.6x1.6x5 mm (default 64x256x256 "
                                                         "of 0.8x0.8x2.5 mm, the same field of view)")
    ap.add_argument("--lpc-pad-px", type=float, default=16.0, help="LPC crop margin in reference pixels")
    ap.add_argument("--control", action="store_true",
                    help="also fine-tune R0 as long on the original marks only (no harvest) for comparison")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from liverview.plugin_registry import discover_plugins
    from liverview_plugins.mscn_detector.config import DetectorConfig
    from liverview_plugins.mscn_detector.inference import load_detector
    from liverview_plugins.mscn_detector.training import train_detector

    t_start = time.perf_counter()
    shape, spacing = ((32, 128, 128), (1.6, 1.6, 5.0)) if args.small else ((64, 256, 256), (0.8, 0.8, 2.5))
    rng = np.random.default_rng(args.seed)
    out = args.out
    data = out / "data"
    base = 5000 + 100 * args.seed
    reviewed = make_studies(data, [base + i for i in range(args.reviewed)], args.lesions, "reviewed", rng, shape, spacing)
    harvested = make_studies(data, [base + 20 + i for i in range(args.harvest)], args.lesions, "harvest", rng, shape,
                             spacing)
    test = make_studies(data, [base + 40 + i for i in range(args.test)], args.lesions, "test", rng, shape, spacing)
    train = reviewed + harvested
    h_test = harvested[:args.harvest_test]
    n_marks = sum(len(s.marks) for s in harvested)
    n_truth = sum(len(s.truth) for s in harvested)
    log(f"phantoms ready: V_M {len(reviewed)}, V_H {len(harvested)} ({n_marks} of {n_truth} lesions marked), "
        f"V_D^test {len(test)}")

    det_cfg = DetectorConfig(stage_channels=(8, 16, 32, 48), pyramid_channels=32, head_channels=32,
                             attention_channels=16, n_slices=3, crop_px=args.det_crop, batch_size=8, seed=args.seed,
                             slice_mm=spacing[2], pixel_mm=max(1.6, spacing[0]),
                             epochs=-(-args.det_steps // 100), steps_per_epoch=min(100, args.det_steps))
    # R0: the detector trained on the original (incomplete) marks
    r0_cases = detector_training_cases(train, {}, {})
    t = time.perf_counter()
    r0_weights = train_detector(r0_cases, det_cfg, out / "detector_r0", init_weights=args.r0_init,
                                device=args.device, log=log)
    t_r0 = time.perf_counter() - t
    detector = load_detector(r0_weights, device=args.device)
    t = time.perf_counter()
    proposals = run_detector(detector, train + test, log=None)
    t_detect = time.perf_counter() - t
    log(f"R0 trained in {t_r0:.0f} s; detection on {len(train + test)} volumes in {t_detect:.0f} s")
    for s in reviewed:  # the reviewer decides on every proposal of V_M
        s.decisions = simulated_decisions(proposals[s.volume], s.truth)
    volumes = harvest_volumes(train, proposals)
    sets = split_proposals(volumes)
    t = time.perf_counter()
    lpc_options = {"epochs": args.lpc_epochs, "seed": args.seed, "pad_px": args.lpc_pad_px}
    lpc_plugin = discover_plugins().resolve("proposal-classifier", "lesion_proposal_classifier")
    if args.lpc_folds > 1:  # cross-fitted: the threshold is set on V_M scores the classifier did not fit
        s_c, fold_counts = crossfit_classifier_scores(train, proposals, sets, out / "lpc_r1", lpc_plugin, lpc_options,
                                                      args.lpc_folds, args.device)
        n_pos, n_neg = len(sets.reviewed_positive) + len(sets.mark_hits), len(sets.reviewed_negative)
    else:
        lpc, (n_pos, n_neg) = train_classifier(train, proposals, sets, out / "lpc_r1", lpc_plugin, lpc_options,
                                               args.device)
        s_c, fold_counts = classify_all(lpc, train, proposals), None
    t_lpc = time.perf_counter() - t
    result = harvest(volumes, s_c, sets)
    log(f"LPC trained on {n_pos} lesion / {n_neg} non-lesion proposals in {t_lpc:.0f} s; threshold "
        f"{result.threshold.threshold}; harvested {result.n_harvested}; hard negatives {result.n_hard_negatives}")

    # harvest quality on V_H^test (hidden full labels) and on all of V_H
    def quality(studies, by):
        return round_quality(result, {s.volume: s.marks for s in studies}, {s.volume: s.truth for s in studies}, by)

    q_test, q_test_sg = quality(h_test, "s"), quality(h_test, "s_g")
    q_all = quality(harvested, "s")
    # R1: fine-tune from R0 with harvested positives and hard negatives (HNSL)
    ft_cfg = det_cfg.replace(epochs=-(-args.ft_steps // 100), steps_per_epoch=min(100, args.ft_steps),
                             learning_rate=det_cfg.learning_rate / 2)
    r1_cases = detector_training_cases(train, result.harvested, result.hard_negatives)
    t = time.perf_counter()
    r1_weights = train_detector(r1_cases, ft_cfg, out / "detector_r1", init_weights=r0_weights, device=args.device,
                                log=log)
    t_r1 = time.perf_counter() - t
    r1_props = run_detector(load_detector(r1_weights, device=args.device), test)
    gt_test = {s.volume: s.truth for s in test}
    det_r0 = evaluate_detections({s.volume: proposals[s.volume] for s in test}, gt_test, "p3d")
    det_r1 = evaluate_detections(r1_props, gt_test, "p3d")
    det_ctl = None
    if args.control:  # R0 fine-tuned as long on the original marks only (no harvest, no hard negatives)
        ctl_weights = train_detector(detector_training_cases(train, {}, {}), ft_cfg, out / "detector_r1_control",
                                     init_weights=r0_weights, device=args.device, log=None)
        det_ctl = evaluate_detections(run_detector(load_detector(ctl_weights, device=args.device), test), gt_test,
                                      "p3d")

    round_dir = out / "round_1"
    curves = [PrCurve("marks + s = s_g*s_c", *pr_points(q_test.curve),
                      (q_test.harvested_recall, q_test.harvested_precision)),
              PrCurve("marks + s_g (no classifier)", *pr_points(q_test_sg.curve)),
              PrCurve("original marks", [0.0, q_test.marks_recall], [1.0, 1.0])]
    draw_pr_curves(curves, "SYNTHETIC phantoms, V_H^test: harvested lesions vs hidden full labels",
                   round_dir / "pr_curve.png")
    thr = result.threshold
    numbers = {
        "data": "SYNTHETIC 4-phase liver CT phantoms (liverview.synth.ct_phantom), not patient data",
        "volumes": {"V_M": len(reviewed), "V_H": len(harvested), "V_H_test": len(h_test), "V_D_test": len(test),
                    "lesions_per_volume": args.lesions, "shape_zyx": list(shape), "spacing_mm": list(spacing)},
        "marks": {"V_H_marked": n_marks, "V_H_lesions": n_truth},
        "sets": {"P_M_R": len(sets.reviewed_positive), "P_M_neg": len(sets.reviewed_negative),
                 "P_H_R": len(sets.mark_hits), "mark_duplicates": len(sets.mark_duplicates),
                 "candidates": len(sets.unknown)},
        "threshold": {"value": thr.threshold, "min_precision": thr.min_precision, "precision_on_V_M": thr.precision,
                      "recall_on_V_M": thr.recall},
        "harvested": result.n_harvested, "hard_negatives": result.n_hard_negatives,
        "V_H_test": {"marks_recall": q_test.marks_recall, "recall_at_90_precision": q_test.recall_at_precision(0.9),
                     "recall_at_90_precision_s_g_only": q_test_sg.recall_at_precision(0.9),
                     "harvest_recall": q_test.harvested_recall, "harvest_precision": q_test.harvested_precision,
                     "lesions": q_test.n_lesions, "harvested": q_test.n_harvested},
        "V_H_all": {"marks_recall": q_all.marks_recall, "recall_at_90_precision": q_all.recall_at_precision(0.9),
                    "harvest_recall": q_all.harvested_recall, "harvest_precision": q_all.harvested_precision},
        "detector_V_D_test_p3d": {"R0": det_r0.to_json(), "R1_harvest_HNSL": det_r1.to_json(),
                                  "R1_control_marks_only": det_ctl.to_json() if det_ctl else None},
        "times_s": {"R0_train": t_r0, "detect_all": t_detect, "lpc_train": t_lpc, "R1_finetune": t_r1,
                    "total": time.perf_counter() - t_start},
        "lpc_folds": args.lpc_folds, "lpc_fold_train_counts": fold_counts,
        "r0_init": str(args.r0_init) if args.r0_init else None,
        "config": {"detector": det_cfg.to_dict(), "finetune_steps": args.ft_steps, "lpc": lpc_options,
                   "seed": args.seed, "device": args.device, "threads": args.threads},
    }
    md = f"""# Harvest round 1 — SYNTHETIC phantoms (not patient data)

Volumes: V_M {len(reviewed)} fully annotated, V_H {len(harvested)} with {n_marks}/{n_truth} lesions marked
(half unmarked on purpose), V_H^test = {len(h_test)} of V_H scored against hidden labels, V_D^test {len(test)} unseen.

| | value |
|---|---|
| classifier training: P_M^R / P_H^R lesions, P_M^- non-lesions | {len(sets.reviewed_positive)} / {len(sets.mark_hits)}, {len(sets.reviewed_negative)} |
| threshold on s = s_g*s_c (precision >= 95 % on V_M) | {thr.threshold} (V_M precision {thr.precision:.3f}, recall {thr.recall:.3f}) |
| harvested positives / hard negatives | {result.n_harvested} / {result.n_hard_negatives} |
| V_H^test original marks' recall | {100 * q_test.marks_recall:.1f} % |
| V_H^test recall at 90 % precision, marks + s | **{100 * q_test.recall_at_precision(0.9):.1f} %** |
| V_H^test recall at 90 % precision, marks + s_g only | {100 * q_test_sg.recall_at_precision(0.9):.1f} % |
| V_H^test harvested set: recall / precision | {100 * q_test.harvested_recall:.1f} % / {100 * q_test.harvested_precision:.1f} % |
| V_H (all) marks' recall -> harvested recall / precision | {100 * q_all.marks_recall:.1f} % -> {100 * q_all.harvested_recall:.1f} % / {100 * q_all.harvested_precision:.1f} % |

Detector on V_D^test (P3D IoU >= 0.5):

R0 (original marks):
```
{format_report(det_r0)}
```
R1 (fine-tuned with harvested positives + hard negatives, HNSL):
```
{format_report(det_r1)}
```
""" + ("" if det_ctl is None else f"""Control (R0 fine-tuned as long on the original marks only):
```
{format_report(det_ctl)}
```
""")
    write_report(round_dir, numbers, md)
    print(md)
    log(f"report in {round_dir}; total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
