"""The CLI layer: the ``irqkit`` command, the only place errors become one line on stderr.

A command table (:data:`COMMANDS`) maps each subcommand to its module — :mod:`.sim`,
:mod:`.deploy`, :mod:`.measure`, :mod:`.run`, :mod:`.bench`, :mod:`.boards` — which declares its flags (a contract,
see ARCHITECTURE.md §5) and does args → API → print.
"""
from __future__ import annotations

import argparse
import sys
from types import ModuleType
from typing import NoReturn, Sequence

from .. import __version__
from ..errors import IrqkitError
from . import bench, boards, deploy, measure, report, run, sim

#: subcommand -> module with HELP, add_arguments(parser) and run(args) -> exit status
COMMANDS: dict[str, ModuleType] = {
    "sim": sim,
    "bench": bench,
    "deploy": deploy,
    "measure": measure,
    "run": run,
    "boards": boards,
    "report": report,
}


class OneLineParser(argparse.ArgumentParser):
    """Usage errors are one line (``irqkit measure: error: ...``, exit 2), as the README
    promises, instead of argparse's usage block; ``--help`` still prints the full usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="irqkit",
        description="Interrupt framework for MicroPython/CircuitPython: simulator, deploy, latency harness.",
    )
    parser.add_argument("--version", action="version", version=f"irqkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=module.HELP)
        module.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(COMMANDS[args.command].run(args) or 0)
    except IrqkitError as exc:
        # the user's input or the device's state, not an irqkit bug: one line, no traceback
        print(f"irqkit {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"irqkit {args.command}: interrupted", file=sys.stderr)
        return 130
