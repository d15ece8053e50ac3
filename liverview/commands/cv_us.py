"""`liverview cv-us --liver DIR --out DIR`: cross-validate an ultrasound click model over liver images.

Each fold's model is trained on the other folds' liver images plus every --train-extra set (BUSI's train
part, synthetic phantoms), then scored on its held-out images beside the box baselines; the report gives
each fold, the mean and spread over folds, and the pooled out-of-fold benign/malignant AUROC with its
calibration (ECE before and after Platt scaling fitted on the other folds only), and the same for the
class head combined with measured lesion features (liverview.us.malignancy), cross-fitted alike, beside
lesion size alone as a baseline."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from liverview.cli import CliError
from liverview.commands.model_choice import add_model_option, create, create_trainer, parse_options, resolve
from liverview.commands.reader_box import (add_reader_box_options, apply_box_fit, box_fit_record, box_fit_words,
                                          reader_box)
from liverview.terminal_progress import ProgressLine, add_quiet_option, progress_keyword


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cv-us", help="cross-validate the ultrasound click model over liver images (folds by image)",
        description=__doc__.split("\n\n", 1)[1])  # descriptions are not %-formatted
    parser.add_argument("--liver", type=Path, required=True, help="liver image set (AUL-style manifest.csv)")
    parser.add_argument("--train-extra", action="append", default=[], metavar="DIR[:SPLIT]",
                        help="a set added to every fold's training (e.g. BUSI:train, a synth-us folder); repeatable")
    parser.add_argument("--folds", type=int, default=4, help="number of folds, split by image (default 4)")
    parser.add_argument("--out", type=Path, required=True, help="folder for fold models and the report")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the report (cv_report.json's content) here, as eval-us --json does")
    add_model_option(parser, "click-segmenter")
    parser.add_argument("--init", type=Path, default=None, help="start every fold from these weights (fine-tuning)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="options",
                        help="a training option of the model (JSON value, e.g. --set steps=800); repeatable")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold split and of training")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: a GPU if there is one)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    parser.add_argument("--resume", action="store_true",
                        help="continue each fold's training from its checkpoint in OUT (a finished fold is only "
                             "scored again, e.g. with other --box-margin); give the same --set and --init")
    add_reader_box_options(parser)
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from liverview.metrics.calibration import draw_reliability_diagram, reliability_bins
    from liverview.metrics.click_segmentation import evaluate_lesions
    from liverview.us.folds import stratified_folds
    from liverview.us.lesion_dataset import UsDatasetError, load_lesions, load_records, load_sets

    torch.set_num_threads(max(1, args.threads))
    reader = reader_box(args)
    contribution = resolve("click-segmenter", args.model, "US")
    trainer = create_trainer(contribution)
    try:
        liver = load_lesions(load_records(args.liver))
        extra, _ = load_sets(args.train_extra)
        folds = stratified_folds([lz.record.label for lz in liver], args.folds, args.seed)
    except (UsDatasetError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    options = {"seed": args.seed, "num_threads": args.threads, **parse_options(args.options)}
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"cv-us: {len(liver)} liver images in {args.folds} folds; {len(extra)} extra training lesions", flush=True)
    rows, fold_summaries = [], []
    with ProgressLine("cv-us", quiet=args.quiet) as progress:  # ended even when a fold fails
        log = progress.printer()
        for k, held in enumerate(folds):
            # each fold an equal share of the line: training 80 % of it, the two evaluations the rest
            share = [k / len(folds) + f / len(folds) for f in (0.0, 0.8, 0.95, 1.0)]
            start = time.perf_counter()
            train_set = extra + [lz for i, lz in enumerate(liver) if i not in held]
            test_set = [liver[i] for i in held]
            fold_dir = args.out / f"fold{k}"
            kwargs = dict(init_weights=args.init, device=args.device, log=lambda m: log(f"  {m}"),
                          **progress_keyword(trainer.train, progress.span(share[0], share[1], f"fold {k}: training")))
            fold_options = {**options, "name": f"{contribution.name}-cv{k}",
                            "meta": {"cv_fold": k, "held_out": [lz.record.key for lz in test_set]}}
            try:
                weights = trainer.train(train_set, fold_dir, fold_options, resume=args.resume, **kwargs)
            except FileNotFoundError as exc:  # --resume and this fold never started: train it from the start
                if not args.resume:
                    raise
                log(f"  fold {k}: nothing to resume ({exc}); training it")
                weights = trainer.train(train_set, fold_dir, fold_options, **kwargs)
            segmenter = create(contribution, args.device, weights)
            fit = box_fit_record(segmenter, apply_box_fit(segmenter, args))
            two, two_rows = evaluate_lesions(segmenter, test_set, "two-click", grabcut=True, noc=True,
                                             progress=progress.span(share[1], share[2], f"fold {k}: two-click"),
                                             reader=reader)
            one, one_rows = evaluate_lesions(segmenter, test_set, "one-click",
                                             progress=progress.span(share[2], share[3], f"fold {k}: one-click"))
            for r2, r1 in zip(two_rows, one_rows):
                rows.append({"fold": k, **asdict(r2), "one_click_jaccard": r1.jaccard})
            fold_summaries.append({"fold": k, "n": two.n, "two_click": two.jaccard_mean, "one_click": one.jaccard_mean,
                                   "ellipse": two.ellipse_jaccard_mean,
                                   "margin_ellipse": two.margin_ellipse_jaccard_mean, "box": two.box_jaccard_mean,
                                   "grabcut": two.grabcut_jaccard_mean, "noc85": two.noc85_mean,
                                   "noc90": two.noc90_mean, "box_noc85": two.box_noc85_mean,
                                   "box_noc90": two.box_noc90_mean, "ellipse_box_noc85": two.ellipse_box_noc85_mean,
                                   "ellipse_box_noc90": two.ellipse_box_noc90_mean, "minutes": (time.perf_counter() - start) / 60})
            f = fold_summaries[-1]
            log(f"fold {k}: two-click {f['two_click']:.3f} (ellipse {f['ellipse']:.3f}, box {f['box']:.3f}, GrabCut "
                f"{f['grabcut']:.3f}), one-click {f['one_click']:.3f}, NoC@85 {f['noc85']:.2f}, NoC@90 {f['noc90']:.2f}; "
                f"after the box NoC@85 {f['box_noc85']:.2f}, NoC@90 {f['box_noc90']:.2f}")
    report = summarise_cv(rows, fold_summaries, args, contribution.name)
    report["reader_box"] = {**asdict(reader), **fit}
    malignant = np.array([r["label"] == "malignant" for r in rows])
    p_raw = np.array([r["malignant_prob"] for r in rows])
    p_cal = np.array([r["malignant_prob_platt"] for r in rows])
    p_feat = np.array([r["malignant_prob_features"] for r in rows])
    p_size = np.array([r["malignant_prob_size"] for r in rows])
    draw_reliability_diagram(reliability_bins(p_raw, malignant), f"p(malignant) out-of-fold, raw (n={len(rows)})",
                             args.out / "reliability_raw.png")
    draw_reliability_diagram(reliability_bins(p_cal, malignant), f"out-of-fold, Platt (n={len(rows)})",
                             args.out / "reliability_platt.png")
    draw_reliability_diagram(reliability_bins(p_feat, malignant),
                             f"out-of-fold, head + lesion features (n={len(rows)})", args.out / "reliability_features.png")
    draw_reliability_diagram(reliability_bins(p_size, malignant), f"out-of-fold, lesion size alone (n={len(rows)})",
                             args.out / "reliability_size.png")
    report_json = json.dumps({"report": report, "folds": fold_summaries, "lesions": rows}, indent=1)
    (args.out / "cv_report.json").write_text(report_json)
    if args.json is not None:  # every eval command takes --json: one place for machine-readable results
        args.json.write_text(report_json)
    (args.out / "cv_report.md").write_text(report_markdown(report, fold_summaries))
    print(report_markdown(report, fold_summaries))
    return 0


def summarise_cv(rows: list[dict], folds: list[dict], args, model: str) -> dict:
    """Means and spread over folds; pooled out-of-fold classification with cross-fitted Platt scaling."""
    from liverview.metrics.calibration import PlattScaling, expected_calibration_error
    from liverview.metrics.classification import auroc_interval, binary_auroc
    from liverview.us.malignancy import SIZE_FEATURES, MalignancyModel

    def spread(key: str) -> dict:
        v = np.array([f[key] for f in folds], float)
        return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                "min": float(v.min()), "max": float(v.max())}

    y = np.array([r["label"] == "malignant" for r in rows])
    p = np.array([r["malignant_prob"] for r in rows])
    for r in rows:  # Platt fitted on the other folds' out-of-fold scores only
        others = [o for o in rows if o["fold"] != r["fold"]]
        oy = [o["label"] == "malignant" for o in others]
        try:
            platt = PlattScaling.fit([o["malignant_prob"] for o in others], oy)
        except ValueError:
            platt = PlattScaling()
        r["malignant_prob_platt"] = float(platt(r["malignant_prob"]))
    p_cal = np.array([r["malignant_prob_platt"] for r in rows])
    for r in rows:  # the head + measured features, fitted on the other folds only, like Platt above
        others = [o for o in rows if o["fold"] != r["fold"] and o.get("features")]
        try:
            fitted = MalignancyModel.fit([o["features"] for o in others], [o["label"] == "malignant" for o in others])
            r["malignant_prob_features"] = fitted.probability(r["features"]) if r.get("features") else r["malignant_prob_platt"]
        except ValueError:
            r["malignant_prob_features"] = r["malignant_prob_platt"]
    p_feat = np.array([r["malignant_prob_features"] for r in rows])
    for r in rows:  # lesion size alone as a fitted probability, cross-fitted the same way (the trivial model)
        others = [o for o in rows if o["fold"] != r["fold"] and o.get("features")]
        oy = [o["label"] == "malignant" for o in others]
        # a lesion without a mask, or folds with one class only: the other folds' share of malignant lesions
        r["malignant_prob_prevalence"] = float(np.mean(oy)) if oy else 0.5
        try:
            fitted = MalignancyModel.fit([o["features"] for o in others], oy, SIZE_FEATURES)
            r["malignant_prob_size"] = (fitted.probability(r["features"]) if r.get("features")
                                        else r["malignant_prob_prevalence"])
        except ValueError:
            r["malignant_prob_size"] = r["malignant_prob_prevalence"]
    p_size = np.array([r["malignant_prob_size"] for r in rows])
    p_prev = np.array([r["malignant_prob_prevalence"] for r in rows])
    # the trivial baseline: the bigger the lesion (share of the scanned area), the likelier malignant
    size = np.array([r["features"]["log_relative_area"] if r.get("features") else np.nan for r in rows])
    if np.isfinite(size).any():  # an empty predicted mask counts as smaller than every lesion found
        size = np.where(np.isfinite(size), size, np.nanmin(size) - 1.0)
    out = {"model": model, "liver": str(args.liver), "train_extra": args.train_extra, "folds": args.folds,
           "seed": args.seed, "n_images": len(rows)}
    for key in ("two_click", "one_click", "ellipse", "margin_ellipse", "box", "grabcut", "noc85", "noc90", "box_noc85",
                "box_noc90", "ellipse_box_noc85", "ellipse_box_noc90"):
        out[key] = spread(key)
    out["two_click_minus_ellipse"] = out["two_click"]["mean"] - out["ellipse"]["mean"]
    pooled = {"two_click_jaccard": float(np.mean([r["jaccard"] for r in rows])),
              "ellipse_jaccard": float(np.mean([r["ellipse_jaccard"] for r in rows]))}
    try:
        pooled["bm_auroc"] = binary_auroc(y, p)
        pooled["bm_auroc_ci95"] = list(auroc_interval(y, p))
    except ValueError:
        pooled["bm_auroc"] = None
    for key, score in (("bm_auroc_features_crossfitted", p_feat), ("bm_auroc_size_only", size),
                       ("bm_auroc_size_crossfitted", p_size)):
        try:
            pooled[key] = binary_auroc(y, score)
        except ValueError:
            pooled[key] = None
    pooled["bm_ece_raw"] = expected_calibration_error(p, y)
    pooled["bm_ece_features_crossfitted"] = expected_calibration_error(p_feat, y)
    # a proper score of both held-out probabilities (discrimination and calibration at once): train-us
    # --calibration ships the feature model only where it beats Platt scaling of the head on this
    pooled["bm_log_loss_platt_crossfitted"] = log_loss(p_cal, y)
    pooled["bm_log_loss_features_crossfitted"] = log_loss(p_feat, y)
    pooled["bm_log_loss_size_crossfitted"] = log_loss(p_size, y)
    pooled["bm_ece_size_crossfitted"] = expected_calibration_error(p_size, y)
    # the floor any score must beat: every lesion given the other folds' share of malignant lesions
    pooled["bm_log_loss_prevalence_crossfitted"] = log_loss(p_prev, y)
    pooled["bm_ece_platt_crossfitted"] = expected_calibration_error(p_cal, y)
    try:  # on every out-of-fold score: what a model trained on all images ships with (train-us --calibration)
        platt_all = PlattScaling.fit(p, y)
        pooled["platt_all_folds"] = {"a": platt_all.a, "b": platt_all.b}
    except ValueError:
        pooled["platt_all_folds"] = None
    try:  # the same for the feature model (train-us --calibration prefers it)
        with_features = [r for r in rows if r.get("features")]
        pooled["malignancy_model_all_folds"] = MalignancyModel.fit(
            [r["features"] for r in with_features], [r["label"] == "malignant" for r in with_features]).to_dict()
    except ValueError:
        pooled["malignancy_model_all_folds"] = None
    try:
        pooled["malignancy_size_model_all_folds"] = MalignancyModel.fit(
            [r["features"] for r in with_features], [r["label"] == "malignant" for r in with_features],
            SIZE_FEATURES).to_dict()
    except ValueError:
        pooled["malignancy_size_model_all_folds"] = None
    out["pooled_out_of_fold"] = pooled
    return out


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of binary labels ``y`` under probabilities ``p`` (clipped at 1e-6)."""
    q = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    y = np.asarray(y, float)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def _reader_line(reader: dict | None) -> list[str]:
    if not reader:
        return []
    lo, hi = reader["enlarge"]
    fit = f"; {box_fit_words(reader)}" if "box_fit" in reader else ""
    return [f"Two-click test boxes: each side out by {lo:.2f}-{hi:.2f} x the lesion's size, positional error sd "
            f"{reader['jitter']:.2f}{fit}."]


