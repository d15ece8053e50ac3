"""The ultrasound segmenter is found through the plugin registry, and a missing one is explained."""

import json
from pathlib import Path

import pytest

from liverview.annotate.us_segmenter import NoUsSegmenterError, load_us_segmenter, us_segmenter_contributions
from liverview.plugin_registry import discover_plugins


def _plugin(root: Path, name: str, modalities: list[str], weights: str | None = None) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    item = {"kind": "click-segmenter", "command": "liverview_plugins.us_clickseg.inference:load_segmenter", "title": name,
            "modalities": modalities}
    if weights:
        item["weights"] = weights
    (folder / "plugin.json").write_text(json.dumps(
        {"name": name, "display_name": name, "version": "0.1", "description": "test", "contributes": [item]}))


def test_only_segmenters_for_us_are_taken(tmp_path):
    _plugin(tmp_path, "ct_seg", ["CT"])
    _plugin(tmp_path, "us_seg", ["us"])
    catalog = discover_plugins([tmp_path], include_entry_points=False)
    assert [c.plugin for c in us_segmenter_contributions(catalog)] == ["us_seg"]


def test_no_us_segmenter_says_which_plugin_to_install_and_lists_plugin_problems(tmp_path):
    _plugin(tmp_path, "ct_seg", ["CT"])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "plugin.json").write_text("{not json")
    catalog = discover_plugins([tmp_path], include_entry_points=False)
    with pytest.raises(NoUsSegmenterError, match="us_clickseg") as info:
        load_us_segmenter(device="cpu", catalog=catalog)
    assert "broken" in str(info.value)


def test_missing_weights_are_reported_as_a_load_failure_naming_the_segmenter(tmp_path):
    _plugin(tmp_path, "us_seg", ["US"], weights="absent.pt")
    catalog = discover_plugins([tmp_path], include_entry_points=False)
    with pytest.raises(NoUsSegmenterError, match="'us_seg' could not be loaded: .*weights"):
        load_us_segmenter(device="cpu", catalog=catalog, weights=tmp_path / "also-absent.pt")
