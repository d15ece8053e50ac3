"""`liverview <sub-command>`: the batch tools. Each sub-command lives in liverview/commands/<name>.py
and exposes ``register(subparsers)``; that function sets ``func`` on its parser."""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules under liverview.commands, in the order `liverview --help` lists them.
COMMAND_MODULES = ["synth_ct", "synth_inserted", "info", "register_phases", "plugins_list", "export_annotations", "import_annotations", "import_csv", "train_detector", "mine_negatives", "detect", "scan", "eval_detect", "eval_keyslices", "synth_us", "train_us", "us_segment", "eval_us", "cv_us", "calibrate_us", "train_lpc", "harvest_round", "export_us", "decisions"]


# Exit statuses of every command (also in `liverview --help` and README.md).
EXIT_OK = 0
EXIT_PARTIAL = 1  # done, but some items were left out (they are listed)
EXIT_USAGE = 2  # the command line or an input is wrong (missing file, unsupported format, bad value)
EXIT_DAMAGED = 3  # an input or project file is damaged, or too large to load within the memory limit
EXIT_LOCKED = 4  # the project is open for editing elsewhere
EXIT_INTERNAL = 5  # a bug: an unexpected error (LIVERVIEW_DEBUG=1 shows its traceback)
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_OUTPUT_CLOSED = 141  # what a shell reports for a tool stopped by SIGPIPE: the output's reader quit (`| head`)
EXIT_STATUS_HELP = ("exit status: 0 done; 1 done, some items left out (listed); 2 wrong command line or input; "
                    "3 damaged input or project, or too large for the memory limit (LIVERVIEW_MAX_IMAGE_BYTES); "
                    "4 project open for editing elsewhere; 5 internal error; 130 interrupted; "
                    "141 the output's reader stopped reading (| head)")


class CliError(Exception):
    """An error the user can act on: printed as one line, exit status 2 (or ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_damage(exc: BaseException) -> bool:
    """A damaged file or project, or more than memory allows (by class name: the CLI imports no layer)."""
    import sqlite3

    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"DamagedFileError", "ImageTooLargeError", "DamagedProjectError", "UsImageTooLargeError"}:
        return True
    if isinstance(exc, MemoryError):
        return True
    if type(exc) is sqlite3.DatabaseError:  # "malformed", "not a database": not busy / constraint errors
        return True
    return type(exc).__module__.startswith("cv2") and type(exc).__name__ == "error"


def exit_status(exc: BaseException) -> int:
    """The documented exit status for a failure (see EXIT_STATUS_HELP)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    chain = list(_chain(exc))
    if any(_is_damage(e) for e in chain):
        return EXIT_DAMAGED
    if any(type(e).__name__ == "ProjectLockedError" for e in chain):
        return EXIT_LOCKED
    if isinstance(exc, CliError):
        return exc.exit_code
    return EXIT_USAGE if _is_user_error(exc) else EXIT_INTERNAL


def _is_user_error(exc: BaseException) -> bool:
    import sqlite3

    from liverview.plugin_api.errors import Cancelled, ModelError

    known = (CliError, OSError, ValueError, KeyError, ModelError, Cancelled, sqlite3.Error)
    return isinstance(exc, known) or any(
        cls.__name__ in ("LoadError", "StoreError", "SaveError") for cls in type(exc).__mro__)


def one_line(exc: BaseException) -> str:
    """A failure as one line: its message (a KeyError's key unquoted), else what kind of failure it was."""
    if isinstance(exc, MemoryError):
        return ("out of memory while loading; lower LIVERVIEW_MAX_IMAGE_BYTES so that such inputs are "
                "refused up front, or close other programs")
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if type(exc).__module__.startswith("cv2"):
        message = "OpenCV cannot decode the image: " + (message.strip().splitlines() or ["?"])[-1]
    elif type(exc) is __import__("sqlite3").DatabaseError:
        message = f"a project file is damaged ({message}): open it read-only to see what can still be read"
    message = " ".join(message.split())  # one line
    if not message:
        message = type(exc).__name__
    if exit_status(exc) == EXIT_INTERNAL:
        message = f"internal error ({type(exc).__name__}: {message}); run with LIVERVIEW_DEBUG=1 for details"
    return message


_MODULE_OF = {"plugins": "plugins_list", "export": "export_annotations", "import": "import_annotations"}  # else "a-b" lives in a_b.py


def build_parser(argv: list[str] | None = None, all_commands: bool = False) -> argparse.ArgumentParser:
    """The parser; given the command line, only the command it names is imported (a command's imports
    can be heavy: torch, SimpleITK), so `liverview CMD` starts fast. Without one, the commands are listed
    from liverview.commands.summaries; ``all_commands`` registers every command's full parser (tests)."""
    parser = argparse.ArgumentParser(prog="liverview", description=__doc__.split("\n")[0],
                                     epilog=EXIT_STATUS_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    first = next((a for a in argv or () if not a.startswith("-")), None)
    chosen = _MODULE_OF.get(first or "", (first or "").replace("-", "_"))
    if all_commands:
        for name in COMMAND_MODULES:
            importlib.import_module(f"liverview.commands.{name}").register(sub)
        return parser
    if chosen in COMMAND_MODULES:
        importlib.import_module(f"liverview.commands.{chosen}").register(sub)
        return parser
    # No command named (`liverview --help`): list them from their summaries, importing none (0.1 s, not 1 s).
    from liverview.commands.summaries import SUMMARIES

    for name in COMMAND_MODULES:
        if name in SUMMARIES:
            command, summary = SUMMARIES[name]
            sub.add_parser(command, help=summary, description=summary)
        else:  # a command not in the summaries yet: slower, still listed
            importlib.import_module(f"liverview.commands.{name}").register(sub)
    return parser


def _stdout_to_devnull() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure becomes one line on stderr and a documented exit status (never a
    traceback, unless LIVERVIEW_DEBUG=1 asks for it)."""
    import os

    args = build_parser(sys.argv[1:] if argv is None else argv).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `liverview info DIR | head`: nobody reads the rest, as for any Unix tool
        _stdout_to_devnull()  # else Python's flush at exit fails once more and prints about it
        return EXIT_OUTPUT_CLOSED
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the one place every failure is reported
        if os.environ.get("LIVERVIEW_DEBUG") and not isinstance(exc, KeyboardInterrupt):
            raise
        print(f"liverview {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return exit_status(exc)


if __name__ == "__main__":
    # `python -m liverview.cli`: run the imported module, so commands raise the same CliError class we catch.
    from liverview.cli import main as _main

    sys.exit(_main())
