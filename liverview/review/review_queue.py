"""The review queue of one study's proposals, without Qt: order, filters, current item, decisions, undo.

Nothing here is saved on its own: every decision goes to the project at once (one committed edit each),
and the place to resume is derived from those decisions (the first pending proposal in queue order), so
a crash or a restart resumes exactly where the reviewer was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from liverview.store.project import Project
from liverview.store.records import PROPOSAL_STATUSES, DecisionRecord, ProposalRecord, StoreChange


def box_volume_mm3(proposal: ProposalRecord) -> float:
    """Volume of the proposal's box in mm^3 (from its mm corners)."""
    lo, hi = proposal.box.min_mm, proposal.box.max_mm
    return float((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]))


@dataclass(frozen=True)
class QueueFilter:
    """Which proposals the queue shows. None = no limit; statuses None = every status."""

    statuses: frozenset[str] | None = None
    min_score: float | None = None
    max_score: float | None = None
    min_volume_mm3: float | None = None
    max_volume_mm3: float | None = None

    def __post_init__(self) -> None:
        if self.statuses is not None:
            unknown = set(self.statuses) - set(PROPOSAL_STATUSES)
            if unknown:
                raise ValueError(f"unknown status {sorted(unknown)}: use {', '.join(PROPOSAL_STATUSES)}")
            object.__setattr__(self, "statuses", frozenset(self.statuses))
        for lo, hi, what in ((self.min_score, self.max_score, "score"),
                             (self.min_volume_mm3, self.max_volume_mm3, "volume")):
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"the {what} range is empty: minimum {lo} > maximum {hi}")

    def accepts(self, p: ProposalRecord) -> bool:
        if self.statuses is not None and p.status not in self.statuses:
            return False
        if self.min_score is not None and p.score < self.min_score:
            return False
        if self.max_score is not None and p.score > self.max_score:
            return False
        v = box_volume_mm3(p)
        if self.min_volume_mm3 is not None and v < self.min_volume_mm3:
            return False
        if self.max_volume_mm3 is not None and v > self.max_volume_mm3:
            return False
        return True


@dataclass(frozen=True)
class ReviewProgress:
    reviewed: int  # proposals of the study with a decision
    total: int  # proposals of the study
    shown: int  # proposals the filter lets through

    def __str__(self) -> str:
        return f"{self.reviewed} / {self.total} reviewed"


class ReviewQueue:
    """Proposals of one study, best score first, through a filter; ``index`` is the current one."""

    def __init__(self, project: Project, study_id: int, filter: QueueFilter | None = None,
                 reviewer: str | None = None) -> None:
        self.project = project
        self.study_id = study_id
        self.filter = filter or QueueFilter()
        self.reviewer = reviewer or project.user
        self.items: list[ProposalRecord] = []
        self.index: int | None = None
        self.on_changed: Callable[[], None] = lambda: None  # current item or list changed
        self.reload()
        self.go_to_resume_point()

    # --- the list -------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the proposals again from the project; keep the current proposal current if still shown."""
        current_id = self.current.id if self.current is not None else None
        every = self.project.list_proposals(self.study_id)
        self.items = [p for p in every if self.filter.accepts(p)]
        self._progress = ReviewProgress(sum(p.status != "pending" for p in every), len(every), len(self.items))
        self.items.sort(key=lambda p: (-p.score, p.id))
        self.index = None
        if current_id is not None:
            self.index = self.position_of(current_id)
        if self.index is None and self.items:
            self.index = 0

    def set_filter(self, new_filter: QueueFilter) -> None:
        self.filter = new_filter
        self.reload()
        self.on_changed()

    def position_of(self, proposal_id: int) -> int | None:
        for n, p in enumerate(self.items):
            if p.id == proposal_id:
                return n
        return None

    @property
    def current(self) -> ProposalRecord | None:
        if self.index is None or not 0 <= self.index < len(self.items):
            return None
        return self.items[self.index]

    def progress(self) -> ReviewProgress:
        """Counts as of the last reload (every decision through the queue reloads)."""
        return self._progress

    def resume_index(self) -> int | None:
        """The first pending proposal in queue order; the last one when every shown one is decided."""
        for n, p in enumerate(self.items):
            if p.status == "pending":
                return n
        return len(self.items) - 1 if self.items else None

    # --- navigation -----------------------------------------------------------------------------
    def go_to(self, index: int) -> ProposalRecord | None:
        if not self.items:
            self.index = None
        else:
            self.index = min(max(int(index), 0), len(self.items) - 1)
        self.on_changed()
        return self.current

    def go_to_id(self, proposal_id: int) -> ProposalRecord | None:
        n = self.position_of(proposal_id)
        return self.go_to(n) if n is not None else self.current

    def go_to_resume_point(self) -> ProposalRecord | None:
        n = self.resume_index()
        return self.go_to(n) if n is not None else self.go_to(0)

    def next(self) -> ProposalRecord | None:
        return self.go_to((self.index or 0) + 1) if self.index is not None else self.go_to(0)

    def previous(self) -> ProposalRecord | None:
        return self.go_to((self.index or 0) - 1) if self.index is not None else self.go_to(0)

    # --- decisions ------------------------------------------------------------------------------
    def decide(self, decision: str, note: str = "", lesion_id: int | None = None,
               advance: bool = True) -> DecisionRecord:
        """Store a decision on the current proposal at once (reviewer, time, the proposal's model),
        then move on to the next proposal in the queue."""
        p = self.current
        if p is None:
            raise LookupError("the review queue is empty: nothing to decide on")
        old_index = self.index
        following = self.items[old_index + 1].id if advance and old_index + 1 < len(self.items) else None
        record = self.project.decide(p.id, decision, self.reviewer, model=p.source_model, note=note,
                                     lesion_id=lesion_id)
        self.reload()
        n = self.position_of(following if following is not None else p.id)
        if n is None:  # the decided one left a status filter and was the last: stay at its old place
            n = min(old_index, len(self.items) - 1)
        self.go_to(n)
        return record

    def accept(self, note: str = "") -> DecisionRecord:
        return self.decide("accepted", note)

    def reject(self, note: str = "") -> DecisionRecord:
        return self.decide("rejected", note)

    def flag(self, note: str = "") -> DecisionRecord:
        return self.decide("flagged", note)

    def edited(self, lesion_id: int, note: str = "", advance: bool = False) -> DecisionRecord:
        """The reviewer made a lesion from the current proposal (e.g. an adjusted RECIST): link it."""
        return self.decide("edited", note, lesion_id=lesion_id, advance=advance)

    def undo(self) -> StoreChange | None:
        """Undo the last edit of the project (a decision, or a lesion edit) and show what it touched."""
        change = self.project.undo()
        self.reload()
        if change is not None and change.entity == "proposal" and change.entity_id is not None:
            self.go_to_id(change.entity_id)
        else:
            self.on_changed()
        return change
