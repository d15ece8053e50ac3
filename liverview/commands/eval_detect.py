"""`liverview eval-detect --pred P [P ...] --gt G [G ...]`: FROC, AP and class accuracy of lesion proposals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from liverview.cli import CliError
from liverview.detection.proposals import Proposal3D, ProposalFormatError, read_proposals
from liverview.metrics.detection import (DEFAULT_PROTOCOL, PROTOCOL_CRITERIA, PROTOCOL_THRESHOLDS, PROTOCOLS,
                                         DetectionReport, criterion_available, evaluate_detections, format_report,
                                         padded)
from liverview.metrics.ground_truth import GroundTruthError, GroundTruthLesion, load_ground_truth, proposals_from_box_table

if TYPE_CHECKING:
    import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-detect", help="FROC / AP / class accuracy of lesion proposals against ground truth",
        description="Evaluate 3D lesion proposals: recall at 0.125..8 false positives per volume (FROC), AP, "
                    "recall at 90 % precision and per-class accuracy of matched lesions, under the pseudo-3D "
                    "IoU criterion (proposal spans the mark's key slice and its 2D IoU >= threshold) and under "
                    "3D IoU when the ground truth has 3D boxes. --protocol deeplesion or manual1k applies the "
                    "published evaluation codes' own rules, for figures that can be set beside the papers'.")
    parser.add_argument("--pred", nargs="+", required=True, type=Path, metavar="P",
                        help="proposals.json files, folders searched for proposals.json, or a box table CSV "
                             "(volume_id,x_min,y_min,x_max,y_max,z_min,z_max[,score])")
    parser.add_argument("--gt", nargs="+", required=True, type=Path, metavar="G",
                        help="phantom folders or lesions.csv, an instance label map (NIfTI / NRRD / MHA on the "
                             "proposals' grid, one value per lesion; class maps such as liver = 1, tumour = 2 are "
                             "refused), a DL_info.csv, or a box table CSV (Lesion Harvester or DeepLesion "
                             "manual-1K layout)")
    parser.add_argument(
        "--protocol", choices=PROTOCOLS, default=DEFAULT_PROTOCOL,
        help="counting rules. strict (the default): LiverView's own rules, unchanged so that figures stay "
             "comparable with earlier runs and with the harvest reports; one proposal finds at most one lesion, "
             "a repeated hit on a found lesion is a false positive and box widths are x1 - x0. It usually reads "
             "lower than deeplesion but does not bound it: at an FP rate reached exactly it reads the last "
             "operating point there where deeplesion reads the first, and a union box can overlap a mark "
             "better than the key-slice box. deeplesion: the DeepLesion / Lesion Harvester code's rules "
             "(widths x1 - x0 + 1, a repeated hit is neither a true nor a false positive, one proposal may find "
             "several marks, pseudo-3D IoU with the proposal's box on the key slice: its per-slice box where "
             "proposals.json has one, else its union box; its AP, like the Lesion Harvester's, still counts a "
             "repeated hit as a miss). manual1k: the DeepLesion manual-1K 3D code (intersection volume over the "
             "proposal's box volume >= 0.3; needs 3D boxes in the ground truth) with the same counting")
    parser.add_argument("--criterion", choices=("p3d", "iou3d", "iobb3d", "both"), default="both",
                        help="match criterion: strict and deeplesion offer p3d and iou3d, manual1k iobb3d "
                             "(default both: every one of the protocol's that the ground truth supports)")
    parser.add_argument("--iou", type=float, default=None,
                        help="overlap threshold (default 0.5; 0.3 under --protocol manual1k)")
    parser.add_argument("--pad-pred", type=float, default=0.0, metavar="PX",
                        help="grow predicted 2D boxes by PX pixels per side (5 compares tight boxes with "
                             "DeepLesion's RECIST boxes, which are padded by 5 px)")
    parser.add_argument("--volumes", choices=("gt", "predicted", "common"), default="gt",
                        help="which volumes to evaluate: every ground-truth volume (default; predicted "
                             "volumes without ground truth are an error), only those with predictions, or "
                             "only those present in both")
    parser.add_argument("--skip-ignored", action="store_true",
                        help="leave out proposals centred in a ground-truth study folder's ignore mask "
                             "(ignore_mask.nii.gz, written by synth-inserted: the host's possible real lesions "
                             "that nobody labelled, which would otherwise count as false positives)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the numbers to OUT as JSON")
    parser.add_argument("--plot", type=Path, metavar="FILE.png",
                        help="draw the FROC curve (sensitivity vs FP per volume, log axis) of every evaluated "
                             "criterion to FILE.png")
    parser.set_defaults(func=run)


def _proposal_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.rglob("proposals.json")) or sorted(p.glob("*.json"))
            if not found:
                raise CliError(f"{p} holds no proposals.json")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise CliError(f"{p} does not exist")
    return files


def load_predictions(paths: Sequence[Path], grids: dict[str, tuple[int, int, int]] | None = None
                     ) -> dict[str, list[Proposal3D]]:
    """Proposals keyed by volume: a proposals.json's volume is its 'study' field, else its folder's name.
    ``grids``, when given, receives each proposals.json's grid shape (Z, Y, X) where the file records one."""
    out: dict[str, list[Proposal3D]] = {}
    for f in _proposal_files(paths):
        if f.suffix.lower() == ".csv":
            for volume, props in proposals_from_box_table(f).items():
                out.setdefault(volume, []).extend(props)
            continue
        try:
            ps = read_proposals(f)
        except ProposalFormatError as exc:
            raise CliError(str(exc)) from None
        volume = ps.study or f.parent.name
        if volume in out:
            raise CliError(f"two proposal files name volume {volume!r} (the second is {f}); "
                           f"give each study its own 'study' id or folder")
        out[volume] = list(ps.proposals)
        if grids is not None and ps.shape is not None:
            grids[volume] = tuple(int(v) for v in ps.shape)
    return out


