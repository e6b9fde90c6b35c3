"""What ``irqkit measure`` checks before it runs, and how Ctrl-C keeps what it measured.

- :func:`check_trigger`: ``--trigger`` is validated before a target starts or a trial runs
  (an unknown scheme, modem lines on a pty, a bench that does not answer, Blinka without
  a GPIO board): one line, exit status 1.
- :func:`sim_trigger`: on ``--port`` of a running ``irqkit sim`` the gpio source is driven
  through that simulator's bench (found in the registry), as without ``--port``.
- :func:`ctrl_c_keeps_results`: a first Ctrl-C while measuring ends the run like a
  disconnect does (results so far kept, written, marked incomplete); a second one
  interrupts as usual.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
import threading
from typing import Any, Iterator

from ..boards import load_board
from ..errors import IrqkitError, LinkError, UsageError
from ..targets import can_start
from ..targets.bench import BenchClient
from ..targets.simregistry import bench_for_port
from ..triggers import TRIGGERS, make_trigger

INTERRUPTED = "interrupted by Ctrl-C"


class Interrupted(LinkError):
    """Raised by the SIGINT handler: the measure layer ends the run as for a lost link."""


def sim_trigger(port: str | None, trigger: str | None) -> str | None:
    """``bench:URL`` for a --port that is a running simulator and no --trigger, else trigger."""
    if trigger is None and port is not None:
        bench = bench_for_port(port)
        if bench:
            return f"bench:{bench}"
    return trigger


def _has_modem_lines(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, termios.TIOCMGET, struct.pack("I", 0))
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOTTY, errno.EINVAL):
            return False
        raise
    finally:
        os.close(fd)


def check_trigger(spec: str | None, port: str | None, board_name: str | None) -> None:
    """Refuse a --trigger that cannot work here, before anything starts (UsageError)."""
    if spec is None:
        return
    kind, _, arg = spec.partition(":")
    if kind not in TRIGGERS:
        raise UsageError(f"--trigger {spec}: unknown trigger (use bench:URL, modem:rts, modem:dtr "
                         "or blinka:PIN[:RESPONSE[:HIGH_MS]])")
    board = load_board(board_name or "sim")
    if kind == "bench":
        url = arg or (bench_for_port(port) if port else None)
        if not url:
            if port is None and can_start(board):
                return   # the started simulator's bench
            raise UsageError(f"--trigger {spec}: give the simulator's bench URL: --trigger bench:unix:PATH "
                             "(the `bench:` line of `irqkit sim`)")
        try:
            with BenchClient(url, timeout=1.0) as client:
                client.cmd("help")
        except IrqkitError as exc:
            raise UsageError(f"--trigger {spec}: {exc}") from None
        except OSError as exc:
            raise UsageError(f"--trigger {spec}: no bench answers at {url}: {exc.strerror or exc}") from None
    elif kind == "modem":
        if arg not in ("", "rts", "dtr"):
            raise UsageError(f"--trigger {spec}: the modem line is rts or dtr")
        if port is None:
            raise UsageError(f"--trigger {spec}: the {board['name']} target started here is a pty with no "
                             "modem lines; give --port of a USB-serial adapter wired to the pin"
                             + (" (the simulator's pin is driven by its bench, the default)"
                                if board.get("target") == "sim" else ""))
        if os.path.exists(port):
            try:
                ok = _has_modem_lines(port)
            except OSError as exc:
                raise UsageError(f"--trigger {spec}: cannot open {port}: {exc.strerror or exc}") from None
            if not ok:
                raise UsageError(f"--trigger {spec}: {port} has no modem lines (a pty, e.g. a simulator: "
                                 "use --trigger bench:URL)")
    else:
        try:   # e.g. Blinka: the adapter and the pin exist (made, then released)
            make_trigger(spec, pin=board["gpio"].get("trigger_pin")).close()
        except IrqkitError as exc:
            raise UsageError(f"--trigger {spec}: {exc}") from None


@contextlib.contextmanager
def ctrl_c_keeps_results() -> Iterator[None]:
    """While active, the first SIGINT raises :class:`Interrupted` (a LinkError: measure()
    keeps the run so far); the handler is then the default one again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _first(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise Interrupted(INTERRUPTED)

    old = signal.signal(signal.SIGINT, _first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def mark_csv_incomplete(path: str, why: str) -> None:
    """A last comment line on a partial CSV (``pandas.read_csv(comment="#")`` skips it)."""
    with open(path, "a", newline="") as f:
        f.write(f"# incomplete: {why}\n")
