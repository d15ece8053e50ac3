"""Every command's parser: each option documented, no stray '%%' in the rendered help, and `liverview --help`
listing the commands without importing any of them (it must answer in well under 0.3 s)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from liverview.cli import COMMAND_MODULES, build_parser
from liverview.commands.summaries import SUMMARIES


def subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


FULL = subparsers(build_parser(all_commands=True))
COMMANDS = sorted(FULL.choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_a_help_text(command):
    parser = FULL.choices[command]
    missing = [a.option_strings or [a.dest] for a in parser._actions
               if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == [], f"liverview {command}: options without a help text: {missing}"


@pytest.mark.parametrize("command", COMMANDS)
def test_rendered_help_has_no_stray_percent_signs(command):
    text = FULL.choices[command].format_help()
    assert "%%" not in text and "%(" not in text


def test_summaries_agree_with_the_commands():
    """`liverview --help` lists the summaries; each command's parser must say the same, and every command
    module must have one (else --help imports it and gets slow)."""
    registered = {ca.dest: ca.help for ca in FULL._choices_actions}
    assert set(SUMMARIES) == set(COMMAND_MODULES)
    assert {name: text for name, text in SUMMARIES.values()} == registered


def test_help_lists_every_command():
    light = subparsers(build_parser([]))
    assert list(light.choices) == list(FULL.choices)
    text = build_parser([]).format_help()
    assert all(name in text for name in FULL.choices)


def test_help_imports_no_command_and_no_heavy_library():
    code = ("import sys; from liverview.cli import build_parser; build_parser([]).format_help(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'scipy', 'pydicom', 'SimpleITK', 'torch') or m.startswith('liverview.commands.') "
            "and m != 'liverview.commands.summaries'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("eval-") or c == "cv-us"])
def test_every_eval_command_takes_json(command):
    assert any("--json" in a.option_strings for a in FULL.choices[command]._actions)
