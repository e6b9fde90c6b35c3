"""``irqkit run FILE [--port PORT] [--board NAME]``: deploy irqkit and FILE, run FILE from the
raw REPL, stream the device's console to the terminal until it returns.

Ctrl-C stops the app the way a person at a terminal would, then leaves the board at its
friendly REPL (``mpremote`` works afterwards): ``\\r\\x03`` then a quiet line, which both a
plain program (KeyboardInterrupt) and an app that owns the UART (irqkit's break rule:
a 0x03 with no 0x00 after it, then a quiet line) take as a break. If the app does not
return, the raw-REPL handshake mpremote uses (repeated Ctrl-C, Ctrl-A) is tried before
giving up. No ``--port``: a simulator of the board is started (its ``port:``/``bench:``
lines printed, listed for ``irqkit bench``) and stopped when the app ends.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from mpremote.transport import TransportError

from ..boards import load_board
from ..deploy import Device, deploy
from ..errors import LinkError, UsageError
from ..link.repl import enter_raw_repl, open_transport
from ..targets import can_start, start_target
from ..targets.simregistry import free_name
from .sim import serve

STOP_WAIT_S = 3.0      # how long the app gets to return after the Ctrl-C
RESEND_AFTER_S = 1.0   # a second Ctrl-C if it has not returned by then


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="the MicroPython program to run (copied to the device too)")
    p.add_argument("--port", default=None, help="serial port or pyserial URL (default: start a simulator)")
    p.add_argument("--board", default=None, help="board definition name (see `irqkit boards`; default: sim)")
    p.add_argument("--runtime", choices=("micropython", "cpython"), default=None,
                   help="simulator runtime when no --port is given")
    p.add_argument("--no-deploy", action="store_true",
                   help="do not copy the irqkit firmware first (it is on the device already)")


class RawOutput:
    """Splits a raw-REPL exec's output: program stdout, then ``\\x04``, its traceback, ``\\x04>``."""

    def __init__(self, out: IO[bytes], err: IO[bytes]) -> None:
        self.out, self.err = out, err
        self.part = 0          # 0: stdout, 1: stderr (traceback), 2: ended
        self.errors = bytearray()

    def feed(self, data: bytes) -> None:
        while data and self.part < 2:
            i = data.find(b"\x04")
            chunk, data = (data, b"") if i < 0 else (data[:i], data[i + 1:])
            if self.part == 0:
                self.out.write(chunk)
                self.out.flush()
            else:
                self.errors += chunk
            if i >= 0:
                self.part += 1

    @property
    def ended(self) -> bool:
        return self.part >= 2

    def flush_errors(self, interrupted: bool) -> bool:
        """Print the traceback (unless it only says KeyboardInterrupt after our Ctrl-C);
        -> True when the program failed."""
        text = bytes(self.errors).strip()
        if not text:
            return False
        if interrupted and text.splitlines()[-1].strip().startswith(b"KeyboardInterrupt"):
            return False
        self.err.write(text + b"\n")
        self.err.flush()
        return True


def _pump(ser: Any, output: RawOutput, until: float) -> None:
    """Read what the device sends until ``until`` or the exec's end."""
    while not output.ended and time.monotonic() < until:
        try:
            data = ser.read(max(1, ser.in_waiting))
        except OSError as exc:
            raise LinkError(f"device disconnected: {exc}") from None
        if data:
            output.feed(data)


def _forward_stdin(fd: int, ser: Any, stop: threading.Event) -> None:
    """What is typed at the terminal goes to the device (an app's UART commands). Reads the
    file descriptor (never sys.stdin's buffer: a daemon thread blocked holding its lock
    aborts the interpreter at exit)."""
    while not stop.is_set():
        try:
            ready, _, _ = select.select([fd], [], [], 0.2)
            data = os.read(fd, 1024) if ready else None
        except OSError:
            return
        if data == b"":
            return
        if data and not stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                ser.write(data)


