"""A detector from another distribution plugs in through its entry point alone: the registry finds it, its
weights resolve inside its own package, and `liverview detect --model` uses it."""

import json
import sys

import numpy as np
import pytest

from liverview.cli import main as cli_main
from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.io.volumes import write_volume
from liverview.plugin_api import PluginContractError
from liverview.plugin_registry import ContributionNotFoundError, discover_plugins
from tests.plugin_seam.third_party import CONTRIBUTION, PACKAGE, write_distribution

PV = PhaseKind.PORTAL_VENOUS


@pytest.fixture
def installed(tmp_path, monkeypatch):
    site = write_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, PACKAGE, raising=False)  # each test imports its own copy
    yield site
    sys.modules.pop(PACKAGE, None)


def blob_volume() -> Volume:
    array = np.full((12, 40, 40), 20.0, np.float32)
    array[3:7, 10:18, 22:30] = 300.0  # one bright block: x 22-29, y 10-17, z 3-6
    return Volume(array, (0.8, 0.8, 2.5), (10.0, -5.0, 100.0), name="pv")


def test_the_registry_finds_it_by_entry_point_with_its_weights_inside_its_package(installed):
    catalog = discover_plugins()
    found = catalog.resolve("detector", CONTRIBUTION)
    assert found.plugin == PACKAGE and found.weights == installed / PACKAGE / "threshold.json"
    assert catalog.resolve("detector").name == "mscn_detector"  # the bundled default stays the default
    detector = found.create(device="cpu")
    result = detector.detect({PV: blob_volume()}, PV)
    (p,) = result.proposals
    assert p.box == (22, 10, 30, 18) and p.z_range == (3, 6) and result.model == "tiny_blob/threshold=100"


def test_without_the_distribution_the_name_is_unknown_and_the_error_lists_what_is_installed():
    with pytest.raises(ContributionNotFoundError, match="no detector named 'tiny_blob' .*mscn_detector"):
        discover_plugins().resolve("detector", CONTRIBUTION)


def test_liverview_detect_model_runs_the_third_party_detector(installed, tmp_path, capsys):
    study = tmp_path / "pv.nii.gz"
    write_volume(blob_volume(), study)
    out = tmp_path / "proposals.json"
    assert cli_main(["detect", str(study), "--model", CONTRIBUTION, "--out", str(out), "--device", "cpu"]) == 0
    doc = json.loads(out.read_text())
    assert doc["model"] == "tiny_blob/threshold=100"
    (p,) = doc["proposals"]
    assert p["box"] == [22, 10, 30, 18] and p["z_range"] == [3, 6]
    assert "by tiny_blob/threshold=100" in capsys.readouterr().out


def test_detect_with_an_unknown_model_is_a_clear_cli_error(tmp_path, capsys):
    study = tmp_path / "pv.nii.gz"
    write_volume(blob_volume(), study)
    assert cli_main(["detect", str(study), "--model", "nope", "--out", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert "no detector named 'nope' (installed: " in err
    installed = err.split("(installed: ")[1].split(")")[0].split(", ")
    assert "mscn_detector" in installed and installed == sorted(installed)


def test_a_factory_returning_the_wrong_kind_of_object_is_refused_before_use(installed, tmp_path):
    (installed / PACKAGE / "__init__.py").write_text(
        (installed / PACKAGE / "__init__.py").read_text().replace("return BlobDetector(", "return object() or ("))
    with pytest.raises(PluginContractError, match="returned a object, which does not follow the LesionDetector"):
        discover_plugins().resolve("detector", CONTRIBUTION).create(device="cpu")
