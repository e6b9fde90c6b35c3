"""The CLI layer: the ``irqkit`` command, the only place errors become one line on stderr.

A command table (:data:`COMMANDS`) names each subcommand and its help line; its module —
:mod:`.sim`, :mod:`.deploy`, :mod:`.measure`, :mod:`.run`, :mod:`.bench`, :mod:`.boards`,
:mod:`.report` — declares its flags (a contract, see ARCHITECTURE.md §5) and does args → API
→ print. Only the chosen command's module is loaded: each imports its whole API (the
simulator launcher, deploy and mpremote, jsonschema ...), which the others do not need
(`irqkit measure` starts in a fraction of a second less, #12).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType
from typing import Collection, NoReturn, Sequence

from .. import __version__
from ..errors import IrqkitError

#: subcommand -> its help line; the subcommand's module is ``irqkit_host.cli.<subcommand>``,
#: with add_arguments(parser) and run(args) -> exit status
COMMANDS: dict[str, str] = {
    "sim": "run a virtual board on a pty (MicroPython VM by default)",
    "bench": "send a bench command (pins, get, set, pulse, state, soft, train, ...) to a running simulator",
    "deploy": "copy the firmware to a device with mpremote",
    "measure": "measure interrupt latency (starts a simulator when no --port)",
    "run": "deploy irqkit and FILE, run FILE and stream its console (Ctrl-C stops it; "
           "starts a simulator when no --port)",
    "boards": "list board definitions",
    "report": "merge `irqkit measure --json` results from many targets into one table (or CSV)",
}


def command_module(name: str) -> ModuleType:
    """The module behind subcommand ``name`` (imported now, with the API it uses)."""
    return importlib.import_module(f"{__name__}.{name}")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors are one line (``irqkit measure: error: ...``, exit 2), as the README
    promises, instead of argparse's usage block; ``--help`` still prints the full usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(commands: Collection[str] = tuple(COMMANDS)) -> argparse.ArgumentParser:
    """The ``irqkit`` parser: every subcommand with its help line; the flags of those in
    ``commands`` (default: all, loading every command module)."""
    parser = OneLineParser(
        prog="irqkit",
        description="Interrupt framework for MicroPython/CircuitPython: simulator, deploy, latency harness.",
    )
    parser.add_argument("--version", action="version", version=f"irqkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name, help_line in COMMANDS.items():
        p = sub.add_parser(name, help=help_line)
        if name in commands:
            command_module(name).add_arguments(p)
    return parser


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option (irqkit's own
    options, --help and --version, take no value), None when there is none."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = chosen_command(argv)
    parser = build_parser([chosen] if chosen else [])   # only the chosen command's module is loaded
    args = parser.parse_args(argv)
    try:
        return int(command_module(args.command).run(args) or 0)
    except IrqkitError as exc:
        # the user's input or the device's state, not an irqkit bug: one line, no traceback
        print(f"irqkit {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"irqkit {args.command}: interrupted", file=sys.stderr)
        return 130
