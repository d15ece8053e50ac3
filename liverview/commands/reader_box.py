"""The `--box-margin LO HI` / `--box-jitter SD` options of eval-us and cv-us: how the simulated reader draws
the two-click test box (liverview.us.click_simulation.ReaderBox, imported only when a command runs, so that
--help stays quick)."""

from __future__ import annotations

import argparse

from liverview.cli import CliError


def add_reader_box_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--box-margin", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="two-click test box: each side pushed out by U(LO, HI) x the lesion's size "
                             "(default: ReaderBox's, 0.02 0.10; 0 0 with --box-jitter 0 is the lesion's tight box)")
    parser.add_argument("--box-jitter", type=float, default=None, metavar="SD",
                        help="positional error of each box side, sd as a share of the lesion's size "
                             "(default: ReaderBox's, 0.03)")


def reader_box(args: argparse.Namespace):
    """The ReaderBox the options ask for (the defaults where an option is not given)."""
    from liverview.us.click_simulation import DEFAULT_READER, ReaderBox

    margin = DEFAULT_READER.enlarge if args.box_margin is None else tuple(args.box_margin)
    jitter = DEFAULT_READER.jitter if args.box_jitter is None else args.box_jitter
    try:
        return ReaderBox(margin, jitter)
    except ValueError as exc:
        raise CliError(f"--box-margin / --box-jitter: {exc}") from exc
