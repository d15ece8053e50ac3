"""Lesion JSON: a documented schema in LPS mm that reads back to the same measurements."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liverview.core.volume import Volume
from liverview.io.export.json_export import (
    SCHEMA_VERSION,
    GridReference,
    LesionJsonError,
    LesionRecord,
    read_lesions_json,
    write_lesions_json,
)
from liverview.measure import RecistMeasurement


def _lesions() -> list[LesionRecord]:
    m1 = RecistMeasurement(((1.5, -2.25, 30.0), (21.125, 4.0, 30.0)), ((10.0, 5.0, 30.0), (12.0, -3.0, 30.0)), 12, "L1")
    m2 = RecistMeasurement(((0.1, 0.2, 35.0), (3.3, 0.2, 35.0)), None, 13, "L1")
    m3 = RecistMeasurement(((-40.0, 10.0, 7.5), (-20.0, 10.0, 7.5)), ((-30.0, 5.0, 7.5), (-30.0, 14.0, 7.5)), 2, "L2")
    return [
        LesionRecord("L1", "hcc", [m1, m2], note="arterial hyper-enhancement"),
        LesionRecord("L2", "cyst", [m3]),
        LesionRecord("L3"),
    ]


def test_lesions_round_trip_with_their_reference_grid(tmp_path):
    direction = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]])
    volume = Volume(np.zeros((20, 8, 9)), spacing=(0.7, 0.8, 2.5), origin=(1, 2, 3), direction=direction, name="pv")
    path = tmp_path / "lesions.json"
    write_lesions_json(_lesions(), path, reference=volume)
    document = read_lesions_json(path)
    assert document.lesions == _lesions()
    assert document.reference == GridReference.from_volume(volume)
    assert document.reference.matches(volume)
    wider = Volume(np.zeros((20, 8, 10)), spacing=(0.7, 0.8, 2.5), origin=(1, 2, 3), direction=direction)
    shifted = Volume(np.zeros((20, 8, 9)), spacing=(0.7, 0.8, 2.5), origin=(1, 2, 4), direction=direction)
    assert not document.reference.matches(wider) and not document.reference.matches(shifted)


def test_file_states_schema_units_and_frame_and_derived_lengths(tmp_path):
    path = tmp_path / "lesions.json"
    write_lesions_json(_lesions(), path)
    data = json.loads(path.read_text())
    assert (data["format"], data["schema_version"], data["units"], data["coordinate_system"]) == (
        "liverview-lesions", SCHEMA_VERSION, "mm", "LPS"
    )
    assert data["reference"] is None
    m = data["lesions"][1]["measurements"][0]
    assert m["long_axis"] == [[-40.0, 10.0, 7.5], [-20.0, 10.0, 7.5]]
    assert (m["long_axis_mm"], m["short_axis_mm"]) == (20.0, 9.0)
    assert data["lesions"][0]["measurements"][1]["short_axis"] is None


def test_bad_files_are_refused_with_the_place_of_the_problem(tmp_path):
    path = tmp_path / "lesions.json"
    write_lesions_json(_lesions(), path)
    data = json.loads(path.read_text())

    def broken(change) -> str:
        d = json.loads(json.dumps(data))
        change(d)
        path.write_text(json.dumps(d))
        with pytest.raises(LesionJsonError) as info:
            read_lesions_json(path)
        return str(info.value)

    assert "newer" in broken(lambda d: d.update(schema_version=SCHEMA_VERSION + 1))
    assert "lesions[1].measurements[0].long_axis[1]" in broken(
        lambda d: d["lesions"][1]["measurements"][0]["long_axis"].__setitem__(1, [1, 2])
    )
    assert "missing 'key_slice'" in broken(lambda d: d["lesions"][0]["measurements"][0].pop("key_slice"))
    assert "zero length" in broken(
        lambda d: d["lesions"][0]["measurements"][0].__setitem__("long_axis", [[0, 0, 0], [0, 0, 0]])
    )
    assert "liverview-lesions" in broken(lambda d: d.update(format="something-else"))
    path.write_text("{not json")
    with pytest.raises(LesionJsonError, match="not valid JSON"):
        read_lesions_json(path)


def test_duplicate_ids_and_non_finite_values_are_not_written(tmp_path):
    lesions = _lesions()
    with pytest.raises(LesionJsonError, match="more than once"):
        write_lesions_json(lesions + [LesionRecord("L2")], tmp_path / "x.json")
    eye = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    nan_grid = GridReference("g", (1, 1, 1), (1.0, 1.0, float("nan")), (0.0, 0.0, 0.0), eye)
    with pytest.raises(LesionJsonError, match="not finite"):
        write_lesions_json(lesions, tmp_path / "y.json", reference=nan_grid)
