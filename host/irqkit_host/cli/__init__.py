"""The `irqkit` command line.

Every subcommand's flags are declared here (they are a contract, see ARCHITECTURE.md §5);
the work is done by one module per subcommand, imported only when that subcommand runs,
so a slow or broken import in one never breaks the others.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Sequence

SOURCES = ("uart", "gpio", "timer", "soft")


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irqkit",
        description="Interrupt framework for MicroPython/CircuitPython: simulator, deploy, latency harness.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("sim", help="run a virtual board on a pty (MicroPython VM by default)")
    p.add_argument("--runtime", choices=("micropython", "cpython"), default=None,
                   help="VM to run the firmware on (default: micropython if available)")
    p.add_argument("--flash", metavar="DIR", default=None,
                   help="the board's filesystem / working directory (default: a temporary directory)")
    p.add_argument("--board", default="sim", help="board to emulate (default: sim)")
    p.set_defaults(module="sim")

    p = sub.add_parser("deploy", help="copy the firmware to a device with mpremote")
    p.add_argument("--port", required=True, help="serial port or pyserial URL")
    p.add_argument("--board", default=None, help="board definition name (see `irqkit boards`; default: sim)")
    p.add_argument("--mpy", action="store_true", help="precompile with mpy-cross for the device")
    p.set_defaults(module="deploy")

    p = sub.add_parser("measure", help="measure interrupt latency (starts a simulator when no --port)")
    p.add_argument("--port", default=None, help="serial port or pyserial URL (default: start a simulator)")
    p.add_argument("--board", default=None,
                   help="board definition name (see `irqkit boards`; default: sim) - says which port module to start")
    p.add_argument("--source", choices=SOURCES + ("all",), default="all", help="which interrupt source")
    p.add_argument("-n", "--count", type=_positive_int, default=None, help="trials per source (default 1000)")
    p.add_argument("--json", metavar="FILE", default=None, help="write results as JSON")
    p.add_argument("--csv", metavar="FILE", default=None, help="write raw samples as CSV")
    p.add_argument("--plot", metavar="FILE.png", default=None, help="write a histogram + CDF PNG")
    p.add_argument("--trigger", default=None,
                   help="gpio trigger backend: bench, modem:rts, modem:dtr, blinka:PIN (default: from the board)")
    p.add_argument("--runtime", choices=("micropython", "cpython"), default=None,
                   help="simulator runtime when no --port is given")
    p.add_argument("--timer-period-us", type=_positive_int, default=None,
                   help="timer source period in us (default 1000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(module="measure")

    p = sub.add_parser("boards", help="list board definitions")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(module="boards")
    return parser


def _load_runner(module: str) -> Callable[[argparse.Namespace], int]:
    mod = importlib.import_module(f"irqkit_host.{module}")
    return mod.run


def _is_user_error(exc: BaseException) -> bool:
    """Errors that are the user's input or the device's state, not irqkit bugs: these are
    reported as one line; anything else keeps its traceback."""
    from .boards import BoardError
    from .link import LinkError
    from .triggers import TriggerError
    return isinstance(exc, (CliError, BoardError, LinkError, TriggerError))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        runner = _load_runner(args.module)
        return int(runner(args) or 0)
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"irqkit {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"irqkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # run as irqkit_host.cli, not __main__, so its exception classes are the ones raised
    from irqkit_host.cli import main as _main
    sys.exit(_main())
