"""`liverview eval-keyslices MANIFEST`: run a detector on DeepLesion key slices (one 2D image each, no
neighbouring slices) and report recall at 0.125..8 false positives per image against DeepLesion's boxes
(the RECIST extent padded by 5 px; predicted boxes are padded the same way unless --pad-pred says otherwise)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.arg_types import non_negative_float, non_negative_int
from liverview.commands.model_choice import add_model_option, create, resolve
from liverview.detection.liver_filter import DEFAULT_MARGIN_MM
from liverview.terminal_progress import ProgressLine, add_quiet_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-keyslices", help="detector recall per false positive per image on DeepLesion key slices",
        description="Run the lesion detector on every DeepLesion key slice of MANIFEST (16-bit PNG, HU = value - "
                    "32768; columns image, bbox_x1y1x2y2, spacing_mm) and report the FROC: recall at 0.125..8 "
                    "false positives per image, under the DeepLesion protocol (a detection hits when its box has "
                    "IoU >= 0.5 with the lesion's box, widths counted x2 - x1 + 1, a second hit on a found lesion "
                    "is no false positive) and LiverView's strict rules. Only the key slice is released, so the "
                    "2.5D detector sees that slice repeated in place of its neighbours. As in `detect`, proposals "
                    "with no pixel within --liver-margin mm of the liver mask are dropped; the mask is made on the "
                    "one slice, and where it finds too little liver there (the dome, the tip) every proposal of "
                    "that image is kept. A lesion in the image that DeepLesion did "
                    "not box counts as a false positive. An image the detector refuses (a method that needs "
                    "the liver, on a slice showing too little of it) counts with no detection, and is counted.")
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="manifest.csv of the key slices")
    add_model_option(parser, "detector")
    parser.add_argument("--weights", type=Path, default=None, help="model weights (default: the contribution's)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu or cuda")
    parser.add_argument("--threads", type=non_negative_int, default=None, metavar="N", help="CPU threads for torch")
    parser.add_argument("--pad-pred", type=float, default=5.0, metavar="PX",
                        help="grow predicted boxes by PX pixels per side before matching (default 5: DeepLesion's "
                             "boxes are the RECIST extent padded by 5 px, while detectors here predict the "
                             "lesion's own extent; 0 compares them as they are)")
    parser.add_argument("--dl-info", action="append", default=[], type=Path, metavar="CSV",
                        help="DeepLesion DL_info-layout CSV(s): the pixel spacing of rows the manifest gives none "
                             "(otherwise read as 0.8 mm); may be given several times")
    parser.add_argument("--liver-margin", type=non_negative_float, default=DEFAULT_MARGIN_MM, metavar="MM",
                        help="drop proposals with no pixel within MM of the liver mask (default 15, as detect)")
    parser.add_argument("--no-liver-filter", action="store_true", help="keep proposals outside the liver too")
    parser.add_argument("--liver-segmenter", default=None, metavar="NAME",
                        help="liver-segmenter contribution for the liver filter (default: the registry's default, "
                             "liver_unet; liver_mask is the classical method)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the figures as JSON")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="draw the FROC curves")
    add_quiet_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liverview.core.study import PhaseKind
    from liverview.detection.liver_filter import readable_proposals_outcome
    from liverview.plugin_api.errors import ModelInputError
    from liverview.io.deeplesion_keyslices import KeySliceError, dl_info_spacings, read_keyslices
    from liverview.metrics.detection import evaluate_detections, format_report, padded
    from liverview.metrics.ground_truth import GroundTruthLesion

    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise CliError(f"--plot writes a PNG; give a file name ending in .png, not {args.plot.name}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        images = read_keyslices(args.manifest, dl_info_spacings(args.dl_info) if args.dl_info else None)
    except KeySliceError as exc:
        raise CliError(str(exc)) from None
    detector = create(resolve("detector", args.model), args.device, args.weights)
    liver = None if args.no_liver_filter else create(resolve("liver-segmenter", args.liver_segmenter), "cpu")
    preds, gts = {}, {}
    for row in images:  # DeepLesion often boxes several lesions on one key slice: one image, several lesions
        marks = gts.setdefault(row.name, [])
        marks.append(GroundTruthLesion(row.name, 0, row.box, None, None, str(len(marks) + 1)))
    first_rows: dict[str, object] = {}
    for row in images:
        first_rows.setdefault(row.name, row)
    images = list(first_rows.values())  # each image detected on once, in the manifest's order
    found = dropped = unmasked = refused = 0
    start = time.perf_counter()
    with ProgressLine("eval-keyslices", quiet=args.quiet) as progress:
        for n, image in enumerate(images, start=1):
            volumes = {PhaseKind.PORTAL_VENOUS: image.volume}
            preds[image.name] = []
            progress.steps(n - 1, len(images), f"{n}/{len(images)} images")
            try:
                result = detector.detect(volumes, PhaseKind.PORTAL_VENOUS)
            except ModelInputError:  # e.g. a baseline that needs the liver, at the dome: no detection there
                refused += 1
                continue
            # as detect does, without its cap (a FROC counts every proposal)
            outcome = readable_proposals_outcome(result, volumes, PhaseKind.PORTAL_VENOUS, liver, args.liver_margin,
                                                 max_proposals=0)
            result = outcome.result
            found += outcome.found
            dropped += outcome.dropped
            unmasked += liver is not None and outcome.liver_ml is None  # too little liver: every proposal kept
            preds[image.name] = [padded(p, args.pad_pred) for p in result.proposals] if args.pad_pred else list(result.proposals)
        progress.steps(len(images), len(images), f"{len(images)}/{len(images)} images")
    seconds = time.perf_counter() - start
    reports = {protocol: evaluate_detections(preds, gts, "p3d", 0.5, protocol=protocol)
               for protocol in ("deeplesion", "strict")}
    unknown = sum(not i.spacing_known for i in images)
    from_dl_info = sum(i.spacing_from == "DL_info" for i in images)
    where = f"; {from_dl_info} with the spacing DL_info records" if args.dl_info else \
        ("; --dl-info CSV can supply recorded ones" if unknown else "")
    print(f"{len(images)} key slices with {sum(map(len, gts.values()))} lesions ({unknown} without a recorded pixel spacing, read as 0.8 mm{where}), "
          f"{sum(map(len, preds.values()))} detections by {detector.name} in {seconds:.1f} s; FP counted per image; "
          f"predicted boxes grown by {args.pad_pred:g} px per side")
    if refused:
        print(f"{detector.name} refused {refused} of {len(images)} images (no detections counted there)")
    if liver is not None:
        print(f"liver filter ({liver.name}, margin {args.liver_margin:g} mm): {dropped} of {found} proposals dropped; "
              f"no liver mask on {unmasked} of the {len(images) - refused} images detected on (all their proposals kept)")
    for protocol, report in reports.items():
        print(format_report(report))
    if args.plot is not None:
        from liverview.metrics.froc_plot import draw_froc

        draw_froc(list(reports.values()), args.plot)
        print(f"wrote {args.plot}")
    if args.json is not None:
        doc = {"manifest": str(args.manifest), "model": detector.name, "weights": str(args.weights or ""),
               "images": len(images), "lesions": sum(map(len, gts.values())), "images_without_spacing": unknown,
               "images_spacing_from_dl_info": from_dl_info, "dl_info": [str(p) for p in args.dl_info],
               "seconds": seconds, "pad_pred_px": args.pad_pred,
               "fp_unit": "per image", "images_refused_by_detector": refused,
               "liver_filter": None if liver is None else {
                   "segmenter": liver.name, "margin_mm": args.liver_margin, "proposals_found": found,
                   "proposals_dropped": dropped, "images_without_mask": unmasked},
               "results": {p: r.to_json() for p, r in reports.items()}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
