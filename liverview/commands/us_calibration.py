"""Which malignancy score a click model ships, from a `liverview cv-us` report (`--calibration` of train-us and
calibrate-us): Platt scaling of the class head, the head with lesion features, or lesion size alone, whichever
scored the lowest log loss on held-out images (a proper score: ranking and calibration at once)."""

from __future__ import annotations

import json
import math
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
    platt = {**_checked_platt(platt, report_path), "from": str(report_path)}
    scored = [(pooled.get(loss), name, pooled.get(key) if key else None) for name, key, loss in CANDIDATES
              if pooled.get(loss) is not None and (key is None or pooled.get(key))]
    if not any(name != "platt" for _, name, _ in scored):
        model = pooled.get("malignancy_model_all_folds")  # an older report without log losses: its feature model
        _check_model(model, "malignancy_model_all_folds", report_path)
        return MalignancyCalibration(platt, model or None, "--calibration: storing " + (
            WORDS["features"] if model else "Platt scaling only"))
    loss, name, model = min(scored, key=lambda t: t[0])
    _check_model(model, dict((n, k) for n, k, _ in CANDIDATES)[name], report_path)
    losses = ", ".join(f"{WORDS[n]} {v:.3f}" for v, n, _ in scored)
    floor = pooled.get("bm_log_loss_prevalence_crossfitted")
    message = f"--calibration: held-out log loss {losses}; storing " + (
        "Platt scaling only" if name == "platt" else WORDS[name])
    if floor is not None and loss >= floor:
        message += (f" (no better than giving every lesion the share of malignant ones, {floor:.3f}: "
                    "the score carries no information on these images)")
    return MalignancyCalibration(platt, model, message)


def _finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checked_platt(platt: object, report_path: Path) -> dict:
    """``platt`` when inference can apply it: a dict with finite numbers a and b. The loader silently ignores
    any other entry (the score would stay the uncalibrated head), so refuse it here, before anything is stored."""
    if not isinstance(platt, dict) or not all(_finite_number(platt.get(k)) for k in ("a", "b")):
        raise CliError(f"--calibration {report_path}: platt_all_folds must hold finite numbers \"a\" and \"b\", "
                       f"got {platt!r}")
    return platt


def _check_model(model: dict | None, key: str | None, report_path: Path) -> None:
    """CliError unless ``model`` (None: Platt only) loads and scores as inference will read it: the weights
    would otherwise be written and then fail to load ("error: features") or to score a lesion."""
    if not model:
        return
    from liverview.us.malignancy import FEATURES, MalignancyModel

    where = f"--calibration {report_path}: {key}"
    try:
        built = MalignancyModel.from_dict(model)
    except KeyError as exc:
        raise CliError(f"{where} is not a malignancy model (it lacks {exc})") from None
    except (TypeError, ValueError) as exc:
        raise CliError(f"{where} is not a malignancy model ({exc})") from None
    unknown = [n for n in built.features if n not in FEATURES]
    if not built.features or unknown:
        raise CliError(f"{where}: unknown features {unknown or '(none given)'}; known: {', '.join(FEATURES)}")
    sizes = {len(built.features), len(built.mean), len(built.scale), len(built.coef)}
    numbers = (*built.mean, *built.scale, *built.coef, built.intercept)
    if len(sizes) != 1 or not all(_finite_number(v) for v in numbers) or 0 in built.scale:
        raise CliError(f"{where}: features, mean, scale and coef must be as long as each other and hold finite "
                       "numbers (scale not 0)")
    try:  # the score inference computes, on a neutral lesion
        if not math.isfinite(built.probability({n: 0.0 for n in FEATURES})):
            raise ValueError("not finite")
    except (TypeError, ValueError) as exc:
        raise CliError(f"{where} cannot score a lesion ({exc})") from None
