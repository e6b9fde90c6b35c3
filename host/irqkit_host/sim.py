"""`irqkit sim`: run a virtual board on a pty until SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .boards import load_board
from .cli import CliError
from .simlaunch import SimError, start_sim


def run(args: argparse.Namespace) -> int:
    board_name = getattr(args, "board", None) or "sim"
    if board_name == "microbit-v1":
        # a real Cortex-M0 MicroPython (1.9.2) under QEMU, its UART on a pty
        from . import qemu
        return qemu.run(args)
    if "sim" not in load_board(board_name):
        raise CliError(f"irqkit sim: board {board_name!r} has no simulator personality "
                       "(no \"sim\" section in its board file)")
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            board = start_sim(runtime=args.runtime, flash=args.flash, board=board_name)
        except SimError as exc:
            raise CliError(str(exc)) from None
        try:
            print(f"port: {board.port}", flush=True)
            print(f"bench: {board.bench}", flush=True)
            note = " (heap_lock is a no-op: ISR allocations are not caught)" if board.runtime == "cpython" else ""
            print(f"runtime: {board.runtime}{note}", flush=True)
            print(f"flash: {board.flash}", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            board.stop()
            print(f"sim: stopped (soft resets: {board.restarts}, VM crashes: {board.crashes})",
                  file=sys.stderr, flush=True)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0
