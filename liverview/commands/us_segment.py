"""`liverview us-segment IMAGE (--box X0 Y0 X1 Y1 | --click X Y) [--bg-click X Y ...] --out MASK.png`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.model_choice import add_model_option, create, resolve
from liverview.commands.reader_box import add_box_shape_option, apply_box_fit, box_fit_record


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "us-segment", help="segment + classify one ultrasound lesion from a box or clicks; prints JSON",
        description="Run an ultrasound click segmenter (default: the registry's, --model to choose) on IMAGE (DICOM US, PNG, JPEG, BMP). Two-click mode: --box "
                    "(becomes 1 foreground click at its centre and 4 background clicks at its corners); one-click "
                    "mode: --click. Further --click / --bg-click correct the first mask (the box's, or the first --click's): each "
                    "nudges its contour through the click, as the workspace answers clicks made before its mask "
                    "came back. Coordinates are image pixels (x = column, "
                    "y = row). Prints class probabilities, malignant probability, area and diameters (mm when the "
                    "DICOM states the pixel size, else px) and the time; writes the mask PNG (0/255).")
    parser.add_argument("image", type=Path, metavar="IMAGE", help="ultrasound image (DICOM US, PNG, JPEG, BMP)")
    parser.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                        help="the lesion box in image pixels (two-click input), drawn to the lesion's edges: the "
                             "mask is fitted to it unless --no-box-fit")
    parser.add_argument("--no-box-fit", dest="box_fit", action="store_false",
                        help="leave the box's mask as the net draws it (for a box drawn with room around the lesion)")
    add_box_shape_option(parser)
    parser.add_argument("--click", type=float, nargs=2, action="append", default=[], metavar=("X", "Y"),
                        help="foreground click inside the lesion (repeatable)")
    parser.add_argument("--bg-click", type=float, nargs=2, action="append", default=[], metavar=("X", "Y"),
                        help="background click outside the lesion (repeatable)")
    parser.add_argument("--frame", type=int, default=0, help="frame of a multi-frame (cine) DICOM (default 0)")
    parser.add_argument("--out", type=Path, required=True, metavar="MASK.png", help="where to write the mask")
    add_model_option(parser, "click-segmenter")
    parser.add_argument("--weights", type=Path, default=None, help="model weights (default: the contribution's)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: a GPU if there is one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from liverview.us.checked_prediction import checked_predict
    from liverview.us.clicks import BOX_CLICK_COUNT, Click, box_to_clicks
    from liverview.us.image import UsImageError, load_us_image
    from liverview.us.local_correction import correct_shown_mask
    from liverview.us.measure import mask_measurements
    from liverview.plugin_api.errors import ModelError

    if args.box is None and not args.click:
        raise CliError("give --box X0 Y0 X1 Y1 (two-click mode) or --click X Y (one-click mode)")
    if args.out.suffix.lower() != ".png":
        raise CliError(f"--out must be a .png file, got {args.out}")
    try:
        image = load_us_image(args.image)
        frame = image.frame(args.frame)
    except UsImageError as exc:
        raise CliError(str(exc)) from exc
    try:
        clicks = box_to_clicks(*args.box) if args.box is not None else []
    except ValueError as exc:
        raise CliError(f"--box: {exc}") from exc
    if args.box is not None:  # its centre becomes the lesion click: say so in the box's terms
        h, w = frame.shape[:2]
        cx, cy = (args.box[0] + args.box[2]) / 2, (args.box[1] + args.box[3]) / 2
        if not (-0.5 <= cx < w - 0.5 and -0.5 <= cy < h - 0.5):
            raise CliError(f"--box: its centre ({cx:.1f}, {cy:.1f}) lies outside the {w}x{h} image "
                           "(x = column, y = row, in image pixels)")
    clicks += [Click(x, y, True) for x, y in args.click] + [Click(x, y, False) for x, y in args.bg_click]
    try:
        contribution = resolve("click-segmenter", args.model, "US")
        segmenter = create(contribution, args.device, args.weights)
        apply_box_fit(segmenter, args)
        mask = None
        first = BOX_CLICK_COUNT if args.box is not None else 1
        if len(clicks) > first:
            # as in the workspace: the box (or the first click) first, then the other clicks nudge its mask's
            # contour (as clicks made one after another before its answer came back: liverview.us.local_correction)
            shown = np.asarray(checked_predict(segmenter, frame, clicks[:first]).mask, bool)
            pred = checked_predict(segmenter, frame, clicks, prior=shown)
            mask = correct_shown_mask(pred.mask, shown, clicks, bool(getattr(segmenter, "box_fit", False)),
                                     corrections=len(clicks) - first)
        else:
            pred = checked_predict(segmenter, frame, clicks)
    except ModelError as exc:
        raise CliError(str(exc)) from exc
    mask = np.asarray(pred.mask if mask is None else mask, bool)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), mask.astype(np.uint8) * 255):
        raise CliError(f"cannot write {args.out}")
    result = {
        "image": str(args.image), "frame": args.frame, "model": segmenter.name, "label_mode": segmenter.label_mode,
        "mode": "two-click" if args.box is not None else "one-click",
        **box_fit_record(segmenter, bool(getattr(segmenter, "box_fit", False)) and args.box is not None),
        "clicks": [{"x": c.x, "y": c.y, "positive": c.positive} for c in clicks],
        "class_probs": {k: round(v, 4) for k, v in pred.class_probs.items()},
        "predicted_class": max(pred.class_probs, key=pred.class_probs.get),
        "malignant_prob": round(pred.malignant_prob, 4),
        # how p(malignant) was made: a score of its own, which may disagree with the predicted class
        "malignancy_note": getattr(pred, "malignancy_note", "") or "not stated by the model",
        "pixel_spacing_mm": list(image.pixel_spacing_mm) if image.pixel_spacing_mm else None,
        "measurement": mask_measurements(mask, image.pixel_spacing_mm).as_dict() if mask.any() else None,
        "mask": str(args.out), "mask_pixels": int(mask.sum()), "time_ms": round(pred.time_ms, 2),
    }
    if segmenter.label_mode != "four-class":
        result["note"] = "these weights learnt benign vs malignant only; the 4-class split is not meaningful"
    card_notes = contribution.validated_figures().get("notes", {}) if args.weights is None else {}
    if isinstance(card_notes, dict) and card_notes:  # the model card's word on its class scores, as the app shows
        result["class_notes"] = {k: str(v) for k, v in card_notes.items()}
    print(json.dumps(result, indent=1, allow_nan=False))  # strict JSON: predictions are checked finite
    return 0
