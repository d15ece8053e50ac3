"""`liverview calibrate-us WEIGHTS --calibration CV_REPORT [--out FILE]`: store the malignancy score chosen from a
cv-us report in trained us_clickseg weights (the choice train-us --calibration makes), without training again:
the network is copied as it is, only the score's stored calibration changes."""

from __future__ import annotations

import argparse
from pathlib import Path

from liverview.cli import CliError
from liverview.commands.us_calibration import read_calibration
from liverview.io.replace_on_success import replaced_on_success


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate-us", help="store the malignancy score chosen from a cv-us report in trained ultrasound weights",
        description="Read a `liverview cv-us` report, choose the malignancy score with the lowest held-out log loss "
                    "(Platt scaling of the class head, the head with lesion features, or lesion size alone; as "
                    "train-us --calibration does) and store it in WEIGHTS (a us_clickseg .pt file). The network's "
                    "weights are not touched. Writes --out, or WEIGHTS itself when --out is not given.")
    parser.add_argument("weights", type=Path, metavar="WEIGHTS", help="us_clickseg weights (.pt)")
    parser.add_argument("--calibration", type=Path, required=True, metavar="CV_REPORT",
                        help="the cv_report.json of `liverview cv-us` on the images to calibrate on")
    parser.add_argument("--out", type=Path, default=None, help="where to write the weights (default: WEIGHTS)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    if not args.weights.is_file():
        raise CliError(f"{args.weights} does not exist")
    choice = read_calibration(args.calibration)
    try:
        ckpt = torch.load(args.weights, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds on a file that is not a checkpoint
        raise CliError(f"{args.weights} is not a readable torch checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != "us_clickseg/1":
        raise CliError(f"{args.weights} is not us_clickseg weights (format us_clickseg/1)")
    meta = dict(ckpt.get("meta") or {})
    meta["malignancy_platt"] = choice.platt
    if choice.model:
        meta["malignancy_model"] = choice.model
    else:
        meta.pop("malignancy_model", None)
    meta["calibrated_by"] = f"liverview calibrate-us {args.weights} --calibration {args.calibration}"
    ckpt["meta"] = meta
    out = args.out or args.weights
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_whole(torch, ckpt, out)
    print(choice.message)
    print(f"wrote {out}")
    return 0


def _save_whole(torch, ckpt: dict, out: Path) -> None:
    """Never a half-written weights file in place of the old one, nor a partial file left when writing fails."""
    try:
        with replaced_on_success(out) as (partial,):
            torch.save(ckpt, partial)
    except OSError as exc:
        raise CliError(f"cannot write {out} ({exc})") from None
