"""What a CT detector trains on, in the core's types: studies (a volume or file per phase), their lesions
as reference-voxel boxes with class and key slice, and known non-lesions for hard negative suppression.
Detector plugins receive these through the DetectorTrainer protocol (liverview.plugin_api)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.hard_negatives import HARD_NEGATIVES_FILE
from liverview.detection.proposals import Proposal3D, read_proposals


@dataclass(frozen=True)
class TrainingLesion:
    """One labelled lesion in reference voxels: inclusive box (x0, y0, z0, x1, y1, z1), class (None or
    'unknown' when not known: it then trains detection only), key slice; ``label_id`` is its value in
    TrainingCase.lesion_labels when a label map is given."""

    box_ijk: tuple[int, int, int, int, int, int]
    lesion_class: str | None
    key_slice: int
    label_id: int | None = None


@dataclass
class TrainingCase:
    """One study to train on. ``phases``: a path or Volume per phase kind; ``lesions``: boxes + class + key
    slice in reference voxels; ``hard_negatives``: proposals known to be no lesion (HNSL);
    ``lesion_labels``: optional label map (reference grid) giving exact per-slice boxes. Without it only
    the key slices count as positive slices and slices inside a lesion's z-range are not used as targets."""

    phases: Mapping[PhaseKind, str | Path | Volume]
    lesions: list[TrainingLesion]
    hard_negatives: list[Proposal3D] = field(default_factory=list)
    reference: PhaseKind = PhaseKind.NON_CONTRAST
    lesion_labels: str | Path | Volume | None = None
    name: str = ""
    ignore_mask: str | Path | Volume | None = None  # regions with no training signal (e.g. a host's unlabelled tumours)


def study_folders(folder: str | Path) -> list[Path]:
    """``folder`` itself when it is a study (holds study.json), else its subfolders that are, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"training data folder {folder} does not exist")
    studies = [folder] if (folder / "study.json").is_file() else sorted(
        p for p in folder.iterdir() if (p / "study.json").is_file())
    if not studies:
        raise FileNotFoundError(f"{folder} holds no study (a subfolder with study.json + lesions.csv, as written "
                                f"by `liverview synth-ct`)")
    return studies


def load_cases_from_folder(folder: str | Path) -> list[TrainingCase]:
    """Every study under ``folder`` (each subfolder with study.json + lesions.csv; or ``folder`` itself): phantoms
    from `synth-ct` and real hosts with inserted lesions from `synth-inserted` (one phase, an ignore mask); a
    study's hard_negatives.json (from `liverview mine-negatives`) gives its hard negatives."""
    from liverview.synth.ct_phantom import read_lesion_table

    cases = []
    for s in study_folders(folder):
        meta = json.loads((s / "study.json").read_text())
        phases = {PhaseKind(name): s / info["file"] for name, info in meta["phases"].items()}
        lesions = [TrainingLesion(tuple(l.box_ijk), l.lesion_class, l.key_slice, l.lesion_id)  # type: ignore[arg-type]
                   for l in read_lesion_table(s / meta.get("lesion_table", "lesions.csv"))]
        labels = s / meta["lesion_labels"] if meta.get("lesion_labels") else None
        ignore = s / meta["ignore_mask"] if meta.get("ignore_mask") else None
        negatives = s / HARD_NEGATIVES_FILE  # from `liverview mine-negatives`, when it ran on this study
        hard = list(read_proposals(negatives).proposals) if negatives.is_file() else []
        cases.append(TrainingCase(phases, lesions, hard_negatives=hard,
                                  reference=PhaseKind(meta.get("reference_phase", "non-contrast")),
                                  lesion_labels=labels, name=s.name, ignore_mask=ignore))
    return cases
