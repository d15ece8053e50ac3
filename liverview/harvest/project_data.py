"""What a harvest round reads from a project: each CT study's phases, its original RECIST marks, the
detector's proposals and the reviewer's decisions on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.proposals import DETECTION_CLASSES, Proposal3D
from liverview.harvest.steps import HarvestStudy
from liverview.metrics.ground_truth import GroundTruthLesion
from liverview.store.project import Project
from liverview.store.records import LesionRecord, ProposalRecord, StudyRecord

ACCEPTING = ("accepted", "edited")  # an edited proposal was a lesion, its box was only adjusted


class HarvestInputError(ValueError):
    """The project cannot feed a harvest round (unknown study, no reference phase, ...)."""


def study_key(study: StudyRecord) -> str:
    """The id a round uses for a study: its UID, or ``study-<id>`` when it has none."""
    return study.uid or f"study-{study.id}"


def resolve_studies(project: Project, names: Iterable[str]) -> list[StudyRecord]:
    """Studies named by id, UID or ``study-<id>``; an unknown name raises HarvestInputError listing them."""
    studies = project.list_studies()
    found = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        match = [s for s in studies if name in (str(s.id), s.uid, f"study-{s.id}")]
        if not match:
            known = ", ".join(f"{s.id} ({study_key(s)})" for s in studies[:8])
            raise HarvestInputError(f"no study {name!r} in {project.path.name}; studies are {known}")
        found.append(match[0])
    return found


def _load_phase(path: str) -> Volume:
    from liverview.io.study_loader import load_study

    return load_study([path]).study.phases[0].volume


def _mark_from_box(lesion: LesionRecord, volume: str) -> GroundTruthLesion | None:
    """A lesion with a 3D voxel box but no RECIST mark (e.g. written back by an earlier harvest round) as a
    mark: its box on its middle slice, plus the 3D box."""
    b = lesion.box("3d")
    if b is None or b.min_ijk is None or b.max_ijk is None:
        return None
    (i0, j0, k0), (i1, j1, k1) = b.min_ijk, b.max_ijk
    cls = lesion.lesion_class if lesion.lesion_class in DETECTION_CLASSES else None
    box = (float(i0), float(j0), float(i1) + 1, float(j1) + 1)
    return GroundTruthLesion(volume, (k0 + k1) // 2, box, (*box, k0, k1), lesion_class=cls,
                             lesion_id=str(lesion.id))


def mark_from_lesion(lesion: LesionRecord, reference: Volume, volume: str) -> GroundTruthLesion | None:
    """A lesion's RECIST mark as a key-slice box on the reference grid (the pixels holding its end points);
    without RECIST, its 3D voxel box (middle slice as key slice); None when it has neither."""
    m = lesion.recist
    if m is None:
        return _mark_from_box(lesion, volume)
    ends = [*m.long_axis, *(m.short_axis or ())]
    ijk = reference.world_to_index(np.array(ends, float))
    lo, hi = np.rint(ijk.min(axis=0)), np.rint(ijk.max(axis=0))
    key = int(np.rint(ijk[:, 2].mean()))  # the mark's slice on the reference grid, whatever phase it was drawn on
    cls = lesion.lesion_class if lesion.lesion_class in DETECTION_CLASSES else None
    return GroundTruthLesion(volume, key, (float(lo[0]), float(lo[1]), float(hi[0]) + 1, float(hi[1]) + 1),
                             lesion_class=cls, lesion_id=str(lesion.id))


def proposal_from_record(r: ProposalRecord) -> Proposal3D:
    (i0, j0, k0), (i1, j1, k1) = r.box.min_ijk, r.box.max_ijk  # type: ignore[misc]
    probs = {k: v for k, v in r.class_scores.items() if k in DETECTION_CLASSES}
    key = r.key_slice if r.key_slice is not None and k0 <= r.key_slice <= k1 else (k0 + k1) // 2
    return Proposal3D((i0, j0, i1 + 1, j1 + 1), (k0, k1), r.score, key, probs)


@dataclass
class ProjectHarvest:
    """The studies of a round, their proposals (in the store's order) and the records they came from."""

    studies: list[HarvestStudy]
    proposals: dict[str, list[Proposal3D]]
    records: dict[str, list[ProposalRecord]]
    model: str
    study_ids: dict[str, int] = field(default_factory=dict)  # round id -> the store's study id
    reference_paths: dict[str, str] = field(default_factory=dict)  # round id -> reference phase's source file


def latest_model(project: Project) -> str:
    proposals = project.list_proposals()
    if not proposals:
        raise HarvestInputError(f"{project.path.name} holds no proposals: run the detector and import its "
                                f"proposals first (liverview detect, then the review menu's import)")
    return max(proposals, key=lambda p: (p.created_at, p.id)).source_model


def load_project_harvest(project: Project, fully_annotated: Iterable[str], model: str | None = None,
                         study_names: Iterable[str] | None = None) -> ProjectHarvest:
    """Every CT study (or those named) with its marks and ``model``'s proposals (default: the model of the
    newest proposal); decisions on the proposals of fully annotated studies give P_M^R / P_M^-."""
    reviewed = {s.id for s in resolve_studies(project, fully_annotated)}
    model = model or latest_model(project)
    chosen = resolve_studies(project, study_names) if study_names else \
        [s for s in project.list_studies() if s.modality == "CT"]
    studies, proposals, records, ids, paths = [], {}, {}, {}, {}
    for st in chosen:
        key = study_key(st)
        ids[key] = st.id
        phases: dict[PhaseKind, Volume] = {}
        reference = None
        for ph in project.list_phases(st.id):
            try:
                kind = PhaseKind(ph.kind)
            except ValueError:
                continue
            phases[kind] = _load_phase(ph.source_path)
            if ph.is_reference:
                reference = kind
                paths[key] = ph.source_path
        if reference is None:
            raise HarvestInputError(f"study {key} has no reference CT phase: add its phases first")
        ref = phases[reference]
        marks = [m for m in (mark_from_lesion(les, ref, key) for les in project.list_lesions(st.id)) if m is not None]
        recs = [r for r in project.list_proposals(st.id) if r.source_model == model]
        records[key] = recs
        proposals[key] = [proposal_from_record(r) for r in recs]
        decisions = {i: r.status in ACCEPTING for i, r in enumerate(recs) if r.status in (*ACCEPTING, "rejected")}
        studies.append(HarvestStudy(key, phases, reference, marks, st.id in reviewed, decisions=decisions))
    if not any(s.fully_annotated for s in studies):
        raise HarvestInputError("no fully annotated study among those harvested: name them with --fully-annotated")
    return ProjectHarvest(studies, proposals, records, model, ids, paths)
