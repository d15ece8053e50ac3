"""`liverview plugins`: list the plugins found, what they contribute, and any broken manifests."""

from __future__ import annotations

import argparse
from pathlib import Path

from liverview.commands.model_choice import plugin_folders
from liverview.plugin_api.kinds import kind_spec
from liverview.plugin_registry import CONTRIBUTION_KINDS, DEFAULT_PLUGIN_DIR, PluginCatalog, discover_plugins


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plugins", help="list plugins and their contributions",
        description="List the plugins found in plugin folders and through the 'liverview.plugins' entry points, "
                    "with their contributions and any manifest problems.")
    parser.add_argument("--kind", choices=CONTRIBUTION_KINDS, help="show only contributions of this kind")
    parser.add_argument("--plugin-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also search DIR/<name>/plugin.json (repeatable)")
    parser.add_argument("--no-entry-points", action="store_true", help="ignore installed third-party plugins")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when any manifest has problems")
    parser.set_defaults(func=run)


def format_catalog(catalog: PluginCatalog, kind: str | None = None) -> list[str]:
    """Human-readable lines: one per plugin, one indented line per contribution, then the problems."""
    lines: list[str] = []
    for plugin in catalog.plugins:
        shown = [c for c in plugin.contributions if kind is None or c.kind == kind]
        if kind is not None and not shown:
            continue
        lines.append(f"{plugin.name} {plugin.version} - {plugin.display_name}  [{plugin.source}]")
        for c in shown:
            mark = " (default)" if c.default else ""
            extra = f" [{', '.join(c.modalities)}]" if c.modalities else ""
            lines.append(f"  {c.kind:<19} {c.name}{mark}: {c.title}{extra}")
            lines.append(f"      command: {c.command}" + (f"; trainer: {c.trainer}" if c.trainer else ""))
            if c.weights is not None:
                lines.append(f"      weights: {c.weights}" + ("" if c.weights.is_file() else " (missing)"))
            elif kind_spec(c.kind).is_model:
                lines.append("      weights: none shipped (trained per project)")
            if c.model_card is not None:
                lines.append(f"      model card: {c.model_card}" + ("" if c.model_card.is_file() else " (missing)"))
    if not lines:
        lines.append("no plugins found" + (f" contributing a {kind}" if kind else ""))
    if catalog.problems:
        lines.append(f"problems ({len(catalog.problems)}):")
        lines.extend(f"  {p}" for p in catalog.problems)
    return lines


def run(args: argparse.Namespace) -> int:
    # The same folder order as the commands that load models (model_choice.plugin_folders: extra folders first),
    # so the listing names the contribution they would run when two offer one name.
    folders = plugin_folders(args.plugin_dir) or [DEFAULT_PLUGIN_DIR]
    catalog = discover_plugins(folders, include_entry_points=not args.no_entry_points)
    for line in format_catalog(catalog, args.kind):
        print(line)
    return 1 if args.check and catalog.problems else 0