def ground_truth_grid(path: Path) -> tuple[str, tuple[int, int, int]] | None:
    """(volume id, grid shape Z, Y, X) of a ground-truth source that is drawn on a grid and says which: a label
    map (its size), a phantom folder (its study.json); None for tables (DeepLesion's, box tables)."""
    import SimpleITK as sitk

    from liverview.metrics.ground_truth import label_map_volume_id, is_label_map

    try:
        if path.is_file() and is_label_map(path):
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            size = reader.GetSize()
            return (label_map_volume_id(path), (int(size[2]), int(size[1]), int(size[0]))) if len(size) == 3 else None
        folder = path if path.is_dir() else path.parent if path.name == "lesions.csv" else None
        if folder is not None and (folder / "study.json").is_file():
            shape = json.loads((folder / "study.json").read_text(encoding="utf-8")).get("shape_zyx")
            return (folder.name, tuple(int(v) for v in shape)) if shape and len(shape) == 3 else None
    except (RuntimeError, OSError, ValueError, TypeError, AttributeError):
        return None  # unreadable here: the ground-truth reader itself says why
    return None


def check_same_grids(pred_grids: dict[str, tuple[int, int, int]],
                     gt_grids: dict[str, tuple[int, int, int]]) -> None:
    """CliError when the proposals of a volume and its ground truth lie on grids of different shapes: not the
    same study (or not its reference phase), so every box would be compared with the wrong place."""
    for volume, p in pred_grids.items():
        g = gt_grids.get(volume)
        if g is not None and tuple(p) != tuple(g):
            raise CliError(f"the proposals scored as {volume!r} are on a {' x '.join(map(str, p))} grid (Z x Y x X), "
                           f"its ground truth on {' x '.join(map(str, g))}: not the same study or phase; "
                           "nothing was scored")


def load_all_ground_truth(paths: Sequence[Path]) -> dict[str, list[GroundTruthLesion]]:
    out: dict[str, list[GroundTruthLesion]] = {}
    for p in paths:
        try:
            gt = load_ground_truth(p)
        except GroundTruthError as exc:
            raise CliError(str(exc)) from None
        for volume, lesions in gt.items():
            if volume in out:
                raise CliError(f"volume {volume!r} appears in two ground-truth sources (the second is {p})")
            out[volume] = lesions
    return out


def pair_volumes(pred: dict[str, list[Proposal3D]], gt: dict[str, list[GroundTruthLesion]],
                 volumes: str = "gt") -> tuple[dict, dict]:
    """Match prediction volumes to ground-truth volumes by id; one of each pairs whatever their names."""
    if len(pred) == 1 and len(gt) == 1 and set(pred) != set(gt):
        (pv, props), (gv, _) = next(iter(pred.items())), next(iter(gt.items()))
        pred = {gv: props}
    if volumes == "common":
        pred = {v: ps for v, ps in pred.items() if v in gt}
        gt = {v: ls for v, ls in gt.items() if v in pred}
        if not gt:
            raise CliError("the predictions and the ground truth share no volume")
    orphans = sorted(set(pred) - set(gt))
    if orphans:
        raise CliError(f"no ground truth for predicted volume(s) {', '.join(orphans[:5])}"
                       f"{' ...' if len(orphans) > 5 else ''}; ground-truth volumes are e.g. "
                       f"{', '.join(sorted(gt)[:3])}")
    if volumes == "predicted":
        gt = {v: gt[v] for v in pred}
    return pred, gt


