"""`liverview <sub-command>`: the batch tools. Each sub-command lives in liverview/commands/<name>.py
and exposes ``register(subparsers)``; that function sets ``func`` on its parser."""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules under liverview.commands, in the order `liverview --help` lists them.
COMMAND_MODULES = ["synth_ct", "info", "register_phases", "plugins_list", "export_annotations", "import_csv", "train_detector", "detect", "eval_detect", "synth_us", "train_us", "us_segment", "eval_us", "cv_us", "train_lpc", "harvest_round", "export_us"]


class CliError(Exception):
    """An error the user can act on: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liverview", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"liverview.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from liverview.plugin_api.errors import Cancelled, ModelError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, FileNotFoundError, ValueError, KeyError, ModelError, Cancelled) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"liverview {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # `python -m liverview.cli`: run the imported module, so commands raise the same CliError class we catch.
    from liverview.cli import main as _main

    sys.exit(_main())
