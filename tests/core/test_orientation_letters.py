"""Orientation letters at the pane edges: radiological display (patient's right on the screen's left),
whatever way the volume's voxels are stored; oblique planes get a second letter."""

import numpy as np
import pytest

from liverview.core.orientation_letters import EdgeLetters, direction_letters, edge_letters, edge_letters_for
from liverview.core.slicing import Orientation, slice_geometry
from liverview.core.volume import Volume

EXPECTED = {
    Orientation.AXIAL: EdgeLetters(left="R", right="L", top="A", bottom="P"),
    Orientation.CORONAL: EdgeLetters(left="R", right="L", top="S", bottom="I"),
    Orientation.SAGITTAL: EdgeLetters(left="A", right="P", top="S", bottom="I"),
}


def rot_x(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_z(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


@pytest.mark.parametrize("orientation", list(Orientation))
def test_identity_direction(orientation):
    assert edge_letters_for(np.eye(3), orientation) == EXPECTED[orientation]


@pytest.mark.parametrize("orientation", list(Orientation))
def test_lits_flipped_direction_shows_the_same_letters(orientation):
    """LiTS volumes are stored with diag(1, -1, -1): the pane flips the cut, so the patient lies the same way."""
    assert edge_letters_for(np.diag([1.0, -1.0, -1.0]), orientation) == EXPECTED[orientation]


@pytest.mark.parametrize("direction", [np.diag([-1.0, -1.0, 1.0]), np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, -1.0]])])
def test_other_storage_orders_keep_the_letters(direction):
    """Flipped in-plane axes or swapped rows and columns: the pane reorders the cut, the letters stay."""
    for orientation in Orientation:
        assert edge_letters_for(direction, orientation) == EXPECTED[orientation]


def test_rotation_in_the_axial_plane_makes_the_other_cuts_oblique():
    """Axes rotated 30 degrees about z: the axial cut is still axial (the image turns on screen, its edges do
    not), but the volume's coronal cut now runs left-posterior, and the letters say so."""
    assert edge_letters_for(rot_z(30), Orientation.AXIAL) == EXPECTED[Orientation.AXIAL]
    assert edge_letters_for(rot_z(30), Orientation.CORONAL) == EdgeLetters(left="RA", right="LP", top="S", bottom="I")


def test_gantry_tilt_adds_a_second_letter_on_the_tilted_axis():
    """Slices tilted 20 degrees about x: screen-down on the cut runs posterior and a little superior."""
    letters = edge_letters_for(rot_x(20), Orientation.AXIAL)
    assert letters == EdgeLetters(left="R", right="L", top="AI", bottom="PS")
    # Under MIN_SHARE (about 12 degrees) one letter stays clearer than two.
    assert edge_letters_for(rot_x(5), Orientation.AXIAL) == EXPECTED[Orientation.AXIAL]


def test_spacing_and_size_do_not_change_the_letters():
    vol = Volume(np.zeros((5, 7, 9), np.int16), spacing=(0.6, 0.8, 5.0), direction=rot_x(20))
    assert edge_letters(slice_geometry(vol, Orientation.AXIAL)) == edge_letters_for(rot_x(20), Orientation.AXIAL)


def test_direction_letters():
    assert direction_letters([1, 0, 0]) == "L"
    assert direction_letters([0, -2, 0]) == "A"
    assert direction_letters([0, 0.3, -0.95]) == "IP"
    assert direction_letters([0.1, 0.0, 1.0]) == "S"
    with pytest.raises(ValueError):
        direction_letters([0, 0, 0])
