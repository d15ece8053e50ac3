"""Asking the registry for a model: by kind and name or the default, weights under models/ or inside the
plugin, and the bundled plugins installed as `liverview_plugins`, never as a top-level `plugins`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from liverview.plugin_api import WeightsMissingError
from liverview.plugin_registry import (ContributionNotFoundError, ManifestError, discover_plugins,
                                       parse_manifest)


def contribution(**fields) -> dict:
    return {"kind": "detector", "command": "m:load", "title": "t", **fields}


def manifest(name: str, *items: dict) -> dict:
    return {"name": name, "display_name": name, "version": "1", "description": "d", "contributes": list(items)}


def write(root: Path, data: dict) -> None:
    (root / data["name"]).mkdir(parents=True)
    (root / data["name"] / "plugin.json").write_text(json.dumps(data))


def test_weights_resolve_under_models_with_the_prefix_and_under_the_plugin_folder_without(tmp_path):
    m = parse_manifest(manifest("p", contribution(name="a", weights="models:a/a.pt", model_card="models:a/CARD.md"),
                                contribution(name="b", weights="w/b.pt")),
                       "test", root=tmp_path / "plugin", models_dir=tmp_path / "models")
    a, b = m.contributions
    assert (a.weights, a.model_card) == (tmp_path / "models/a/a.pt", tmp_path / "models/a/CARD.md")
    assert b.weights == tmp_path / "plugin/w/b.pt"


@pytest.mark.parametrize("weights", ["models:../x.pt", "models:/abs.pt", "models:", "../x.pt"])
def test_weights_may_not_leave_their_folder(tmp_path, weights):
    with pytest.raises(ManifestError, match="weights must be a path inside"):
        parse_manifest(manifest("p", contribution(weights=weights)), "test", root=tmp_path, models_dir=tmp_path)


def test_the_default_is_the_one_marked_default_else_the_first(tmp_path):
    write(tmp_path, manifest("first", contribution(name="one")))
    write(tmp_path, manifest("second", contribution(name="two", default=True), contribution(name="three")))
    catalog = discover_plugins([tmp_path], include_entry_points=False)
    assert catalog.resolve("detector").name == "two"
    assert catalog.resolve("detector", "three").plugin == "second"
    with pytest.raises(ContributionNotFoundError, match="no detector named 'four' \\(installed: one, two, three\\)"):
        catalog.resolve("detector", "four")
    with pytest.raises(ContributionNotFoundError, match="no plugin offers a click-segmenter"):
        catalog.resolve("click-segmenter")


def test_a_second_contribution_with_a_taken_name_is_reported_and_left_out(tmp_path):
    write(tmp_path, manifest("a", contribution(name="same", title="from a")))
    write(tmp_path, manifest("b", contribution(name="same", title="from b")))
    catalog = discover_plugins([tmp_path], include_entry_points=False)
    assert [c.title for c in catalog.contributions("detector")] == ["from a"]
    assert any("plugin 'a' already offers a detector named 'same'" in p for p in catalog.problems)


def test_missing_weights_are_refused_before_the_plugin_is_imported(tmp_path):
    write(tmp_path, manifest("p", contribution(name="x", command="module_that_does_not_exist:load",
                                                weights="absent.pt")))
    found = discover_plugins([tmp_path], include_entry_points=False).resolve("detector", "x")
    with pytest.raises(WeightsMissingError, match="'x'\\): weights .*absent.pt not found"):
        found.create(device="cpu")


def test_bundled_plugins_are_installed_as_liverview_plugins_not_plugins(tmp_path):
    code = ("import importlib.util, liverview.plugin_registry as r; "
            "print(importlib.util.find_spec('plugins') is None, r.DEFAULT_PLUGIN_DIR.name, "
            "importlib.util.find_spec('liverview_plugins.mscn_detector') is not None)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "plugins", "True"]


def test_every_bundled_model_contribution_has_a_model_card_and_its_weights_or_none_by_design():
    catalog = discover_plugins(include_entry_points=False)
    assert catalog.problems == []
    for c in catalog.contributions():
        if c.kind in ("detector", "click-segmenter"):
            assert c.model_card is not None and c.model_card.is_file(), c.name
            if c.trainer is None:  # a classical method (e.g. the hypodense_blobs baseline): nothing learnt
                assert c.weights is None, c.name
                continue
            assert c.weights is not None and c.weights.is_file(), c.name


def test_the_plugin_listing_names_the_contribution_the_commands_would_run(tmp_path, capsys):
    from liverview.cli import main
    from liverview.commands.model_choice import resolve

    write(tmp_path, manifest("mine", contribution(name="mscn_detector", title="my override")))
    chosen = resolve("detector", "mscn_detector", plugin_dirs=[tmp_path])
    assert main(["plugins", "--plugin-dir", str(tmp_path), "--kind", "detector", "--no-entry-points"]) == 0
    out = capsys.readouterr().out
    ignored = [line for line in out.splitlines() if "already offers" in line]
    assert chosen.plugin == "mine"
    assert ignored and all("'mine'" not in line.split("ignored")[0] for line in ignored), out
