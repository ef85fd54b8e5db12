"""The ``superdiff`` command line: one argparse program, subcommands registered by modules.

Each module in :data:`COMMAND_MODULES` has ``register(subparsers)``, which adds its
subcommands and sets ``handler`` (a function ``args -> int``) on each.  Errors meant for
the user (:class:`~superdiff_core.errors.SuperDiffError`) and argparse's own errors end
with exit status 2 and one line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .device import prepare_thread_environment
from .errors import SuperDiffError

COMMAND_MODULES: tuple[str, ...] = (
    "superdiff_core.commands.training",
    "superdiff_core.commands.generate",
    "superdiff_core.commands.screen",
    "superdiff_core.commands.properties",
    "superdiff_core.commands.maps",
    "superdiff_core.commands.campaign",
    "superdiff_core.commands.phases",
)


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every available subcommand."""
    parser = OneLineErrorParser(
        prog="superdiff",
        description="Generate and screen candidate superconductors with a composition diffusion model.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    prepare_thread_environment()  # before any command imports torch
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except SuperDiffError as error:
        print(f"superdiff {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"superdiff {args.command}: interrupted; outputs already written are complete", file=sys.stderr)
        return 130
