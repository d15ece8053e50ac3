"""The Project's detector proposals and the reviewers' decisions on them."""

from __future__ import annotations

from typing import Any, Iterable

from liverview.store.edit_log import Edit, Row
from liverview.store.entity_methods import EntityMethods
from liverview.store.project_errors import UnknownEntityError
from liverview.store.records import (
    BoxRecord,
    DecisionRecord,
    InvalidRecordError,
    ProposalRecord,
    check_decision,
    check_proposal_status,
)
from liverview.store.row_mapping import (
    box_from_row,
    box_values,
    decision_from_row,
    proposal_from_row,
    proposal_values,
)
from liverview.store.timestamps import utc_timestamp


def insert_proposals(edit: Edit, study_id: int, items: Iterable[ProposalRecord]) -> list[int]:
    """Write checked proposals (and their slice boxes) of one study inside ``edit``; returns their ids."""
    ids: list[int] = []
    now = utc_timestamp()
    for p in items:
        pid = edit.insert("proposals", proposal_values(p, study_id, now))
        ids.append(pid)
        for b in p.slice_boxes:
            edit.insert("boxes", {**box_values(b), "proposal_id": pid})
    return ids


def check_new_proposals(proposals: Iterable[ProposalRecord]) -> list[ProposalRecord]:
    """The proposals as a list; InvalidRecordError for anything that is not a new, unlinked ProposalRecord."""
    items = list(proposals)
    for p in items:
        if not isinstance(p, ProposalRecord):
            raise InvalidRecordError(f"proposals must be ProposalRecord objects, got {type(p).__name__}")
        if p.lesion_id is not None:
            raise InvalidRecordError("a new proposal cannot be linked to a lesion yet: link it with decide()")
    return items


