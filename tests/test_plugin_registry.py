"""Plugins are found from manifests (folders and entry points), validated, and loaded only when used."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from liverview import cli
from liverview.plugin_registry import (
    DEFAULT_PLUGIN_DIR,
    ContributionLoadError,
    ManifestError,
    discover_plugins,
    parse_manifest,
)

REPO = Path(__file__).resolve().parents[1]


def manifest(name="demo", **overrides) -> dict:
    data = {
        "name": name,
        "display_name": f"{name} plugin",
        "version": "1.2.3",
        "description": "for tests",
        "contributes": [{"kind": "detector", "command": f"{name}_impl:detect", "title": f"{name} detector",
                         "modalities": ["CT"], "weights": "weights/model.pt"}],
    }
    data.update(overrides)
    return data


def write_plugin(plugin_dir: Path, folder: str, content: dict | str) -> Path:
    path = plugin_dir / folder / "plugin.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def write_module(where: Path, name: str, source: str) -> None:
    (where / f"{name}.py").write_text(textwrap.dedent(source))
    sys.modules.pop(name, None)


def test_manifests_in_a_plugin_folder_are_found(tmp_path):
    write_plugin(tmp_path, "demo", manifest())
    write_plugin(tmp_path, "other", manifest("other", contributes=[
        {"kind": "exporter", "command": "other_impl:export", "title": "Export"}]))
    (tmp_path / "not_a_plugin").mkdir()  # a folder without plugin.json is ignored, not a problem

    catalog = discover_plugins([tmp_path], include_entry_points=False)

    assert catalog.problems == []
    assert [p.name for p in catalog.plugins] == ["demo", "other"]
    demo = catalog.plugin("demo")
    assert (demo.display_name, demo.version, demo.root) == ("demo plugin", "1.2.3", tmp_path / "demo")
    (detector,) = catalog.contributions("detector")
    assert detector.plugin == "demo" and detector.modalities == ("CT",)
    assert detector.weights == tmp_path / "demo" / "weights" / "model.pt"
    assert [c.kind for c in catalog.contributions()] == ["detector", "exporter"]
    assert catalog.contributions("click-segmenter") == []
    with pytest.raises(ValueError, match="unknown contribution kind"):
        catalog.contributions("widget")
    with pytest.raises(KeyError, match="no plugin named 'nope'"):
        catalog.plugin("nope")


@pytest.mark.parametrize("content, expected", [
    ("{not json", "invalid JSON at line 1"),
    (json.dumps(["a list"]), "must be a JSON object"),
    (json.dumps({k: v for k, v in manifest("broken").items() if k != "version"}), "'broken'.*missing required field 'version'"),
    (json.dumps(manifest("broken", contributes={})), "'broken'.*'contributes' must be a list"),
    (json.dumps(manifest("broken", contributes=[{"kind": "widget", "command": "m:f", "title": "t"}])),
     r"'broken'.*contributes\[0\]\.kind must be one of detector"),
    (json.dumps(manifest("broken", contributes=[{"kind": "tool", "command": "no_colon", "title": "t"}])),
     r"contributes\[0\]\.command must look like 'package.module:function'"),
    (json.dumps(manifest("broken", contributes=[{"kind": "tool", "command": "m:f"}])),
     r"contributes\[0\]: missing required field 'title'"),
    (json.dumps(manifest("broken", contributes=[{"kind": "tool", "command": "m:f", "title": "t", "modalities": "CT"}])),
     r"contributes\[0\]\.modalities must be a list"),
    (json.dumps(manifest("broken", contributes=[{"kind": "tool", "command": "m:f", "title": "t", "weights": "../x.pt"}])),
     r"contributes\[0\]\.weights must be a path inside the plugin folder"),
    (json.dumps(manifest("bad name!")), "field 'name' may hold only"),
])
def test_broken_manifests_are_reported_not_raised(tmp_path, content, expected):
    write_plugin(tmp_path, "good", manifest("good"))
    path = write_plugin(tmp_path, "zz_broken", content)

    catalog = discover_plugins([tmp_path], include_entry_points=False)

    assert [p.name for p in catalog.plugins] == ["good"]
    assert len(catalog.problems) == 1
    assert str(path) in catalog.problems[0]
    assert re.search(expected, catalog.problems[0]), catalog.problems[0]


def test_unknown_fields_are_noted_but_the_plugin_still_loads(tmp_path):
    write_plugin(tmp_path, "demo", manifest(homepage="https://example.org"))
    catalog = discover_plugins([tmp_path], include_entry_points=False)
    assert [p.name for p in catalog.plugins] == ["demo"]
    assert catalog.problems == [f"plugin 'demo' ({tmp_path / 'demo' / 'plugin.json'}): unknown field 'homepage' ignored"]


def test_duplicate_names_keep_the_first_and_report_the_second(tmp_path):
    write_plugin(tmp_path, "a", manifest("same"))
    write_plugin(tmp_path, "b", manifest("same"))
    catalog = discover_plugins([tmp_path], include_entry_points=False)
    assert [p.root for p in catalog.plugins] == [tmp_path / "a"]
    assert len(catalog.problems) == 1 and "already taken" in catalog.problems[0]


def test_a_missing_plugin_folder_is_a_problem(tmp_path):
    catalog = discover_plugins([tmp_path / "absent"], include_entry_points=False)
    assert catalog.plugins == [] and "does not exist" in catalog.problems[0]


def test_contributions_load_lazily(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    write_module(tmp_path, "lazy_impl", """
        class Detectors:
            @staticmethod
            def run(x):
                return x * 2
        """)
    write_plugin(tmp_path / "plugins", "lazy", manifest("lazy", contributes=[
        {"kind": "detector", "command": "lazy_impl:Detectors.run", "title": "Lazy"}]))

    catalog = discover_plugins([tmp_path / "plugins"], include_entry_points=False)
    (contribution,) = catalog.contributions("detector")
    assert "lazy_impl" not in sys.modules  # discovery imports nothing

    func = contribution.load()
    assert func(21) == 42
    assert "lazy_impl" in sys.modules
    sys.modules.pop("lazy_impl")


def test_loading_a_missing_target_names_the_plugin_and_the_command(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    write_module(tmp_path, "half_impl", "VALUE = 3\n")
    write_plugin(tmp_path / "plugins", "half", manifest("half", contributes=[
        {"kind": "tool", "command": "half_impl:missing", "title": "No function"},
        {"kind": "tool", "command": "no_such_module_xyz:run", "title": "No module"},
        {"kind": "tool", "command": "half_impl:VALUE", "title": "Not callable"}]))
    missing_attr, missing_module, not_callable = discover_plugins(
        [tmp_path / "plugins"], include_entry_points=False).contributions("tool")

    with pytest.raises(ContributionLoadError, match="plugin 'half', tool 'No function': module 'half_impl' has no attribute 'missing'"):
        missing_attr.load()
    with pytest.raises(ContributionLoadError, match="cannot import module 'no_such_module_xyz'"):
        missing_module.load()
    with pytest.raises(ContributionLoadError, match="not a callable"):
        not_callable.load()
    assert issubclass(ContributionLoadError, ImportError)
    sys.modules.pop("half_impl", None)


def fake_distribution(site: Path, dist: str, entry_points: dict[str, str]) -> None:
    """An installed-looking distribution: importlib.metadata finds <dist>-1.0.dist-info on sys.path."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {value}" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[liverview.plugins]\n{lines}\n")


