"""Which malignancy score a click model ships, from a `liverview cv-us` report (`--calibration` of train-us and
calibrate-us): Platt scaling of the class head, the head with lesion features, or lesion size alone, whichever
scored the lowest log loss on held-out images (a proper score: ranking and calibration at once)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from liverview.cli import CliError

# report key of each candidate's model and of its held-out log loss; Platt has no model beyond its two numbers
CANDIDATES = (("features", "malignancy_model_all_folds", "bm_log_loss_features_crossfitted"),
              ("size", "malignancy_size_model_all_folds", "bm_log_loss_size_crossfitted"),
              ("platt", None, "bm_log_loss_platt_crossfitted"))
WORDS = {"features": "the class head + lesion-feature model", "size": "the lesion-size model",
         "platt": "Platt scaling of the class head"}


@dataclass(frozen=True)
class MalignancyCalibration:
    platt: dict  # {"a", "b", "from"}: always stored, the fallback for a lesion without a mask
    model: dict | None  # a liverview.us.malignancy.MalignancyModel as a dict, or None: Platt only
    message: str  # what was chosen and why, for the terminal


def read_calibration(report_path: Path) -> MalignancyCalibration:
    """The choice from ``report_path`` (a cv_report.json); CliError when it is not a usable cv-us report."""
    try:
        pooled = json.loads(Path(report_path).read_text())["report"]["pooled_out_of_fold"]
        platt = pooled["platt_all_folds"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"--calibration {report_path}: not a cv-us report ({exc})") from None
    if not platt:
        raise CliError(f"--calibration {report_path}: the report has no Platt scaling (one class only?)")
    platt = {**platt, "from": str(report_path)}
    scored = [(pooled.get(loss), name, pooled.get(key) if key else None) for name, key, loss in CANDIDATES
              if pooled.get(loss) is not None and (key is None or pooled.get(key))]
    if not any(name != "platt" for _, name, _ in scored):
        model = pooled.get("malignancy_model_all_folds")  # an older report without log losses: its feature model
        return MalignancyCalibration(platt, model or None, "--calibration: storing " + (
            WORDS["features"] if model else "Platt scaling only"))
    loss, name, model = min(scored, key=lambda t: t[0])
    losses = ", ".join(f"{WORDS[n]} {v:.3f}" for v, n, _ in scored)
    floor = pooled.get("bm_log_loss_prevalence_crossfitted")
    message = f"--calibration: held-out log loss {losses}; storing " + (
        "Platt scaling only" if name == "platt" else WORDS[name])
    if floor is not None and loss >= floor:
        message += (f" (no better than giving every lesion the share of malignant ones, {floor:.3f}: "
                    "the score carries no information on these images)")
    return MalignancyCalibration(platt, model, message)
