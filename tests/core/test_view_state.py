"""The shared view state: one user action moves every linked pane, nothing echoes."""

import numpy as np
import pytest

from liverview.core.slicing import Orientation
from liverview.core.view_state import WINDOW_PRESETS, PaneView, ViewState


def make_state(orientations=(Orientation.AXIAL,) * 4) -> tuple[ViewState, list]:
    state = ViewState()
    events = []
    state.subscribe(events.append)
    for n, o in enumerate(orientations):
        state.add_pane(f"p{n}", PaneView(focus=np.zeros(3), orientation=o))
    events.clear()
    return state, events


def test_focus_moves_every_linked_pane_to_the_same_point_in_one_event():
    state, events = make_state()
    state.set_focus("p0", np.array([1.0, 2.0, 3.0]))
    assert all(np.allclose(v.focus, [1, 2, 3]) for v in state.panes.values())
    assert len(events) == 1 and events[0].panes == {"p0", "p1", "p2", "p3"}
    assert events[0].origin == "interactive" and events[0].source == "p0"


def test_unlinked_slice_keeps_other_panes_on_their_slice_but_crosshair_follows():
    state, _ = make_state()
    state.links.slice = False
    state.set_focus("p0", np.array([5.0, 6.0, 7.0]))
    assert np.allclose(state.panes["p0"].focus, [5, 6, 7])
    assert np.allclose(state.panes["p1"].focus, [5, 6, 0])  # in-plane only


def test_unlinked_crosshair_moves_slice_only():
    state, _ = make_state()
    state.links.crosshair = False
    state.set_focus("p0", np.array([5.0, 6.0, 7.0]))
    assert np.allclose(state.panes["p2"].focus, [0, 0, 7])


def test_slice_link_follows_the_source_panes_normal_for_mixed_orientations():
    state, _ = make_state((Orientation.AXIAL, Orientation.CORONAL))
    state.links.crosshair = False
    state.step_slice("p1", 4.0)  # coronal normal is +y
    assert np.allclose(state.panes["p1"].focus, [0, 4, 0])
    assert np.allclose(state.panes["p0"].focus, [0, 4, 0])


def test_window_zoom_pan_links_and_their_switches():
    state, events = make_state((Orientation.AXIAL, Orientation.AXIAL, Orientation.CORONAL))
    state.set_window("p1", 60, 160)
    assert all((v.window_center, v.window_width) == (60, 160) for v in state.panes.values())
    state.links.window = False
    state.apply_preset("p0", WINDOW_PRESETS[2])
    assert state.panes["p0"].window_width == WINDOW_PRESETS[2].width
    assert state.panes["p1"].window_width == 160
    state.set_zoom("p0", 3.0)
    assert all(v.zoom == 3.0 for v in state.panes.values())
    state.set_center("p0", (10.0, -4.0))
    assert state.panes["p1"].center_uv == (10.0, -4.0)
    assert state.panes["p2"].center_uv == (0.0, 0.0)  # other orientation: (u, v) means another thing


def test_no_event_when_nothing_changes_and_nan_focus_is_ignored():
    state, events = make_state()
    state.set_window("p0", 40.0, 400.0)
    state.set_focus("p0", np.zeros(3))
    state.set_focus("p0", np.array([np.nan, 0, 0]))
    assert events == []
    with pytest.raises(KeyError):
        state.set_zoom("nope", 2.0)


def test_window_width_never_collapses():
    state, _ = make_state()
    state.set_window("p0", 0, -50)
    assert state.panes["p0"].window_width >= 1.0


def test_centre_on_brings_every_pane_there_links_or_not_each_in_its_own_frame():
    state, events = make_state((Orientation.AXIAL, Orientation.CORONAL, Orientation.SAGITTAL))
    state.links.slice = state.links.crosshair = state.links.pan = False
    state.set_center("p0", (80.0, 80.0))  # zoomed in elsewhere
    events.clear()
    point = np.array([-60.0, 12.0, -30.0])
    state.centre_on(point)
    for view in state.panes.values():
        assert np.allclose(view.focus, point)
    assert state.panes["p0"].center_uv == (-60.0, 12.0)  # axial: (x, y)
    assert state.panes["p1"].center_uv == (-60.0, 30.0)  # coronal: (x, -z)
    assert state.panes["p2"].center_uv == (12.0, 30.0)  # sagittal: (y, -z)
    assert [set(e.fields) for e in events] == [{"focus"}, {"pan"}]
    events.clear()
    state.centre_on(point)  # already there: nothing to tell
    state.centre_on(np.array([np.nan, 0.0, 0.0]))
    assert events == []
