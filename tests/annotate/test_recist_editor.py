"""RECIST editing logic without a display: draw, drag, commit once per gesture, undo."""

import numpy as np
import pytest

from liverview.annotate.recist_editor import MIN_LONG_AXIS_MM, RecistEditor, SlicePlane
from liverview.measure.recist import RecistHandle
from liverview.store.project import Project

Z = np.array([0.0, 0.0, 1.0])


@pytest.fixture
def editor(tmp_path):
    project = Project.create(tmp_path / "p.lvproj", "dr-a")
    study_id = project.add_study(uid="s1")
    yield RecistEditor(project, study_id)
    project.close()


def plane(z=10.0, slice_index=4) -> SlicePlane:
    return SlicePlane(np.array([0.0, 0.0, z]), Z, "arterial", slice_index, 1.25)


def test_a_drag_draws_one_lesion_with_a_perpendicular_proposed_short_axis(editor):
    editor.press(np.array([0.0, 0.0, 10.0]), plane(), 2.0)
    for x in np.linspace(1, 30, 12):
        editor.move(np.array([x, 0.5 * x, 10.3]))  # off-plane by 0.3 mm: projected back on the plane
    lesion = editor.release(np.array([30.0, 15.0, 10.0]))
    assert len(editor.project.list_lesions(editor.study_id)) == 1  # one edit for the whole gesture
    r = lesion.recist
    assert r.long_mm == pytest.approx(np.hypot(30, 15))
    long_dir = np.subtract(r.long_axis[1], r.long_axis[0])
    short_dir = np.subtract(r.short_axis[1], r.short_axis[0])
    assert abs(long_dir @ short_dir) < 1e-9
    assert r.short_mm == pytest.approx(r.long_mm / 2)
    assert all(p[2] == pytest.approx(10.0) for p in (*r.long_axis, *r.short_axis))
    assert (r.key_slice, r.phase) == (4, "arterial")
    assert editor.selected_id == lesion.id


def test_a_click_is_not_a_measurement(editor):
    editor.press(np.array([0.0, 0.0, 10.0]), plane(), 2.0)
    assert editor.release(np.array([MIN_LONG_AXIS_MM / 2, 0.0, 10.0])) is None
    assert editor.project.list_lesions(editor.study_id) == []


def test_dragging_an_end_point_keeps_axes_perpendicular_and_commits_once(editor):
    editor.press(np.array([0.0, 0.0, 10.0]), plane(), 2.0)
    first = editor.release(np.array([20.0, 0.0, 10.0]))
    audit_before = len(editor.project.audit_log())
    editor.press(np.array([20.5, 0.4, 10.0]), plane(), 2.0)  # grabs LONG_END
    rng = np.random.default_rng(3)
    for _ in range(50):  # a fast, jittery drag
        editor.move(np.array([20.0, 0.0, 10.0]) + rng.normal(0, 6, 3))
    moved = editor.release(np.array([14.0, 12.0, 10.0]))
    assert moved.id == first.id
    assert len(editor.project.audit_log()) == audit_before + 1
    r = moved.recist
    assert r.long_axis[1] == pytest.approx((14.0, 12.0, 10.0))
    d_long = np.subtract(r.long_axis[1], r.long_axis[0])
    d_short = np.subtract(r.short_axis[1], r.short_axis[0])
    assert abs(d_long @ d_short) / (np.linalg.norm(d_long) * np.linalg.norm(d_short)) < 1e-9
    editor.project.undo()
    assert editor.project.get_lesion(first.id).recist == first.recist
    editor.project.redo()
    assert editor.project.get_lesion(first.id).recist == r


def test_hit_test_only_sees_marks_on_the_shown_plane(editor):
    editor.press(np.array([0.0, 0.0, 10.0]), plane(), 2.0)
    editor.release(np.array([20.0, 0.0, 10.0]))
    assert editor.hit_test(np.array([0.0, 0.5, 10.0]), plane(), 1.0).handle is RecistHandle.LONG_START
    assert editor.hit_test(np.array([0.0, 0.5, 15.0]), plane(z=15.0, slice_index=6), 1.0) is None
    assert editor.hit_test(np.array([5.0, 5.0, 10.0]), plane(), 1.0) is None


def test_delete_selected_is_undoable(editor):
    editor.press(np.array([0.0, 0.0, 10.0]), plane(), 2.0)
    lesion = editor.release(np.array([20.0, 0.0, 10.0]))
    assert editor.delete_selected()
    assert editor.project.list_lesions(editor.study_id) == []
    editor.project.undo()
    assert [x.id for x in editor.project.list_lesions(editor.study_id)] == [lesion.id]