def report_markdown(r: dict, folds: list[dict]) -> str:
    def ms(d: dict) -> str:
        return f"{d['mean']:.3f} ± {d['sd']:.3f}"

    lines = [f"# Cross-validation of {r['model']} over {r['n_images']} liver images ({r['folds']} folds by image)", "",
             f"Liver set: {r['liver']}; added to every fold's training: {', '.join(r['train_extra']) or 'nothing'}.",
             *_reader_line(r.get("reader_box")), "",
             "| fold | n | two-click J | ellipse in box | ellipse less mean margin | filled box | GrabCut | one-click J "
             "| NoC@85 | NoC@90 | after a box: NoC@85 | NoC@90 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in folds:
        lines.append(f"| {f['fold']} | {f['n']} | {f['two_click']:.3f} | {f['ellipse']:.3f} | "
                     f"{f['margin_ellipse']:.3f} | {f['box']:.3f} | "
                     f"{f['grabcut']:.3f} | {f['one_click']:.3f} | {f['noc85']:.2f} | {f['noc90']:.2f} | "
                     f"{f['box_noc85']:.2f} | {f['box_noc90']:.2f} |")
    lines.append(f"| mean ± sd | | {ms(r['two_click'])} | {ms(r['ellipse'])} | {ms(r['margin_ellipse'])} | "
                 f"{ms(r['box'])} | {ms(r['grabcut'])} | "
                 f"{ms(r['one_click'])} | {ms(r['noc85'])} | {ms(r['noc90'])} | {ms(r['box_noc85'])} | "
                 f"{ms(r['box_noc90'])} |")
    p = r["pooled_out_of_fold"]
    def fmt(v) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    auroc = fmt(p["bm_auroc"])
    if p.get("bm_auroc_ci95"):
        auroc += " (95 % bootstrap CI {:.2f}-{:.2f})".format(*p["bm_auroc_ci95"])
    lines += ["", "NoC: clicks to IoU 0.85 / 0.90 (cap 20), the next click at the largest error region; from no click "
              "(RITM's protocol) and after the two-click box (the box counted as 2 clicks; the workspace's flow).",
              f"Baseline of the flow after a box: the ellipse inscribed in the same box, then the same corrections "
              f"(no model): NoC@85 {ms(r['ellipse_box_noc85'])}, NoC@90 {ms(r['ellipse_box_noc90'])}.",
              f"Two-click Jaccard minus the inscribed ellipse (fold means): {r['two_click_minus_ellipse']:+.3f}.",
              f"Benign vs malignant, pooled out-of-fold: AUROC {auroc}; ECE {p['bm_ece_raw']:.3f} raw, "
              f"{p['bm_ece_platt_crossfitted']:.3f} after Platt scaling fitted on the other folds.",
              f"Class head + lesion features (cross-fitted on the other folds): AUROC "
              f"{fmt(p.get('bm_auroc_features_crossfitted'))}, ECE {fmt(p.get('bm_ece_features_crossfitted'))}, "
              f"log loss {fmt(p.get('bm_log_loss_features_crossfitted'))} (Platt: "
              f"{fmt(p.get('bm_log_loss_platt_crossfitted'))}); "
              f"lesion size alone: AUROC {fmt(p.get('bm_auroc_size_only'))}, fitted and cross-fitted AUROC "
              f"{fmt(p.get('bm_auroc_size_crossfitted'))}, ECE {fmt(p.get('bm_ece_size_crossfitted'))}, log loss "
              f"{fmt(p.get('bm_log_loss_size_crossfitted'))}. The lowest held-out log loss of the three is what "
              f"train-us / calibrate-us --calibration ship. Every lesion given the other folds' share of malignant "
              f"lesions: log loss {fmt(p.get('bm_log_loss_prevalence_crossfitted'))} (a score above this is worse "
              f"than no score).",
              "Reliability diagrams: reliability_raw.png, reliability_platt.png, reliability_features.png, "
              "reliability_size.png.", ""]
    return "\n".join(lines)