def ignore_masks(paths: Sequence[Path]) -> dict[str, np.ndarray]:
    """Volume id -> bool ignore mask (z, y, x) of every ground-truth study folder that has one."""
    from liverview.io.volumes import read_volume
    from liverview.synth.lesion_insertion import IGNORE_MASK_FILE

    out = {}
    for p in paths:
        folder = p if p.is_dir() else p.parent if p.name == "lesions.csv" else None
        if folder is not None and (folder / IGNORE_MASK_FILE).is_file():
            out[folder.name] = read_volume(folder / IGNORE_MASK_FILE).array > 0
    return out


def run(args: argparse.Namespace) -> int:
    protocol = args.protocol
    iou = PROTOCOL_THRESHOLDS[protocol] if args.iou is None else args.iou
    if not 0 < iou <= 1:
        raise CliError(f"--iou must be in (0, 1], got {iou}")
    allowed = PROTOCOL_CRITERIA[protocol]
    if args.criterion != "both" and args.criterion not in allowed:
        raise CliError(f"--criterion {args.criterion} is not part of --protocol {protocol} "
                       f"(it offers {', '.join(allowed)})")
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise CliError(f"--plot writes a PNG; give a file name ending in .png, not {args.plot.name}")
    pred_grids: dict[str, tuple[int, int, int]] = {}
    pred = load_predictions(args.pred, pred_grids)
    gt = load_all_ground_truth(args.gt)
    gt_grids = dict(found for p in args.gt if (found := ground_truth_grid(p)) is not None)
    named = list(pred)
    pred, gt = pair_volumes(pred, gt, args.volumes)
    came_from = {v: v if v in named else named[0] for v in pred}  # a lone pair takes the truth's id
    check_same_grids({v: pred_grids[came_from[v]] for v in pred if came_from[v] in pred_grids}, gt_grids)
    skipped = None
    if args.skip_ignored:
        from liverview.metrics.ignore_regions import drop_ignored

        masks = ignore_masks(args.gt)
        if not masks:
            raise CliError("--skip-ignored: no ground-truth study folder has an ignore mask "
                           "(ignore_mask.nii.gz, as synth-inserted writes)")
        before = sum(map(len, pred.values()))
        pred = {v: (drop_ignored(ps, masks[v]) if v in masks else ps) for v, ps in pred.items()}
        skipped = before - sum(map(len, pred.values()))
    if args.pad_pred:
        pred = {v: [padded(p, args.pad_pred) for p in ps] for v, ps in pred.items()}
    wanted = allowed if args.criterion == "both" else (args.criterion,)
    reports: dict[str, DetectionReport] = {}
    unavailable: dict[str, str] = {}
    for criterion in wanted:
        if not criterion_available(gt, criterion):
            unavailable[criterion] = ("the ground truth has no key-slice marks" if criterion == "p3d" else
                                      "the ground truth has no 3D boxes (DeepLesion marks lie on one slice)")
            continue
        reports[criterion] = evaluate_detections(pred, gt, criterion, iou, protocol=protocol)
    if not reports and protocol == "manual1k":
        raise CliError("--protocol manual1k needs 3D boxes in the ground truth (the DeepLesion manual-1K or "
                       "Lesion Harvester 3D box tables, or phantom folders); this ground truth has only "
                       "key-slice marks: use --protocol deeplesion for them")
    if not reports:
        raise CliError("no criterion can be evaluated: " + "; ".join(f"{k}: {v}" for k, v in unavailable.items()))
    print(f"{sum(map(len, pred.values()))} proposals in {len(pred)} volume(s); "
          f"{sum(map(len, gt.values()))} lesions in {len(gt)} ground-truth volume(s)")
    if skipped is not None:
        print(f"left out {skipped} proposal(s) centred in the ignore masks of {len(masks)} study folder(s)")
    for criterion, report in reports.items():
        print(format_report(report))
    for criterion, why in unavailable.items():
        print(f"criterion {criterion}: unavailable, {why}")
    if args.plot is not None:
        from liverview.metrics.froc_plot import draw_froc

        draw_froc(list(reports.values()), args.plot)
        print(f"wrote {args.plot}")
    if args.json:
        doc = {"predictions": [str(p) for p in args.pred], "ground_truth": [str(p) for p in args.gt],
               "protocol": protocol, "pad_pred_px": args.pad_pred, "ignored_proposals": skipped,
               "results": {k: r.to_json() for k, r in reports.items()}, "unavailable": unavailable}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
