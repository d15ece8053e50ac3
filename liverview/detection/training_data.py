"""What a CT detector trains on, in the core's types: studies (a volume or file per phase), their lesions
as reference-voxel boxes with class and key slice, and known non-lesions for hard negative suppression.
Detector plugins receive these through the DetectorTrainer protocol (liverview.plugin_api)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from liverview.core.axis_order import AxisOrder, in_patient_order
from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.hard_negatives import HARD_NEGATIVES_FILE
from liverview.detection.proposals import Proposal3D, read_proposals
from liverview.detection.stored_grid import proposal_in_patient_order


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


def _lesion_in_patient_order(lesion: TrainingLesion, order: AxisOrder, stored_shape: tuple[int, int, int],
                             has_labels: bool, case: str) -> TrainingLesion:
    x0, y0, z0, x1, y1, z1 = lesion.box_ijk
    edges = order.inverse.edges_to_stored(np.array([[z0, y0, x0], [z1 + 1.0, y1 + 1.0, x1 + 1.0]]),
                                          tuple(stored_shape[a] for a in order.perm))
    lo, hi = np.rint(edges.min(axis=0)).astype(int), np.rint(edges.max(axis=0)).astype(int) - 1
    if order.keeps_slices:
        key = stored_shape[0] - 1 - lesion.key_slice if order.flip[0] else lesion.key_slice
    elif has_labels:  # the key slice only matters without a label map
        key = int((lo[0] + hi[0]) // 2)
    else:
        raise ValueError(f"{case}: its scan is stored with slices along another axis than the patient's "
                         "head-feet axis, and its lesions are known on one key slice only: store it axially, or "
                         "give a lesion label map")
    return replace(lesion, box_ijk=(int(lo[2]), int(lo[1]), int(lo[0]), int(hi[2]), int(hi[1]), int(hi[0])),
                   key_slice=int(key))


def case_in_patient_order(case: TrainingCase, phases: Mapping[PhaseKind, Volume], labels: Volume | None,
                          ignore: Volume | None) -> tuple[TrainingCase, dict[PhaseKind, Volume], Volume | None,
                                                          Volume | None]:
    """A training study whose reference phase is stored in another axis order (LiTS: rows and slices flipped)
    re-laid in patient axis order, as detection reads scans: the phases on its grid, the label map and ignore
    mask with it, the lesion boxes, key slices and hard negatives moved to match (phases on other grids are
    sampled by world position and stay). Returns the case and the volumes as given when it is stored so."""
    stored = phases[case.reference]
    relaid_reference, order = in_patient_order(stored)
    if order.is_identity:
        return case, dict(phases), labels, ignore
    shape = stored.array.shape
    relaid = {kind: in_patient_order(v)[0] if v.same_grid(stored) else v for kind, v in phases.items()}

    def on_grid(v: Volume | None, what: str) -> Volume | None:
        if v is None:
            return None
        if v.array.shape != shape:
            raise ValueError(f"{case.name}: the {what}'s grid {v.array.shape} is not the reference's {shape}")
        return relaid_reference.with_array(np.ascontiguousarray(order.forward(v.array)))

    patient_shape = relaid_reference.array.shape
    lesions = [_lesion_in_patient_order(les, order, shape, labels is not None, case.name) for les in case.lesions]
    hard = [proposal_in_patient_order(p, order, patient_shape) for p in case.hard_negatives]
    return (replace(case, lesions=lesions, hard_negatives=hard), relaid, on_grid(labels, "label map"),
            on_grid(ignore, "ignore mask"))
