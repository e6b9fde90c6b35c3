"""``irqkit sim [--board NAME]``: start the board's target, print its port, serve until
SIGINT/SIGTERM (or until the target stops on its own: exit 1)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..boards import list_boards, load_board
from ..errors import TargetError, UsageError
from ..targets import can_start, start_target

HELP = "run a virtual board on a pty (MicroPython VM by default)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=("micropython", "cpython"), default=None,
                   help="VM to run the firmware on (default: micropython if available)")
    p.add_argument("--flash", metavar="DIR", default=None,
                   help="the board's filesystem / working directory (default: a temporary directory)")
    p.add_argument("--board", default="sim",
                   help="board to emulate: sim, microbit-v1 (QEMU) or any board file with a \"sim\" personality (default: sim)")
    p.add_argument("--bench", metavar="tcp:[HOST:]PORT", default=None,
                   help="serve the bench channel on TCP too, for a simulator on another machine "
                        "(HOST defaults to 127.0.0.1; any other address gets a random token, "
                        "printed in the bench: URL; PORT 0 picks a free one)")


def run(args: argparse.Namespace) -> int:
    board = load_board(getattr(args, "board", None) or "sim")
    if not can_start(board):
        startable = [b["name"] for b in list_boards() if can_start(b)]
        raise UsageError(f"board {board['name']!r} has no simulator personality (no \"target\" in "
                         f"its board file); irqkit sim runs {', '.join(repr(n) for n in startable)}")
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    in_main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    try:
        target = start_target(board, runtime=getattr(args, "runtime", None), flash=getattr(args, "flash", None),
                              bench=getattr(args, "bench", None))
        try:
            print(f"port: {target.port}", flush=True)
            for line in target.banner():
                print(line, flush=True)
            while not stop.wait(0.5):
                if not target.serving:
                    raise TargetError(target.exit_reason())
        finally:
            target.stop()
            if target.farewell():
                print(target.farewell(), file=sys.stderr, flush=True)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0