def stop_app(transport: Any, port: str, output: RawOutput) -> None:
    """Ctrl-C as a person types it; the friendly REPL afterwards (or a one-line LinkError)."""
    ser = transport.serial
    ser.write(b"\r\x03")
    start = time.monotonic()
    _pump(ser, output, start + RESEND_AFTER_S)
    if not output.ended:
        ser.write(b"\x03")
        _pump(ser, output, start + STOP_WAIT_S)
    if not output.ended:
        # a program that did not take the break (or a board that reset): mpremote's handshake
        try:
            enter_raw_repl(transport, port)
        except LinkError:
            raise LinkError(f"the app on {port} did not stop on Ctrl-C and no REPL answered; "
                            "reset the board") from None
    with contextlib.suppress(TransportError, OSError):
        transport.exit_raw_repl()


def copy_file(transport: Any, port: str, board: dict[str, Any], name: str, data: bytes) -> None:
    """Put the program on the device next to irqkit (a flat filesystem has no rename: written
    in place, as the flat deploy writes)."""
    if board["firmware"].get("layout") != "flat":
        Device(transport, port).write(name, data)
        return
    try:
        transport.fs_writefile(name, data, chunk_size=256)
    except (TransportError, OSError) as exc:
        raise LinkError(f"could not write {name} on {port}: {exc}") from None


def run_file(port: str, board: dict[str, Any], name: str, source: bytes) -> int:
    """Copy ``source`` to the device as ``name``, run it, stream; -> exit status."""
    transport = open_transport(port)
    stop_forward = threading.Event()
    try:
        enter_raw_repl(transport, port)
        copy_file(transport, port, board, name, source)
        try:
            transport.exec_raw_no_follow(source)
        except TransportError as exc:
            raise LinkError(f"could not start {name} on {port}: {exc}") from None
        output = RawOutput(sys.stdout.buffer, sys.stderr.buffer)
        ser = transport.serial
        ser.timeout = 0.1
        if sys.stdin is not None and sys.stdin.isatty():
            threading.Thread(target=_forward_stdin, args=(sys.stdin.fileno(), ser, stop_forward),
                             daemon=True).start()
        interrupted = False
        try:
            while not output.ended:
                _pump(ser, output, time.monotonic() + 0.5)
        except KeyboardInterrupt:
            interrupted = True
            stop_forward.set()
            stop_app(transport, port, output)
        else:
            with contextlib.suppress(TransportError, OSError):
                transport.exit_raw_repl()
        failed = output.flush_errors(interrupted)
        if interrupted:
            print(f"irqkit run: stopped {name} (Ctrl-C); {port} is at its REPL", file=sys.stderr)
            return 130
        return 1 if failed else 0
    finally:
        stop_forward.set()
        with contextlib.suppress(Exception):
            transport.close()


def _read_source(path: str) -> bytes:
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{path}: is a directory, give a .py file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    source = _read_source(args.file)
    name = os.path.basename(args.file)
    board = load_board(args.board or "sim")
    with contextlib.ExitStack() as stack:
        port = args.port
        if port is None:
            if not can_start(board):
                raise UsageError(f"no --port given, and board {board['name']!r} is not one irqkit can "
                                 "start here (only boards with a target: the simulator, QEMU)")
            target = stack.enter_context(start_target(board, runtime=args.runtime))
            sim_name = free_name(board["name"])
            stack.enter_context(serve(target, board["name"], sim_name, None))
            port = target.port
            print(f"port: {port}", flush=True)
            for line in target.banner():
                print(line, flush=True)
            print(f"name: {sim_name}", flush=True)
        if not args.no_deploy:
            res = deploy(port, board)
            print(f"irqkit run: irqkit on {port}: {len(res.copied)} copied, {len(res.skipped)} unchanged",
                  file=sys.stderr, flush=True)
        print(f"irqkit run: running {name} on {port} (Ctrl-C stops it)", file=sys.stderr, flush=True)
        return run_file(port, board, name, source)
