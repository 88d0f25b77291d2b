"""The ``odahgen`` command line.

This package is the top layer: each module here is one command group and exposes
``register(subparsers)``, which adds an argparse sub-parser whose ``func(args) -> int`` runs
it by calling the stage packages' library functions (no stage package imports the CLI). Only commands that really
work are listed in :data:`COMMAND_MODULES`. A user-facing failure raises
:class:`odahgen.errors.OdahgenError`; it is printed as one line and the exit code is non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from odahgen import __version__
from odahgen.errors import OdahgenError

# Order is the order shown in --help.
COMMAND_MODULES = [
    "odahgen.cli.doctor",
    "odahgen.cli.preview",
    "odahgen.cli.jobs",
    "odahgen.cli.gt",
    "odahgen.cli.baseline",
    "odahgen.cli.body",
    "odahgen.cli.skeleton",
    "odahgen.cli.motion",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse with the house rule: a usage error is one line naming the option, exit 2
    (sub-parsers inherit the class)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def workers_option(text: str) -> int:
    """argparse type of every ``--workers``: 0 (the default) or a positive count."""
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 (the default) or a positive number")
    return value


def count_option(text: str) -> int:
    """argparse type of a count that may be 0 but not negative."""
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="odahgen",
        description=(
            "Generate ODAH-style synthetic datasets for markerless biomechanics: OpenSim "
            "ground truth, a fitted body mesh, randomized scenes, two-view Blender renders."
        ),
        epilog="Run `odahgen COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"odahgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except OdahgenError as err:
        print(f"odahgen {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"odahgen {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an unexpected bug: one line, full trace on request
        if os.environ.get("ODAHGEN_DEBUG"):
            raise
        print(
            f"odahgen {args.command}: internal error: {type(err).__name__}: "
            f"{' '.join(str(err).split())} (set ODAHGEN_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
