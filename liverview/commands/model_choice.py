"""How every command picks a model: by kind through the plugin registry, the default one or ``--model NAME``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from liverview.cli import CliError
from liverview.plugin_api.kinds import kind_spec
from liverview.plugin_registry import Contribution, PluginError, discover_plugins


def add_model_option(parser: argparse.ArgumentParser, kind: str, flag: str = "--model") -> None:
    parser.add_argument(flag, default=None, metavar="NAME",
                        help=f"which {kind} contribution to use (default: the registry's default {kind}; "
                             f"`liverview plugins --kind {kind}` lists them)")


def resolve(kind: str, name: str | None, modality: str | None = None) -> Contribution:
    """The contribution, or a CliError that lists what is installed."""
    try:
        return discover_plugins().resolve(kind, name, modality)
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
