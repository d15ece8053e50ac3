"""Write a round's harvested positives (P_H^+) back into the project as draft lesions, so a reader can
confirm or delete them in the review UI and the next round starts from them. Every lesion and every
proposal decision is its own audited store transaction (``Project.add_lesion`` / ``Project.decide``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from liverview.harvest.lesion_score import ScoredProposal
from liverview.harvest.project_data import ProjectHarvest
from liverview.review.proposal_import import proposal_record
from liverview.store.project import Project
from liverview.store.records import LESION_CLASSES

REVIEWER = "harvest-round"


@dataclass(frozen=True)
class WrittenLesion:
    """One harvested positive as stored: the new lesion and the proposal it came from (None when the
    proposal is not in the store)."""

    volume: str
    lesion_id: int
    proposal_id: int | None


def harvest_note(round_number: int, sp: ScoredProposal) -> str:
    return f"harvested in round {round_number}, s={sp.score:.3f}, s_g={sp.s_g:.3f}, s_c={sp.s_c:.3f}"


def write_back_harvest(project: Project, data: ProjectHarvest, harvested: Mapping[str, Sequence[ScoredProposal]],
                       round_number: int, classifier: str) -> list[WrittenLesion]:
    """Store every harvested proposal as a "draft" lesion (the detector's class, or "unknown") with its 3D
    box in mm and reference voxels, and mark the proposal it came from as accepted by the harvest round
    (``classifier`` is recorded as the deciding model), linked to the new lesion. A proposal already linked
    to a lesion is skipped, so running a round again does not duplicate its lesions."""
    if round_number < 1:
        raise ValueError(f"round number must be >= 1, got {round_number}")
    by_volume = {s.volume: s for s in data.studies}
    written = []
    for volume, items in harvested.items():
        if volume not in by_volume or volume not in data.study_ids:
            raise ValueError(f"harvested volume {volume!r} is not one of this round's studies")
        study = by_volume[volume]
        records = data.records.get(volume, [])
        for sp in items:
            record = records[sp.index] if sp.index < len(records) else None
            if record is not None and record.lesion_id is not None:
                continue  # written back by an earlier round (or made into a lesion by a reader): no duplicate
            cls = sp.proposal.lesion_class if sp.proposal.lesion_class in LESION_CLASSES else "unknown"
            box = proposal_record(sp.proposal, study.reference_volume, data.model).box
            note = harvest_note(round_number, sp)
            proposal_id = record.id if record is not None else None
            if proposal_id is not None:  # the lesion and the decision that links it: both or neither
                lesion, _ = project.accept_as_lesion(proposal_id, REVIEWER, cls, notes=note, box=box,
                                                     status="draft", model=classifier, note=note)
            else:
                lesion = project.add_lesion(data.study_ids[volume], cls, notes=note, box=box, status="draft")
            written.append(WrittenLesion(volume, lesion.id, proposal_id))
    return written
