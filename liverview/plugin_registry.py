"""Find plugins from their manifests, the way napari's npe2 does, so the app never hard-codes them.

A plugin declares what it contributes (detectors, segmenters, tools, data sources, ...) in a JSON
manifest. Manifests come from folders ``plugins/<name>/plugin.json`` and from installed packages
through the ``liverview.plugins`` entry point group. Nothing a contribution names is imported until
``Contribution.load()`` is called, so a broken or heavy plugin costs nothing until it is used, and a
broken manifest is reported in ``PluginCatalog.problems`` instead of stopping the app.

Manifest::

    {"name": "mscn_detector", "display_name": "...", "version": "0.1.0", "description": "...",
     "contributes": [{"kind": "detector", "name": "mscn_detector", "title": "...", "modalities": ["CT"],
                      "command": "package.module:load_detector", "trainer": "package.module:Trainer",
                      "weights": "models:mscn_detector/mscn_detector.pt",
                      "model_card": "models:mscn_detector/MODEL_CARD.md", "default": true}]}

``weights`` and ``model_card`` are relative to the plugin's own folder (a third-party package ships its
weights inside itself), or, with the ``models:`` prefix, to LiverView's ``models/`` folder (set
``LIVERVIEW_MODELS_DIR`` to move it). Callers ask for a contribution by kind and optional name
(:meth:`PluginCatalog.resolve`) and get a model object checked against the kind's protocol
(:meth:`Contribution.create`); see ``liverview.plugin_api`` and docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from liverview.plugin_api.errors import PluginContractError, WeightsMissingError
from liverview.plugin_api.kinds import KINDS, kind_spec

ENTRY_POINT_GROUP = "liverview.plugins"
MANIFEST_FILE = "plugin.json"
CONTRIBUTION_KINDS: tuple[str, ...] = tuple(KINDS)
BUNDLED_PLUGIN_PACKAGE = "liverview_plugins"  # the repository's plugins/ folder, installed under this name
MODELS_PREFIX = "models:"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def _bundled_plugin_dir() -> Path:
    """Where the bundled plugins live: the installed ``liverview_plugins`` package (found without importing
    it), else the repository's plugins/ folder."""
    spec = importlib.util.find_spec(BUNDLED_PLUGIN_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return _REPO_ROOT / "plugins"


DEFAULT_PLUGIN_DIR = _bundled_plugin_dir()
DEFAULT_MODELS_DIR = Path(os.environ.get("LIVERVIEW_MODELS_DIR") or _REPO_ROOT / "models")

_MANIFEST_FIELDS = ("name", "display_name", "version", "description", "contributes")
_CONTRIBUTION_FIELDS = ("kind", "name", "command", "title", "modalities", "weights", "model_card", "trainer",
                        "default", "validation")
_COMMAND = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PluginError(Exception):
    """Base class for plugin problems."""


class ManifestError(PluginError, ValueError):
    """A manifest does not follow the schema; the message names the plugin and the field."""


class ContributionLoadError(PluginError, ImportError):
    """The module or function a contribution names cannot be imported."""


class ContributionNotFoundError(PluginError, LookupError):
    """No contribution of the kind (and name) asked for; the message lists those there are."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0])


def _import_target(spec: str, where: str) -> Callable[..., Any]:
    """The callable that ``package.module:attr.path`` names."""
    module_name, _, attr_path = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ContributionLoadError(
            f"{where}: cannot import module '{module_name}' named by '{spec}': {exc}. "
            "Is the plugin's package installed and importable?") from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ContributionLoadError(f"{where}: module '{module_name}' has no attribute '{attr_path}' "
                                        f"('{spec}')") from None
    if not callable(target):
        raise ContributionLoadError(f"{where}: '{spec}' is a {type(target).__name__}, not a callable")
    return target


def _check_protocol(obj: Any, protocol: type | None, where: str, what: str) -> Any:
    if protocol is not None and not isinstance(obj, protocol):
        raise PluginContractError(f"{where}: its {what} returned a {type(obj).__name__}, which does not follow "
                                  f"the {protocol.__name__} interface (liverview.plugin_api)")
    return obj


@dataclass(frozen=True)
class Contribution:
    """One thing a plugin offers; nothing it names is imported before load(), create() or trainer()."""

    plugin: str
    kind: str
    command: str  # "package.module:function"; for model kinds a factory (weights=None, device="auto")
    title: str
    modalities: tuple[str, ...] = ()
    weights: Path | None = None  # absolute; may not exist yet (trained per project, or not trained yet)
    name: str = ""  # unique within its kind; what --model names (default: the plugin's name)
    model_card: Path | None = None
    trainer: str | None = None  # "package.module:factory" returning an object with train(...)
    default: bool = False  # the one used when no name is given
    validation: Path | None = None  # JSON of the figures the model card reports, shown beside the model

    def validated_figures(self) -> dict[str, Any]:
        """The validation JSON ({"figures": [...lines], "notes": {...}}), or {} when there is none or it
        cannot be read (the app then shows no figures rather than wrong ones)."""
        if self.validation is None or not self.validation.is_file():
            return {}
        try:
            data = json.loads(self.validation.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def where(self) -> str:
        return f"plugin '{self.plugin}', {self.kind} '{self.title}'"

    def load(self) -> Callable[..., Any]:
        """Import the module and return the callable the command names."""
        return _import_target(self.command, self.where)

    def create(self, device: str = "auto", weights: str | os.PathLike[str] | None = None) -> Any:
        """The model object: the factory called with ``weights`` (default: the manifest's), checked against
        the kind's protocol. A model kind whose weights are declared but missing raises WeightsMissingError."""
        path = Path(weights) if weights is not None else self.weights
        if path is not None and not path.is_file():
            how = f"; how they are made: {self.model_card}" if self.model_card and self.model_card.is_file() else ""
            raise WeightsMissingError(f"{self.where} ('{self.name}'): weights {path} not found{how}")
        factory = self.load()
        obj = factory(weights=path, device=device) if path is not None else factory(device=device)
        return _check_protocol(obj, kind_spec(self.kind).protocol, self.where, f"factory '{self.command}'")

    def create_trainer(self) -> Any:
        """The contribution's trainer object, checked against the kind's trainer protocol."""
        if self.trainer is None:
            raise ContributionLoadError(f"{self.where} declares no trainer: it cannot be trained by LiverView")
        obj = _import_target(self.trainer, self.where)()
        return _check_protocol(obj, kind_spec(self.kind).trainer_protocol, self.where, f"trainer '{self.trainer}'")


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

    def resolve(self, kind: str, name: str | None = None, modality: str | None = None) -> Contribution:
        """The contribution of ``kind`` called ``name``, or the default one (marked ``default``, else the
        first found). ``modality`` keeps only contributions that declare it."""
        found = [c for c in self.contributions(kind)
                 if modality is None or modality.upper() in {m.upper() for m in c.modalities}]
        what = f"{kind}" + (f" for {modality}" if modality else "")
        if name is not None:
            for c in found:
                if c.name == name:
                    return c
            have = ", ".join(c.name for c in found) or "none"
            raise ContributionNotFoundError(f"no {what} named '{name}' (installed: {have})")
        if not found:
            problems = "".join(f"\n- {p}" for p in self.problems[:5])
            raise ContributionNotFoundError(f"no plugin offers a {what} (a plugin.json contributing kind '{kind}')"
                                            + (f"; plugin problems:{problems}" if problems else ""))
        return next((c for c in found if c.default), found[0])

    def plugin(self, name: str) -> PluginManifest:
        for p in self.plugins:
            if p.name == name:
                return p
        have = ", ".join(p.name for p in self.plugins) or "none"
        raise KeyError(f"no plugin named '{name}' (found: {have})")


# --- validation ----------------------------------------------------------------------------
def parse_manifest(data: Any, source: str, root: Path | None = None,
                   notes: list[str] | None = None, models_dir: Path | None = None) -> PluginManifest:
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
    models = models_dir if models_dir is not None else DEFAULT_MODELS_DIR
    kinds = [c.get("kind") if isinstance(c, dict) else None for c in contributes]
    # an unnamed contribution is called after its plugin, or "<plugin>.<n>" when the plugin has several of its kind
    default_names = [data["name"] if kinds.count(k) == 1 else f"{data['name']}.{n}" for n, k in enumerate(kinds)]
    items = tuple(_parse_contribution(c, n, data["name"], label, root, notes, models, default_names[n])
                  for n, c in enumerate(contributes))
    names = [(c.kind, c.name) for c in items]
    if len(set(names)) != len(names):
        raise ManifestError(f"{label}: two contributions of one kind share a name; give each a distinct 'name'")
    return PluginManifest(data["name"], data["display_name"], data["version"], data["description"], items,
                          source, root)


def _parse_contribution(item: Any, n: int, plugin: str, label: str, root: Path | None,
                        notes: list[str] | None, models_dir: Path, default_name: str) -> Contribution:
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
    name = item.get("name", default_name)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ManifestError(f"{where}.name may hold only letters, digits, '_', '-' and '.', got {name!r}")
    trainer = item.get("trainer")
    if trainer is not None and (not isinstance(trainer, str) or not _COMMAND.match(trainer)):
        raise ManifestError(f"{where}.trainer must look like 'package.module:factory', got {trainer!r}")
    default = item.get("default", False)
    if not isinstance(default, bool):
        raise ManifestError(f"{where}.default must be true or false, got {default!r}")
    if notes is not None:
        notes.extend(f"{where}: unknown field '{k}' ignored" for k in item if k not in _CONTRIBUTION_FIELDS)
    return Contribution(plugin, item["kind"], item["command"], item["title"],
                        tuple(m.strip() for m in modalities),
                        _resolve_file(item.get("weights"), f"{where}.weights", root, models_dir), name,
                        _resolve_file(item.get("model_card"), f"{where}.model_card", root, models_dir),
                        trainer, default,
                        _resolve_file(item.get("validation"), f"{where}.validation", root, models_dir))


def _resolve_file(value: Any, where: str, root: Path | None, models_dir: Path) -> Path | None:
    """A manifest path: 'models:REL' under LiverView's models/ folder, else REL under the plugin's folder."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where} must be a relative path string, got {value!r}")
    in_models = value.startswith(MODELS_PREFIX)
    relative = Path(value[len(MODELS_PREFIX):] if in_models else value)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ManifestError(f"{where} must be a path inside the plugin folder or, as 'models:REL', inside "
                            f"LiverView's models/ folder, got {value!r}")
    if in_models:
        return models_dir / relative
    if root is None:
        raise ManifestError(f"{where} needs a plugin folder to be relative to; this manifest has none")
    return root / relative


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
    taken: dict[tuple[str, str], str] = {}  # (kind, contribution name) -> plugin
    for manifest in found:
        if manifest.name in seen:
            catalog.problems.append(f"plugin '{manifest.name}' ({manifest.source}) ignored: the name is already "
                                    f"taken by {seen[manifest.name].source}")
            continue
        kept = []
        for c in manifest.contributions:
            if (c.kind, c.name) in taken:
                catalog.problems.append(f"{c.where} ignored: plugin '{taken[c.kind, c.name]}' already offers a "
                                        f"{c.kind} named '{c.name}'")
                continue
            taken[c.kind, c.name] = c.plugin
            kept.append(c)
        seen[manifest.name] = manifest
        catalog.plugins.append(dataclasses.replace(manifest, contributions=tuple(kept)))
    return catalog
