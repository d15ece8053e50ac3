"""`liverview eval-us --data DIR --mode one-click|two-click`: Jaccard, 4-class and benign/malignant metrics."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.arg_types import positive_int
from liverview.commands.model_choice import add_model_option, create, resolve
from liverview.commands.reader_box import (add_reader_box_options, apply_box_fit, box_fit_record, box_fit_words,
                                          reader_box)
from liverview.terminal_progress import ProgressLine, add_quiet_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-us", help="evaluate the ultrasound click segmenter (Jaccard, accuracy, AUROC, sens/spec)",
        description="Simulate the test clicks for every lesion (one-click: the deepest lesion pixel; two-click: "
                    "the lesion's own box by default, or one drawn loosely (--box-margin, --box-jitter), seeded per "
                    "lesion; the mask is fitted to the box unless --no-box-fit) and "
                    "report the mean Jaccard index (two-click: beside the ellipse inscribed in the same box and "
                    "the filled box), 4-class accuracy and one-vs-rest AUROC, benign-vs-malignant "
                    "AUROC with sensitivity/specificity at Youden's point. --grabcut adds OpenCV GrabCut from the "
                    "same box.")
    parser.add_argument("--data", type=Path, required=True, help="synth-us folder (labels.csv) or BUSI (manifest.csv)")
    parser.add_argument("--mode", choices=("one-click", "two-click"), required=True,
                        help="which simulated clicks the model gets (see above)")
    parser.add_argument("--split", choices=("all", "train", "test"), default="all",
                        help="part of the data (BUSI: test; synthetic folders: all)")
    add_model_option(parser, "click-segmenter")
    parser.add_argument("--weights", type=Path, default=None, help="model weights (default: the contribution's)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: a GPU if there is one)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    parser.add_argument("--grabcut", action="store_true", help="also run OpenCV GrabCut from the same box")
    parser.add_argument("--noc", action="store_true",
                        help="also simulate corrective clicks from none (next click at the largest error region, "
                             "as RITM) and report NoC@85 / NoC@90, capped at 20")
    parser.add_argument("--reliability", type=Path, default=None, metavar="PNG",
                        help="draw the reliability diagram of p(malignant) here")
    add_reader_box_options(parser)
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="evaluate only the first N lesions")
    parser.add_argument("--json", type=Path, default=None, help="write the report and per-lesion results here")
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def run(args: argparse.Namespace) -> int:
    import torch

    from liverview.metrics.click_segmentation import evaluate_lesions
    from liverview.plugin_api.errors import ModelError
    from liverview.us.lesion_dataset import UsDatasetError, load_lesions, load_records

    torch.set_num_threads(max(1, args.threads))
    reader = reader_box(args)
    try:
        records = load_records(args.data, args.split)
        if args.limit is not None:
            records = records[: args.limit]
        lesions = load_lesions(records)
        segmenter = create(resolve("click-segmenter", args.model, "US"), args.device, args.weights)
    except (UsDatasetError, ModelError) as exc:
        raise CliError(str(exc)) from exc
    fit = box_fit_record(segmenter, apply_box_fit(segmenter, args))
    try:
        with ProgressLine("eval-us", quiet=args.quiet) as progress:
            report, results = evaluate_lesions(segmenter, lesions, args.mode, grabcut=args.grabcut, noc=args.noc,
                                               progress=progress, reader=reader)
    except ModelError as exc:  # a plugin's unusable prediction (liverview.us.checked_prediction): names the plugin
        raise CliError(str(exc)) from exc
    print(f"eval-us {args.mode} on {report.n} lesions of {args.data} (split {args.split}), model {segmenter.name} "
          f"({segmenter.label_mode})")
    if args.mode == "two-click":
        print(f"  test boxes: each side out by {reader.enlarge[0]:.2f}-{reader.enlarge[1]:.2f} x the lesion's size, "
              f"positional error sd {reader.jitter:.2f}; {box_fit_words(fit)}")
    print(f"  Jaccard mean {report.jaccard_mean:.3f} (median {report.jaccard_median:.3f})")
    if report.ellipse_jaccard_mean is not None:
        print(f"  baselines from the same box: inscribed ellipse {report.ellipse_jaccard_mean:.3f}, filled box "
              f"{report.box_jaccard_mean:.3f}; model minus ellipse "
              f"{report.jaccard_mean - report.ellipse_jaccard_mean:+.3f}")
        print(f"  ellipse in the box less the simulated reader's mean margin (knows how the boxes were drawn): "
              f"{report.margin_ellipse_jaccard_mean:.3f}")
    if report.grabcut_jaccard_mean is not None:
        print(f"  GrabCut from the same box {report.grabcut_jaccard_mean:.3f} (empty on {report.grabcut_empty} of "
              f"{report.n})")
    print(f"  4-class accuracy {_fmt(report.four_class_accuracy)}, 4-class AUROC (one-vs-rest, macro) "
          f"{_fmt(report.four_class_auroc)}")
    ci = "" if report.bm_auroc_ci95 is None else " (95 % bootstrap CI {:.2f}-{:.2f})".format(*report.bm_auroc_ci95)
    print(f"  benign vs malignant AUROC {_fmt(report.bm_auroc)}{ci}; at Youden's point (p_malignant >= "
          f"{_fmt(report.bm_threshold)}): sensitivity {_fmt(report.sensitivity)}, specificity "
          f"{_fmt(report.specificity)}")
    if report.bm_ece is not None:
        print(f"  p(malignant) expected calibration error (10 bins) {report.bm_ece:.3f}")
    if report.noc85_mean is not None:
        better, extra = report.refinement_clicks_improving
        print(f"  NoC@85 {report.noc85_mean:.2f}, NoC@90 {report.noc90_mean:.2f} (cap 20); corrective clicks that "
              f"raised IoU: {better} of {extra}")
    if report.box_noc85_mean is not None:
        better, extra = report.box_refinement_clicks_improving
        print(f"  after the box (2 clicks, then the same corrective clicks; not RITM's protocol): NoC@85 "
              f"{report.box_noc85_mean:.2f}, NoC@90 {report.box_noc90_mean:.2f}; clicks that raised IoU: {better} "
              f"of {extra}")
    if report.ellipse_box_noc85_mean is not None:
        print(f"  baseline, the ellipse inscribed in the same box then the same corrections (no model): NoC@85 "
              f"{report.ellipse_box_noc85_mean:.2f}, NoC@90 {report.ellipse_box_noc90_mean:.2f}")
    print(f"  median time per interaction {report.time_ms_median:.1f} ms")
    for note in report.notes:
        print(f"  note: {note}")
    if args.reliability is not None:
        from liverview.metrics.calibration import draw_reliability_diagram, reliability_bins

        mal = [r.label in ("metastasis", "hcc", "malignant") for r in results]
        args.reliability.parent.mkdir(parents=True, exist_ok=True)
        draw_reliability_diagram(reliability_bins([r.malignant_prob for r in results], mal),
                                 f"p(malignant), {segmenter.name}, n={len(results)}", args.reliability)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"report": asdict(report), "reader_box": {**asdict(reader), **fit},
                                         "lesions": [asdict(r) for r in results]}, indent=1))
    return 0
