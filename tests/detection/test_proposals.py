"""proposals.json and CSV import: boxes on the reference grid, mm from the volume's geometry."""

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.detection.proposals import (Proposal3D, ProposalFormatError, ProposalSet, box_iou, box_mm,
                                           read_proposals, read_proposals_csv, write_proposals)


def test_box_iou_hand_computed():
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert box_iou((0, 0, 4, 4), (0, 0, 4, 4)) == 1.0


def test_round_trip_keeps_everything_and_sorts_by_score(tmp_path):
    vol = Volume(np.zeros((20, 30, 40), np.int16), spacing=(0.5, 0.7, 2.0), origin=(10, -5, 3))
    ps = [Proposal3D((1, 2, 11, 8), (3, 6), 0.4, 5, {"cyst": 0.7, "hcc": 0.3}),
          Proposal3D((5.5, 6, 9, 9), (0, 0), 0.9, 0, {"metastasis": 0.8, "cyst": 0.2})]
    path = write_proposals(tmp_path / "p.json", ProposalSet.for_volume(ps, vol, "study-1", "mscn"))
    back = read_proposals(path)
    assert [p.score for p in back.proposals] == [0.9, 0.4]
    assert back.proposals[1] == ps[0] and back.proposals[0].lesion_class == "metastasis"
    assert back.spacing_mm == (0.5, 0.7, 2.0) and back.shape == (20, 30, 40)
    lo, hi = box_mm(ps[0], back.grid_volume())
    # x pixel edges 1..11 -> centres 0.5..10.5 -> mm 10 + 0.5*[0.5, 10.5]; z slices 3..6 +- half a slice
    assert lo == pytest.approx((10.25, -5 + 0.7 * 1.5, 3 + 2 * 2.5))
    assert hi == pytest.approx((15.25, -5 + 0.7 * 7.5, 3 + 2 * 6.5))


def test_bad_json_names_the_proposal(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"format": "liverview-proposals", "version": 1, "proposals": '
                    '[{"box": [0,0,1,1], "z_range": [0,1], "score": 1}, {"box": [5,0,1,1], "z_range": [0,0], "score": 1}]}')
    with pytest.raises(ProposalFormatError, match="proposal 2"):
        read_proposals(path)
    path.write_text("{}")
    with pytest.raises(ProposalFormatError, match="not a LiverView proposals file"):
        read_proposals(path)


def test_csv_import_reports_bad_rows_with_line_numbers(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x0,y0,z0,x1,y1,z1,score,lesion_class\n"
                    "1,2,3,11,12,5,0.8,hcc\n"
                    "1,2,3,0,12,5,0.8,\n"
                    "1,2,3.5,11,12,5,0.8,\n"
                    "1,2,3,11,12,5,abc,\n"
                    "4,4,0,8,8,0,0.1,\n")
    result = read_proposals_csv(path)
    assert len(result.proposals) == 2 and result.proposals[0].lesion_class == "hcc"
    assert [line for line, _ in result.problems] == [3, 4, 5]


def test_per_slice_boxes_are_optional_checked_and_kept_in_proposals_json(tmp_path):
    plain = Proposal3D((0, 0, 10, 10), (2, 4), 0.5, 3)
    assert plain.slice_boxes == {}
    p = Proposal3D((0, 0, 10, 10), (2, 4), 0.9, 3, {}, {4: (1, 1, 9, 9), 3: [0, 0, 10, 10]})
    assert list(p.slice_boxes) == [3, 4] and p.slice_boxes[3] == (0.0, 0.0, 10.0, 10.0)
    with pytest.raises(ValueError, match="slice 5 lies outside"):
        Proposal3D((0, 0, 10, 10), (2, 4), 0.9, 3, {}, {5: (0, 0, 1, 1)})
    path = write_proposals(tmp_path / "p.json", ProposalSet((p, plain)))
    assert '"slice_boxes"' in path.read_text() and path.read_text().count('"slice_boxes"') == 1
    back = read_proposals(path).proposals
    assert back[0] == p and back[1] == plain
