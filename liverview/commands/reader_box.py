"""The `--box-margin LO HI` / `--box-jitter SD` options of eval-us and cv-us: how the simulated reader draws
the two-click test box (liverview.us.click_simulation.ReaderBox, imported only when a command runs, so that
--help stays quick); and `--no-box-fit`: whether the segmenter fits a box's mask to the box
(liverview.us.box_fit), as the workspace does by default, and `--box-shape` which contour that fit draws."""

from __future__ import annotations

import argparse

from liverview.cli import CliError


def add_reader_box_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--box-margin", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="two-click test box: each side pushed out by U(LO, HI) x the lesion's size "
                             "(default 0 0: with --box-jitter 0, the lesion's own box, drawn to its edges as the "
                             "workspace asks; 0.02 0.10 with --box-jitter 0.03 is a reader who drags loosely)")
    parser.add_argument("--box-jitter", type=float, default=None, metavar="SD",
                        help="positional error of each box side, sd as a share of the lesion's size (default 0)")
    parser.add_argument("--no-box-fit", dest="box_fit", action="store_false",
                        help="leave a box's mask as the net draws it (default: fitted to the box, whose sides the "
                             "reader drew at the lesion's edges; the workspace's 'Box = lesion edges' unticked)")
    add_box_shape_option(parser)


# liverview.us.box_fit.BOX_SHAPES, spelt out so that building the parser does not import OpenCV
BOX_SHAPE_CHOICES = ("net", "ellipse", "blend")


def add_box_shape_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--box-shape", choices=BOX_SHAPE_CHOICES, default=None,
                        help="the fitted contour of a box: 'net' stretches the net's outline onto the box, 'ellipse' "
                             "draws the ellipse touching the box's four sides, leaning as the net's mask leans, "
                             "'blend' the shape halfway between the two (default: the segmenter's own choice)")


def reader_box(args: argparse.Namespace):
    """The ReaderBox the options ask for (the defaults where an option is not given)."""
    from liverview.us.click_simulation import DEFAULT_READER, ReaderBox

    margin = DEFAULT_READER.enlarge if args.box_margin is None else tuple(args.box_margin)
    jitter = DEFAULT_READER.jitter if args.box_jitter is None else args.box_jitter
    try:
        return ReaderBox(margin, jitter)
    except ValueError as exc:
        raise CliError(f"--box-margin / --box-jitter: {exc}") from exc


def apply_box_fit(segmenter, args: argparse.Namespace) -> bool:
    """Switch the segmenter's box fit as --no-box-fit asks; returns whether it is on. A segmenter without the
    setting (another plugin) is left as it is and reported as off."""
    if not hasattr(segmenter, "box_fit"):
        if not args.box_fit:
            raise CliError(f"--no-box-fit: the segmenter {getattr(segmenter, 'name', segmenter)!r} has no box fit")
        return False
    segmenter.box_fit = bool(args.box_fit)
    shape = getattr(args, "box_shape", None)
    if shape is not None:
        if not hasattr(segmenter, "box_shape"):
            raise CliError(f"--box-shape: the segmenter {getattr(segmenter, 'name', segmenter)!r} has no box shapes")
        segmenter.box_shape = shape
    return segmenter.box_fit


def box_fit_record(segmenter, box_fit: bool) -> dict:
    """What a report records of the fit: on or off, and the contour it draws (None when off)."""
    return {"box_fit": box_fit, "box_shape": getattr(segmenter, "box_shape", None) if box_fit else None}


def box_fit_words(record: dict) -> str:
    """The fit in a report's words, e.g. 'masks fitted to the box (ellipse along the net's tilt)'."""
    if not record.get("box_fit"):
        return "masks as the net drew them"
    shape = {"net": "the net's outline stretched", "ellipse": "ellipse along the net's tilt",
             "blend": "halfway between the net's outline and the ellipse along its tilt"}.get(record.get("box_shape"))
    return "masks fitted to the box" + (f" ({shape})" if shape else "")
