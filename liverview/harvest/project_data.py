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


@dataclass(frozen=True)
class StudyToHarvest:
    """What the store says of one study of a round, without its images: enough for a worker to read the
    volumes and rebuild the study (picklable; the driver reads it, a Ray task loads it)."""

    volume: str  # the round's id for the study
    study_id: int
    phases: tuple[tuple[PhaseKind, str], ...]  # (kind, source file) in the store's order
    reference: PhaseKind
    reference_path: str
    lesions: tuple[LesionRecord, ...]
    records: tuple[ProposalRecord, ...]  # the round's model's proposals, in the store's order
    fully_annotated: bool
    decisions: tuple[tuple[int, bool], ...]  # proposal index -> accepted

    @property
    def proposals(self) -> list[Proposal3D]:
        return [proposal_from_record(r) for r in self.records]


def read_project_round(project: Project, fully_annotated: Iterable[str], model: str | None = None,
                       study_names: Iterable[str] | None = None) -> tuple[list[StudyToHarvest], str]:
    """The round's studies as the store holds them (no image is read), in the store's order however they
    were named (the classifier's training material is concatenated in this order, so naming the same studies
    in another order must not change it), and the model whose proposals it uses (default: the model of the
    newest proposal)."""
    reviewed = {s.id for s in resolve_studies(project, fully_annotated)}
    model = model or latest_model(project)
    named = {s.id for s in resolve_studies(project, study_names)} if study_names else None
    chosen = [s for s in project.list_studies() if (s.id in named if named is not None else s.modality == "CT")]
    out = []
    for st in chosen:
        key = study_key(st)
        phases: list[tuple[PhaseKind, str]] = []
        reference, reference_path = None, ""
        for ph in project.list_phases(st.id):
            try:
                kind = PhaseKind(ph.kind)
            except ValueError:
                continue
            phases.append((kind, ph.source_path))
            if ph.is_reference:
                reference, reference_path = kind, ph.source_path
        if reference is None:
            raise HarvestInputError(f"study {key} has no reference CT phase: add its phases first")
        recs = tuple(r for r in project.list_proposals(st.id) if r.source_model == model)
        decisions = tuple((i, r.status in ACCEPTING) for i, r in enumerate(recs)
                          if r.status in (*ACCEPTING, "rejected"))
        out.append(StudyToHarvest(key, st.id, tuple(phases), reference, reference_path,
                                  tuple(project.list_lesions(st.id)), recs, st.id in reviewed, decisions))
    if not any(s.fully_annotated for s in out):
        raise HarvestInputError("no fully annotated study among those harvested: name them with --fully-annotated")
    return out, model


def load_harvest_study(study: StudyToHarvest) -> HarvestStudy:
    """Read the study's phases (a later phase of the same kind replaces an earlier one) and place its
    lesions' marks on the reference grid. Raises whatever reading the files raises."""
    phases: dict[PhaseKind, Volume] = {}
    for kind, path in study.phases:
        phases[kind] = _load_phase(path)
    ref = phases[study.reference]
    marks = [m for m in (mark_from_lesion(les, ref, study.volume) for les in study.lesions) if m is not None]
    return HarvestStudy(study.volume, phases, study.reference, marks, study.fully_annotated,
                        decisions=dict(study.decisions))


def load_project_harvest(project: Project, fully_annotated: Iterable[str], model: str | None = None,
                         study_names: Iterable[str] | None = None) -> ProjectHarvest:
    """Every CT study (or those named) with its marks and ``model``'s proposals (default: the model of the
    newest proposal); decisions on the proposals of fully annotated studies give P_M^R / P_M^-. Reads every
    study's images in this process (a round on Ray reads them in its tasks instead: harvest.ray_round)."""
    plans, model = read_project_round(project, fully_annotated, model, study_names)
    return ProjectHarvest([load_harvest_study(p) for p in plans], {p.volume: p.proposals for p in plans},
                          {p.volume: list(p.records) for p in plans}, model,
                          {p.volume: p.study_id for p in plans}, {p.volume: p.reference_path for p in plans})
