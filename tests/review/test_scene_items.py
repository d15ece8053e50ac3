"""Store records -> what the 3D view draws: boxes coloured by review status, RECIST axes as segments."""

from datetime import datetime

import numpy as np

from liverview.review.scene_items import (CURRENT_COLOR, RECIST_COLOR, STATUS_COLORS, SceneBox,
                                          overlays_from_records)
from liverview.store.records import BoxRecord, LesionRecord, ProposalRecord, RecistRecord

NOW = datetime(2026, 1, 1)


def proposal(pid, status, lo=(0, 0, 0), hi=(10, 20, 30)):
    return ProposalRecord(box=BoxRecord("3d", lo, hi, (0, 0, 0), (1, 1, 1)), score=0.5, source_model="m", id=pid, status=status)


def lesion(lid, long_axis, short_axis=None, deleted=False):
    recist = None if long_axis is None else RecistRecord(long_axis, short_axis, 3, "venous")
    return LesionRecord(lid, 1, "metastasis", "open", "", recist, "u", NOW, NOW, deleted)


def test_box_has_twelve_axis_parallel_edges_on_its_faces():
    edges = SceneBox((0, 0, 0), (1, 2, 3), (1, 2, 3)).edges()
    assert edges.shape == (12, 2, 3)
    diff = edges[:, 1] - edges[:, 0]
    assert sorted(np.abs(diff).sum(axis=1).tolist()) == [1] * 4 + [2] * 4 + [3] * 4
    assert (np.count_nonzero(diff, axis=1) == 1).all()
    assert len({tuple(map(tuple, e)) for e in edges}) == 12


def test_colours_follow_status_and_the_current_proposal_is_highlighted_and_last():
    props = [proposal(1, "pending"), proposal(2, "accepted"), proposal(3, "rejected"), proposal(4, "flagged"),
             proposal(5, "edited")]
    scene = overlays_from_records(props, [], current_id=1)
    assert [b.color for b in scene.boxes[:-1]] == [STATUS_COLORS[s] for s in
                                                   ("accepted", "rejected", "flagged", "edited")]
    assert scene.boxes[-1].current and scene.boxes[-1].color == CURRENT_COLOR
    assert sum(b.current for b in scene.boxes) == 1
    assert overlays_from_records(props, [], current_id=None).boxes[0].color == STATUS_COLORS["pending"]


def test_recist_long_and_short_axes_are_segments_deleted_and_unmeasured_lesions_are_not():
    lesions = [lesion(1, ((0, 0, 0), (10, 0, 0)), ((5, -2, 0), (5, 2, 0))),
               lesion(2, ((0, 0, 9), (4, 0, 9))),
               lesion(3, ((1, 1, 1), (2, 2, 2)), deleted=True),
               lesion(4, None)]
    scene = overlays_from_records([], lesions)
    assert [(s.a, s.b) for s in scene.segments] == [((0, 0, 0), (10, 0, 0)), ((5, -2, 0), (5, 2, 0)),
                                                     ((0, 0, 9), (4, 0, 9))]
    assert all(s.color == RECIST_COLOR for s in scene.segments)
    assert overlays_from_records([], []).empty
