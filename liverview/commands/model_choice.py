"""How every command picks a model: by kind through the plugin registry, the default one or ``--model NAME``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Sequence

from liverview.cli import CliError
from liverview.plugin_api.kinds import kind_spec
from liverview.plugin_registry import DEFAULT_PLUGIN_DIR, Contribution, PluginError, discover_plugins


def add_model_option(parser: argparse.ArgumentParser, kind: str, flag: str = "--model") -> None:
    parser.add_argument(flag, default=None, metavar="NAME",
                        help=f"which {kind} contribution to use (default: the registry's default {kind}; "
                             f"`liverview plugins --kind {kind}` lists them)")


def add_plugin_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin-dir", dest="plugin_dirs", type=Path, action="append", default=[], metavar="DIR",
                        help="also look for plugins in DIR (folders holding <name>/plugin.json), before the "
                             "bundled ones; repeatable")


def plugin_folders(extra: Sequence[Path] | None) -> list[Path] | None:
    """The plugin folders to search: ``extra`` first, then the bundled plugins (None: the registry's default)."""
    return [*(Path(p) for p in extra), DEFAULT_PLUGIN_DIR] if extra else None


def resolve(kind: str, name: str | None, modality: str | None = None,
            plugin_dirs: Sequence[Path] | None = None) -> Contribution:
    """The contribution, or a CliError that lists what is installed. ``plugin_dirs`` are searched before
    the bundled plugins."""
    try:
        return discover_plugins(plugin_folders(plugin_dirs)).resolve(kind, name, modality)
    except PluginError as exc:
        raise CliError(str(exc)) from None


def create(contribution: Contribution, device: str = "auto", weights: str | os.PathLike[str] | None = None) -> Any:
    """The model object of a contribution (protocol of its kind checked by the registry)."""
    if not kind_spec(contribution.kind).is_model:
        raise CliError(f"{contribution.where} is not a model")
    try:
        return contribution.create(device=device, weights=weights)
    except PluginError as exc:
        raise CliError(str(exc)) from None


def create_trainer(contribution: Contribution) -> Any:
    try:
        return contribution.create_trainer()
    except PluginError as exc:
        raise CliError(str(exc)) from None


def parse_options(pairs: list[str]) -> dict:
    """KEY=VALUE pairs; VALUE is read as JSON when it parses (numbers, lists, true/false), else as text."""
    out: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--set {pair!r}: write KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
