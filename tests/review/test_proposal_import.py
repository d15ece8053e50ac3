"""Proposals (JSON / CSV) -> store records with mm boxes from the reference geometry."""

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D, ProposalFormatError, ProposalSet, box_mm, write_proposals
from liverview.review.proposal_import import ProposalGridError, import_proposals_file, records_from_set
from tests.review.helpers import reference_volume


def test_json_round_trip_gives_mm_boxes(tmp_path):
    volume = reference_volume()
    props = [Proposal3D((10, 12, 20, 30), (3, 6), 0.9, 4, {"hcc": 0.8, "cyst": 0.2}),
             Proposal3D((40, 40, 44, 46), (10, 10), 0.4, 10)]
    path = write_proposals(tmp_path / "proposals.json", ProposalSet.for_volume(props, volume, model="mscn-x"))
    result = import_proposals_file(path, volume)
    assert result.model == "mscn-x" and not result.problems
    first = result.records[0]
    assert first.score == 0.9 and first.lesion_class == "hcc" and first.key_slice == 4
    lo, hi = box_mm(props[0], volume)
    assert first.box.min_mm == pytest.approx(lo) and first.box.max_mm == pytest.approx(hi)
    assert first.box.min_ijk == (10, 12, 3) and first.box.max_ijk == (19, 29, 6)
    # x from the pixel edges, z from whole slices: 10 px * 0.8 mm, 4 slices * 2.5 mm
    assert hi[0] - lo[0] == pytest.approx(8.0) and hi[2] - lo[2] == pytest.approx(10.0)


def test_json_of_another_grid_is_refused(tmp_path):
    volume = reference_volume()
    other = Volume(np.zeros((30, 64, 64), np.int16), (0.8, 0.8, 2.5))
    path = write_proposals(tmp_path / "p.json", ProposalSet.for_volume([Proposal3D((1, 1, 5, 5), (0, 1), 0.5, 0)],
                                                                       other))
    with pytest.raises(ProposalGridError, match="detect again"):
        import_proposals_file(path, volume)
    with pytest.raises(ProposalGridError):
        records_from_set(ProposalSet.for_volume([], other), volume)


def test_csv_bad_rows_have_line_numbers(tmp_path):
    volume = reference_volume()
    path = tmp_path / "boxes.csv"
    path.write_text("x0,y0,z0,x1,y1,z1,score\n"
                    "10,10,2,20,20,4,0.8\n"
                    "10,10,2.5,20,20,4,0.7\n"       # line 3: fractional slice
                    "a,10,2,20,20,4,0.7\n"          # line 4: not a number
                    "500,500,2,510,510,4,0.6\n"     # line 5: outside the volume
                    "5,5,0,9,9,0,0.3\n")
    result = import_proposals_file(path, volume)
    assert [r.score for r in result.records] == [0.8, 0.3]
    assert any(p.startswith("line 3:") for p in result.problems)
    assert any(p.startswith("line 4:") for p in result.problems)
    assert any("outside the reference volume" in p for p in result.problems)
    assert result.model == "boxes"


def test_unreadable_files(tmp_path):
    volume = reference_volume()
    with pytest.raises(FileNotFoundError):
        import_proposals_file(tmp_path / "missing.json", volume)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProposalFormatError):
        import_proposals_file(bad, volume)
    nocols = tmp_path / "n.csv"
    nocols.write_text("a,b\n1,2\n")
    with pytest.raises(ProposalFormatError, match="missing column"):
        import_proposals_file(nocols, volume)
