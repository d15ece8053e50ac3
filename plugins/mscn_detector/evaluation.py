"""Evaluate a detector on held-out studies with liverview.metrics.detection (pseudo-3D IoU, FROC, class
accuracy): phantom folders (lesions.csv ground truth) or a CT with a lesion instance label map (IRCAD).

    python -m plugins.mscn_detector.evaluation --weights W --data FOLDER [--json OUT]
    python -m plugins.mscn_detector.evaluation --weights W --ct CT.nii.gz --instances LABELS.nii.gz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from liverview.core.study import PhaseKind
from liverview.detection.proposals import ProposalSet, write_proposals
from liverview.io.volumes import read_volume
from liverview.metrics.detection import DetectionReport, evaluate_detections, format_report
from liverview.metrics.ground_truth import GroundTruthLesion, instance_ground_truth, read_phantom_ground_truth
from .inference import Detector, load_detector


def phantom_phases(folder: Path) -> tuple[dict[PhaseKind, object], PhaseKind]:
    meta = json.loads((folder / "study.json").read_text())
    volumes = {PhaseKind(k): read_volume(folder / v["file"]) for k, v in meta["phases"].items()}
    return volumes, PhaseKind(meta.get("reference_phase", "non-contrast"))


def detect_phantoms(detector: Detector, data: Path, out_dir: Path | None = None
                    ) -> tuple[dict[str, ProposalSet], dict[str, list[GroundTruthLesion]], float]:
    """Proposals and ground truth of every phantom study under ``data``; mean seconds per study."""
    studies = sorted(p for p in data.iterdir() if (p / "study.json").is_file())
    if not studies:
        raise FileNotFoundError(f"{data} holds no phantom study")
    preds, gts, times = {}, {}, []
    for s in studies:
        volumes, ref = phantom_phases(s)
        t = time.perf_counter()
        preds[s.name] = detector.detect(volumes, ref)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t)
        gts[s.name] = read_phantom_ground_truth(s, s.name)
        if out_dir is not None:
            write_proposals(out_dir / s.name / "proposals.json", preds[s.name])
    return preds, gts, float(np.mean(times))


def report_json(report: DetectionReport, extra: dict | None = None) -> dict:
    d = report.to_json()
    d.update(extra or {})
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--data", type=Path, help="folder of phantom studies")
    ap.add_argument("--ct", type=Path, help="a single-phase CT volume (read as --phase)")
    ap.add_argument("--instances", type=Path, help="lesion instance label map of --ct")
    ap.add_argument("--phase", default="portal venous")
    ap.add_argument("--out", type=Path, default=None, help="write proposals.json per study here")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    det = load_detector(args.weights, "auto")
    if args.data:
        preds, gts, sec = detect_phantoms(det, args.data, args.out)
    else:
        vol = read_volume(args.ct)
        t = time.perf_counter()
        ps = det.detect({PhaseKind.parse(args.phase): vol}, PhaseKind.parse(args.phase))
        sec = time.perf_counter() - t
        if args.out:
            write_proposals(args.out / "proposals.json", ps)
        preds = {"ct": ps}
        gts = {"ct": instance_ground_truth(read_volume(args.instances).array, "ct")}
    report = evaluate_detections({k: list(v.proposals) for k, v in preds.items()}, gts, "p3d", 0.5)
    print(format_report(report))
    print(f"  {sec:.1f} s per study, model {det.name}, {sum(len(v.proposals) for v in preds.values())} proposals")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report_json(report, {"seconds_per_study": sec, "model": det.name}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