class ProposalMethods(EntityMethods):
    """Mixed into Project."""

    def add_proposals(self, study_id: int, proposals: Iterable[ProposalRecord]) -> list[ProposalRecord]:
        """Store a detector's proposals for a study in one transaction; returns them as saved, in the
        order given (ids, study and time are the store's). Audited, but not on the undo stack: a
        background import must never be what the reader's Ctrl+Z takes back; their decisions are."""
        items = check_new_proposals(proposals)
        if not items:
            return []
        with self._edit("add_proposals", "study", study_id, undoable=False) as edit:
            self._require("studies", study_id, "study")
            ids = insert_proposals(edit, study_id, items)
        by_id = {p.id: p for p in self._proposals("WHERE p.study_id = ?", (study_id,))}
        return [by_id[i] for i in ids]

    def replace_pending_proposals(self, study_id: int, proposals: Iterable[ProposalRecord],
                                  keep: Iterable[int] = ()) -> tuple[list[ProposalRecord], list[int]]:
        """A new detection run: in one transaction, remove the study's pending proposals (never decided or
        linked to a lesion) except those in ``keep``, and store ``proposals``. Returns (the new proposals as
        saved, the ids removed). Decided proposals and their decisions stay. Audited, not on the undo stack
        (like add_proposals); the redo history ends here, as after any new edit."""
        items = list(proposals)
        for p in items:
            if not isinstance(p, ProposalRecord):
                raise InvalidRecordError(f"proposals must be ProposalRecord objects, got {type(p).__name__}")
            if p.lesion_id is not None:
                raise InvalidRecordError("a new proposal cannot be linked to a lesion yet: link it with decide()")
        keep_ids = {int(k) for k in keep}
        ids: list[int] = []
        removed: list[int] = []
        with self._edit("replace_pending_proposals", "study", study_id, undoable=False) as edit:
            self._require("studies", study_id, "study")
            conn = self._conn
            for r in conn.execute(
                    "SELECT p.id FROM proposals p WHERE p.study_id = ? AND p.status = 'pending' "
                    "AND p.lesion_id IS NULL AND NOT EXISTS "
                    "(SELECT 1 FROM review_decisions d WHERE d.proposal_id = p.id) ORDER BY p.id",
                    (study_id,)).fetchall():
                if r["id"] in keep_ids:
                    continue
                for b in conn.execute("SELECT id FROM boxes WHERE proposal_id = ?", (r["id"],)).fetchall():
                    edit.delete("boxes", b["id"])
                edit.delete("proposals", r["id"])
                removed.append(int(r["id"]))
            if removed:
                conn.execute("DELETE FROM undo_stack WHERE undone = 1")  # a redo could not find them
            ids += insert_proposals(edit, study_id, items)
        by_id = {p.id: p for p in self._proposals("WHERE p.study_id = ?", (study_id,))}
        return [by_id[i] for i in ids], removed

    def get_proposal(self, proposal_id: int) -> ProposalRecord:
        found = self._proposals("WHERE p.id = ?", (proposal_id,))
        if not found:
            raise UnknownEntityError(f"no proposal {proposal_id} in {self._path.name}")
        return found[0]

    def list_proposals(self, study_id: int | None = None, status: str | None = None,
                       min_score: float | None = None, max_score: float | None = None) -> list[ProposalRecord]:
        """Proposals, highest score first, filtered by study, review status and score range (inclusive)."""
        where, params = [], []
        if study_id is not None:
            where.append("p.study_id = ?")
            params.append(study_id)
        if status is not None:
            where.append("p.status = ?")
            params.append(check_proposal_status(status))
        if min_score is not None:
            where.append("p.score >= ?")
            params.append(float(min_score))
        if max_score is not None:
            where.append("p.score <= ?")
            params.append(float(max_score))
        return self._proposals(("WHERE " + " AND ".join(where)) if where else "", tuple(params))

    def _proposals(self, where: str, params: tuple[Any, ...]) -> list[ProposalRecord]:
        conn = self._conn
        boxes: dict[int, list[BoxRecord]] = {}
        for r in conn.execute(f"SELECT b.* FROM boxes b JOIN proposals p ON p.id = b.proposal_id {where} "
                              "ORDER BY b.id", params):
            boxes.setdefault(r["proposal_id"], []).append(box_from_row(r))
        rows = conn.execute(f"SELECT p.* FROM proposals p {where} ORDER BY p.score DESC, p.id", params)
        return [proposal_from_row(r, boxes.get(r["id"], ())) for r in rows]

    # --- review ----------------------------------------------------------------------------------
    def decide(self, proposal_id: int, decision: str, reviewer: str, model: str | None = None, note: str = "",
               lesion_id: int | None = None) -> DecisionRecord:
        """Record a review decision ('accepted', 'rejected', 'edited', 'flagged') with its time, and set
        the proposal's status to it. ``model`` defaults to the model that made the proposal; ``lesion_id``
        links the lesion the reviewer made from it (create it first with add_lesion)."""
        check_decision(decision)
        if not reviewer or not str(reviewer).strip():
            raise InvalidRecordError("a review decision needs the reviewer's name")
        if lesion_id is not None and decision == "rejected":
            raise InvalidRecordError("a rejected proposal cannot be linked to a lesion")
        with self._edit("decide", "proposal", proposal_id) as edit:
            decision_id = self._insert_decision(edit, proposal_id, decision, reviewer, model, note, lesion_id)
        return self._decision(decision_id)

    def accept_as_lesion(self, proposal_id: int, reviewer: str, lesion_class: str, notes: str = "",
                         box: BoxRecord | None = None, status: str = "draft", model: str | None = None,
                         note: str = "") -> tuple[Any, DecisionRecord]:
        """A new lesion of the proposal's study and the 'accepted' decision linking the proposal to it, in one
        transaction and one undo step: a crash or a kill leaves both or neither (two edits left a lesion
        without its decision when stopped between them). Returns (lesion, decision)."""
        if not reviewer or not str(reviewer).strip():
            raise InvalidRecordError("a review decision needs the reviewer's name")
        proposal = self._require("proposals", proposal_id, "proposal")
        values = self._new_lesion_values(proposal["study_id"], lesion_class, notes, None, box, status)
        with self._edit("accept_as_lesion", "proposal", proposal_id) as edit:
            lesion_id = self._insert_lesion(edit, values, None, box)
            decision_id = self._insert_decision(edit, proposal_id, "accepted", reviewer, model, note, lesion_id)
        return self.get_lesion(lesion_id), self._decision(decision_id)

    def _insert_decision(self, edit: Edit, proposal_id: int, decision: str, reviewer: str, model: str | None,
                         note: str, lesion_id: int | None) -> int:
        """Write a decision and the proposal's new status (and lesion link) inside ``edit``; returns its id."""
        proposal = self._require("proposals", proposal_id, "proposal")
        if lesion_id is not None:
            lesion = self._live_lesion(lesion_id)
            if lesion["study_id"] != proposal["study_id"]:
                raise InvalidRecordError(f"lesion {lesion_id} belongs to another study than proposal "
                                         f"{proposal_id}")
        decision_id = edit.insert("review_decisions", {
            "proposal_id": proposal_id, "decision": decision, "reviewer": str(reviewer),
            "decided_at": utc_timestamp(), "model": proposal["source_model"] if model is None else str(model),
            "note": str(note)})
        update: Row = {"status": decision}
        if lesion_id is not None:
            update["lesion_id"] = lesion_id
        edit.update("proposals", proposal_id, update)
        return decision_id

    def _decision(self, decision_id: int) -> DecisionRecord:
        return decision_from_row(self._conn.execute("SELECT * FROM review_decisions WHERE id = ?",
                                                    (decision_id,)).fetchone())

    def decisions(self, proposal_id: int) -> list[DecisionRecord]:
        """Every decision taken on a proposal, oldest first."""
        return [decision_from_row(r) for r in self._conn.execute(
            "SELECT * FROM review_decisions WHERE proposal_id = ? ORDER BY id", (proposal_id,))]
