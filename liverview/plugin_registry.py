"""Find plugins from their manifests, the way napari's npe2 does, so the app never hard-codes them.

A plugin declares what it contributes (detectors, segmenters, tools, data sources, ...) in a JSON
manifest. Manifests come from folders ``plugins/<name>/plugin.json`` and from installed packages
through the ``liverview.plugins`` entry point group. Nothing a contribution names is imported until
``Contribution.load()`` is called, so a broken or heavy plugin costs nothing until it is used, and a
broken manifest is reported in ``PluginCatalog.problems`` instead of stopping the app.

Manifest::

    {"name": "ct_phantom", "display_name": "...", "version": "0.1.0", "description": "...",
     "contributes": [{"kind": "data-source", "command": "package.module:function", "title": "...",
                      "modalities": ["CT"], "weights": "relative/path.pt"}]}
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ENTRY_POINT_GROUP = "liverview.plugins"
MANIFEST_FILE = "plugin.json"
CONTRIBUTION_KINDS: tuple[str, ...] = ("detector", "segmenter", "classifier", "tool", "data-source", "exporter")
DEFAULT_PLUGIN_DIR = Path(__file__).resolve().parent.parent / "plugins"  # the `plugins` package beside us

_MANIFEST_FIELDS = ("name", "display_name", "version", "description", "contributes")
_CONTRIBUTION_FIELDS = ("kind", "command", "title", "modalities", "weights")
_COMMAND = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PluginError(Exception):
    """Base class for plugin problems."""


class ManifestError(PluginError, ValueError):
    """A manifest does not follow the schema; the message names the plugin and the field."""


class ContributionLoadError(PluginError, ImportError):
    """The module or function a contribution names cannot be imported."""


@dataclass(frozen=True)
class Contribution:
    """One thing a plugin offers; `command` is imported only by load()."""

    plugin: str
    kind: str
    command: str  # "package.module:function"
    title: str
    modalities: tuple[str, ...] = ()
    weights: Path | None = None  # absolute, resolved against the manifest's folder; may not exist yet

    def load(self) -> Callable[..., Any]:
        """Import the module and return the callable the command names."""
        module_name, _, attr_path = self.command.partition(":")
        where = f"plugin '{self.plugin}', {self.kind} '{self.title}'"
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ContributionLoadError(
                f"{where}: cannot import module '{module_name}' named by command '{self.command}': {exc}. "
                "Is the plugin's package installed and importable?") from exc
        for part in attr_path.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                raise ContributionLoadError(
                    f"{where}: module '{module_name}' has no attribute '{attr_path}' "
                    f"(command '{self.command}')") from None
        if not callable(target):
            raise ContributionLoadError(f"{where}: '{self.command}' is a {type(target).__name__}, not a callable")
        return target


@dataclass(frozen=True)
class PluginManifest:
    """A validated plugin manifest, and where it was found."""

    name: str
    display_name: str
    version: str
    description: str
    contributions: tuple[Contribution, ...]
    source: str  # manifest path, or "entry point <name> (<distribution>)"
    root: Path | None = None  # folder that relative paths (weights) are resolved against


@dataclass
class PluginCatalog:
    """Every plugin found, and a line per manifest that could not be used."""

    plugins: list[PluginManifest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def contributions(self, kind: str | None = None) -> list[Contribution]:
        """All contributions, or those of one kind, in plugin order."""
        if kind is not None and kind not in CONTRIBUTION_KINDS:
            raise ValueError(f"unknown contribution kind '{kind}': use one of {', '.join(CONTRIBUTION_KINDS)}")
        return [c for p in self.plugins for c in p.contributions if kind is None or c.kind == kind]

    def plugin(self, name: str) -> PluginManifest:
        for p in self.plugins:
            if p.name == name:
                return p
        have = ", ".join(p.name for p in self.plugins) or "none"
        raise KeyError(f"no plugin named '{name}' (found: {have})")


# --- validation ----------------------------------------------------------------------------
def parse_manifest(data: Any, source: str, root: Path | None = None,
                   notes: list[str] | None = None) -> PluginManifest:
    """Validate a manifest dict; raise ManifestError naming the plugin and field. Unknown fields go to notes."""
    label = f"plugin at {source}"
    if not isinstance(data, dict):
        raise ManifestError(f"{label}: the manifest must be a JSON object, got {type(data).__name__}")
    if isinstance(data.get("name"), str) and data["name"]:
        label = f"plugin '{data['name']}' ({source})"
    for key in _MANIFEST_FIELDS:
        if key not in data:
            raise ManifestError(f"{label}: missing required field '{key}'")
    for key in _MANIFEST_FIELDS[:4]:
        if not isinstance(data[key], str) or (key in ("name", "version") and not data[key].strip()):
            raise ManifestError(f"{label}: field '{key}' must be a non-empty string, got {data[key]!r}")
    if not _NAME.match(data["name"]):
        raise ManifestError(f"{label}: field 'name' may hold only letters, digits, '_', '-' and '.', "
                            f"got {data['name']!r}")
    contributes = data["contributes"]
    if not isinstance(contributes, list):
        raise ManifestError(f"{label}: field 'contributes' must be a list, got {type(contributes).__name__}")
    if notes is not None:
        notes.extend(f"{label}: unknown field '{k}' ignored" for k in data if k not in _MANIFEST_FIELDS)
    items = tuple(_parse_contribution(c, n, data["name"], label, root, notes) for n, c in enumerate(contributes))
    return PluginManifest(data["name"], data["display_name"], data["version"], data["description"], items,
                          source, root)


def _parse_contribution(item: Any, n: int, plugin: str, label: str, root: Path | None,
                        notes: list[str] | None) -> Contribution:
    where = f"{label}: contributes[{n}]"
    if not isinstance(item, dict):
        raise ManifestError(f"{where} must be an object, got {type(item).__name__}")
    for key in ("kind", "command", "title"):
        if key not in item:
            raise ManifestError(f"{where}: missing required field '{key}'")
        if not isinstance(item[key], str) or not item[key].strip():
            raise ManifestError(f"{where}.{key} must be a non-empty string, got {item[key]!r}")
    if item["kind"] not in CONTRIBUTION_KINDS:
        raise ManifestError(f"{where}.kind must be one of {', '.join(CONTRIBUTION_KINDS)}, got {item['kind']!r}")
    if not _COMMAND.match(item["command"]):
        raise ManifestError(f"{where}.command must look like 'package.module:function', got {item['command']!r}")
    modalities = item.get("modalities", [])
    if not isinstance(modalities, list) or not all(isinstance(m, str) and m.strip() for m in modalities):
        raise ManifestError(f"{where}.modalities must be a list of names such as [\"CT\", \"US\"], got {modalities!r}")
    weights = item.get("weights")
    weights_path: Path | None = None
    if weights is not None:
        if not isinstance(weights, str) or not weights.strip():
            raise ManifestError(f"{where}.weights must be a relative path string, got {weights!r}")
        relative = Path(weights)
        if relative.is_absolute() or ".." in relative.parts:
            raise ManifestError(f"{where}.weights must be a path inside the plugin folder, got {weights!r}")
        if root is None:
            raise ManifestError(f"{where}.weights needs a plugin folder to be relative to; this manifest has none")
        weights_path = root / relative
    if notes is not None:
        notes.extend(f"{where}: unknown field '{k}' ignored" for k in item if k not in _CONTRIBUTION_FIELDS)
    return Contribution(plugin, item["kind"], item["command"], item["title"],
                        tuple(m.strip() for m in modalities), weights_path)


# --- sources -------------------------------------------------------------------------------
def _read_manifest_file(path: Path, source: str | None = None, notes: list[str] | None = None) -> PluginManifest:
    source = source or str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"plugin at {source}: cannot read the manifest: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"plugin at {source}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg}") from exc
    return parse_manifest(data, source, path.parent, notes)


def _folder_manifests(plugin_dir: Path, catalog: PluginCatalog) -> list[PluginManifest]:
    if not plugin_dir.is_dir():
        catalog.problems.append(f"plugin folder '{plugin_dir}' does not exist")
        return []
    found = []
    for folder in sorted(p for p in plugin_dir.iterdir() if p.is_dir()):
        manifest = folder / MANIFEST_FILE
        if not manifest.is_file():
            continue  # helper folders (__pycache__, shared code) are not plugins
        try:
            found.append(_read_manifest_file(manifest, notes=catalog.problems))
        except ManifestError as exc:
            catalog.problems.append(str(exc))
    return found


def _entry_point_manifest(ep: importlib.metadata.EntryPoint, notes: list[str]) -> PluginManifest:
    dist = getattr(ep, "dist", None)
    source = f"entry point '{ep.name}' = {ep.value}" + (f" ({dist.metadata['Name']})" if dist else "")
    if ep.value.endswith(".json") and ":" not in ep.value:  # a manifest path inside the distribution
        if dist is None:
            raise ManifestError(f"plugin at {source}: cannot locate the manifest file without its distribution")
        return _read_manifest_file(Path(str(dist.locate_file(ep.value))), source, notes)
    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - any import failure of a third-party plugin is reported
        raise ManifestError(f"plugin at {source}: cannot load the entry point: {type(exc).__name__}: {exc}") from exc
    module = sys.modules.get(ep.value.partition(":")[0].strip())
    module_dir = Path(module.__file__).parent if module is not None and getattr(module, "__file__", None) else None
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.is_absolute() and module_dir is not None:
            path = module_dir / path
        return _read_manifest_file(path, source, notes)
    if callable(obj):
        try:
            data = obj()
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the app
            raise ManifestError(f"plugin at {source}: the manifest function failed: {type(exc).__name__}: {exc}") from exc
        return parse_manifest(data, source, module_dir, notes)
    raise ManifestError(f"plugin at {source}: the entry point must name a manifest path or a function "
                        f"returning a manifest dict, got {type(obj).__name__}")


def discover_plugins(plugin_dirs: list[Path] | None = None, include_entry_points: bool = True) -> PluginCatalog:
    """Collect manifests from plugin folders (default: the repository's plugins/) and entry points.

    Never raises for a broken plugin: each one becomes a line in `problems`. When two plugins share a
    name the first found wins (folders before entry points) and the other is reported.
    """
    catalog = PluginCatalog()
    found: list[PluginManifest] = []
    for plugin_dir in plugin_dirs if plugin_dirs is not None else [DEFAULT_PLUGIN_DIR]:
        found.extend(_folder_manifests(Path(plugin_dir), catalog))
    if include_entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                found.append(_entry_point_manifest(ep, catalog.problems))
            except ManifestError as exc:
                catalog.problems.append(str(exc))
    seen: dict[str, PluginManifest] = {}
    for manifest in found:
        if manifest.name in seen:
            catalog.problems.append(f"plugin '{manifest.name}' ({manifest.source}) ignored: the name is already "
                                    f"taken by {seen[manifest.name].source}")
            continue
        seen[manifest.name] = manifest
        catalog.plugins.append(manifest)
    return catalog