def test_entry_point_plugins_are_found(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    write_module(site, "ep_callable", f"""
        def manifest():
            return {json.dumps(manifest("ep_callable", contributes=[
                {"kind": "click-segmenter", "command": "ep_callable:segment", "title": "EP seg", "weights": "w.pt"}]))}

        def segment():
            return "segmented"
        """)
    pkg = site / "ep_pathpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("MANIFEST = 'plugin.json'\n")  # relative to the module's folder
    (pkg / "plugin.json").write_text(json.dumps(manifest("ep_path", contributes=[
        {"kind": "proposal-classifier", "command": "ep_callable:segment", "title": "EP cls"}])))
    write_module(site, "ep_broken", "raise RuntimeError('boom at import')\n")
    write_module(site, "ep_number", "NOT_A_MANIFEST = 7\n")
    fake_distribution(site, "fake_liverview_plugins", {
        "callable": "ep_callable:manifest", "path": "ep_pathpkg:MANIFEST",
        "broken": "ep_broken:manifest", "number": "ep_number:NOT_A_MANIFEST"})
    monkeypatch.syspath_prepend(str(site))

    catalog = discover_plugins([], include_entry_points=True)
    names = [p.name for p in catalog.plugins]
    assert "ep_callable" in names and "ep_path" in names
    seg = catalog.plugin("ep_callable")
    assert "entry point 'callable'" in seg.source and "fake_liverview_plugins" in seg.source
    (segmenter,) = [c for c in catalog.contributions("click-segmenter") if c.plugin == "ep_callable"]
    assert segmenter.weights == site / "w.pt"
    assert segmenter.load()() == "segmented"
    assert catalog.plugin("ep_path").root == pkg
    ours = [p for p in catalog.problems if "fake_liverview_plugins" in p]
    assert len(ours) == 2
    assert any("boom at import" in p for p in ours)
    assert any("must name a manifest path or a function" in p and "int" in p for p in ours)

    without = discover_plugins([], include_entry_points=False)
    assert without.plugins == [] and without.problems == []
    for name in ("ep_callable", "ep_pathpkg", "ep_broken", "ep_number"):
        sys.modules.pop(name, None)


def test_parse_manifest_raises_manifest_error_directly():
    with pytest.raises(ManifestError, match="plugin 'x' \\(here\\): missing required field 'contributes'"):
        parse_manifest({k: v for k, v in manifest("x").items() if k != "contributes"}, "here")
    with pytest.raises(ManifestError, match="weights needs a plugin folder"):
        parse_manifest(manifest("x"), "here", root=None)


def test_the_repository_plugins_are_discovered_by_default():
    assert DEFAULT_PLUGIN_DIR == REPO / "plugins"
    catalog = discover_plugins(include_entry_points=False)
    ours = [p for p in catalog.problems if "ct_phantom" in p or "phase_registration" in p]
    assert ours == []
    phantom = catalog.plugin("ct_phantom").contributions
    assert [(c.kind, c.title, c.command) for c in phantom] == [
        ("data-source", "Synthetic multi-phase liver CT phantom", "liverview.synth.ct_phantom:generate_ct_study")]
    (tool,) = catalog.plugin("phase_registration").contributions
    assert (tool.kind, tool.title) == ("tool", "Register phases (SimpleITK rigid/affine/B-spline)")

    from liverview.registration.phase_registration import register_study
    assert tool.load() is register_study


def _cli_with_present_commands(monkeypatch) -> None:
    # Other sub-commands are written in parallel; build the CLI from those that exist today.
    present = [m for m in cli.COMMAND_MODULES if importlib.util.find_spec(f"liverview.commands.{m}")]
    monkeypatch.setattr(cli, "COMMAND_MODULES", present)


def test_cli_lists_plugins_contributions_and_problems(tmp_path, capsys, monkeypatch):
    _cli_with_present_commands(monkeypatch)
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "ct_phantom 0.1.0" in out and "phase_registration 0.1.0" in out
    assert "data-source         ct_phantom: Synthetic multi-phase liver CT phantom [CT]" in out
    assert "command: liverview.synth.ct_phantom:generate_ct_study" in out
    assert "Register phases (SimpleITK rigid/affine/B-spline)" in out

    write_plugin(tmp_path, "broken", "{")
    assert cli.main(["plugins", "--plugin-dir", str(tmp_path), "--no-entry-points", "--kind", "tool"]) == 0
    out = capsys.readouterr().out
    assert "phase_registration" in out and "ct_phantom" not in out
    assert "problems (1):" in out and "invalid JSON" in out
    assert cli.main(["plugins", "--plugin-dir", str(tmp_path), "--no-entry-points", "--check"]) == 1
