"""``irqkit deploy --port PORT [--board NAME] [--mpy]``: copy the firmware, then verify it runs."""
from __future__ import annotations

import argparse

from ..boards import load_board
from ..deploy import FlatDeployResult, deploy, verify
from ..errors import DeployError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="serial port or pyserial URL")
    p.add_argument("--board", default=None, help="board definition name (see `irqkit boards`; default: sim)")
    p.add_argument("--mpy", action="store_true", help="precompile with mpy-cross for the device")


def run(args: argparse.Namespace) -> int:
    board = load_board(args.board or "sim")
    try:
        res = deploy(args.port, board, mpy=args.mpy, log=print)
        if isinstance(res, FlatDeployResult):
            # a flat board (micro:bit) holds the core but not the app: verified by import
            print(f"deployed to {args.port}: {len(res.copied)} copied, {len(res.skipped)} unchanged; "
                  f"imported {', '.join(res.imported) or 'nothing'}; gc.mem_free() {res.mem_free}"
                  + (f"; did not import: {res.import_error}" if res.import_error else ""))
            return 0
        info = verify(args.port, board)
    except ValueError as exc:  # e.g. a device's .mpy version mpyinfo does not know
        if isinstance(exc, DeployError):
            raise
        raise DeployError(str(exc)) from None
    print(f"deployed to {args.port}: {len(res.copied)} copied, {len(res.skipped)} unchanged"
          + (f", {len(res.removed)} stale removed" if res.removed else ""))
    print(f"verified: HELLO from {info.get('board')} ({info.get('runtime')}, fw {info.get('fw')}, "
          f"irq {info.get('irq')}, sources {info.get('sources')})")
    return 0
