"""Detector output (proposals.json, a CSV of 3D boxes, or a ProposalSet in memory) -> ProposalRecords.

Boxes arrive in voxels of the reference phase; the store wants them in mm as well, so the reference
volume's geometry converts them here (``box_mm``). A proposals.json written for another grid is refused
rather than silently misplaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from liverview.core.volume import Volume
from liverview.detection.proposals import (
    Proposal3D,
    ProposalFormatError,
    ProposalSet,
    box_mm,
    read_proposals,
    read_proposals_csv,
)
from liverview.store.records import BoxRecord, ProposalRecord

UNNAMED_MODEL = "imported"  # source_model of boxes whose file does not name a model


class ProposalGridError(ValueError):
    """The proposals were made on another voxel grid than the study's reference phase."""


@dataclass(frozen=True)
class ProposalImport:
    """Records ready for ``Project.add_proposals`` and the entries that could not be used."""

    records: tuple[ProposalRecord, ...]
    problems: tuple[str, ...]  # "line 7: z0 and z1 must be whole slice indices", ...
    model: str


def proposal_record(p: Proposal3D, reference: Volume, model: str) -> ProposalRecord:
    """One proposal as the store holds it: the box in mm and in inclusive reference voxels."""
    lo_mm, hi_mm = box_mm(p, reference)
    lo_ijk, hi_ijk = p.box_ijk()
    size = reference.size_ijk
    if any(h < 0 or lo >= n for lo, h, n in zip(lo_ijk, hi_ijk, size)):
        raise ValueError(f"box {p.box} slices {p.z_range} lies outside the reference volume "
                         f"({size[0]} x {size[1]} x {size[2]} voxels)")
    lo_ijk = tuple(max(0, v) for v in lo_ijk)
    hi_ijk = tuple(min(n - 1, v) for v, n in zip(hi_ijk, size))
    box = BoxRecord("3d", lo_mm, hi_mm, lo_ijk, hi_ijk)
    return ProposalRecord(box=box, score=p.score, source_model=model or UNNAMED_MODEL,
                          lesion_class=p.lesion_class, class_scores=dict(p.class_probs),
                          key_slice=min(max(p.key_slice, 0), size[2] - 1))


def records_from_proposals(proposals: Iterable[Proposal3D], reference: Volume, model: str,
                           where: str = "proposal") -> ProposalImport:
    """Convert proposals; one that lies outside the volume is reported and left out."""
    records, problems = [], []
    for n, p in enumerate(proposals, start=1):
        try:
            records.append(proposal_record(p, reference, model))
        except ValueError as exc:
            problems.append(f"{where} {n}: {exc}")
    return ProposalImport(tuple(records), tuple(problems), model or UNNAMED_MODEL)


def check_grid(proposals: ProposalSet, reference: Volume, source: str) -> None:
    """Refuse a proposal set whose recorded grid differs from the reference volume's."""
    if proposals.shape is not None and tuple(proposals.shape) != tuple(reference.array.shape):
        raise ProposalGridError(f"{source}: the proposals were made on a {tuple(proposals.shape)} (Z, Y, X) grid, "
                                f"the reference phase is {tuple(reference.array.shape)}: detect again on this study")
    if proposals.spacing_mm is not None and not np.allclose(proposals.spacing_mm, reference.spacing, atol=1e-3):
        raise ProposalGridError(f"{source}: voxel spacing {proposals.spacing_mm} differs from the reference "
                                f"phase's {reference.spacing}")
    if proposals.origin_mm is not None and not np.allclose(proposals.origin_mm, reference.origin, atol=1e-2):
        raise ProposalGridError(f"{source}: origin {proposals.origin_mm} differs from the reference phase's "
                                f"{reference.origin}")


def records_from_set(proposals: ProposalSet, reference: Volume, source: str = "detector") -> ProposalImport:
    check_grid(proposals, reference, source)
    return records_from_proposals(proposals.sorted_by_score(), reference, proposals.model, "proposal")


def import_proposals_file(path: str | Path, reference: Volume, model: str = "") -> ProposalImport:
    """Read proposals.json (``liverview detect``) or a CSV of 3D boxes (x0,y0,z0,x1,y1,z1,score in
    reference voxels). CSV rows that cannot be read are reported with their line number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no proposals file at {path}")
    if path.suffix.lower() == ".csv":
        try:
            read = read_proposals_csv(path)
        except UnicodeDecodeError as exc:
            raise ProposalFormatError(f"{path}: not a text CSV file ({exc})") from None
        problems = [f"line {line}: {reason}" for line, reason in read.problems]
        converted = records_from_proposals(read.proposals, reference, model or path.stem, "row")
        return ProposalImport(converted.records, tuple(problems) + converted.problems, converted.model)
    proposal_set = read_proposals(path)
    check_grid(proposal_set, reference, str(path))
    return records_from_proposals(proposal_set.sorted_by_score(), reference,
                                  model or proposal_set.model or path.stem, "proposal")
