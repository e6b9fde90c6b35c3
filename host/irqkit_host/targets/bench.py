"""The simulator's bench channel: a line client for pins, pulses and the interrupt controller.

    BenchClient("unix:/tmp/irqkit-sim-.../bench.sock").pulse("P0")
"""
from __future__ import annotations

import json
import socket
import time
from typing import Any

from ..errors import SimError


class BenchClient:
    """Line client for the bench channel: cmd("set P0 1") -> "ok P0=1"."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.startswith("unix:"):
            raise SimError(f"unsupported bench URL {url!r} (expected unix:PATH)")
        self.path = url[len("unix:"):]
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
                return s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the board may be rebooting

    def raw(self, line: str | bytes) -> str:
        """Send one line (no checks), return the reply line."""
        data = line.encode() if isinstance(line, str) else line
        for attempt in (0, 1):
            if self._sock is None:
                self._sock = self._connect()
                self._buf = b""
            try:
                self._sock.sendall(data + b"\n")
                while b"\n" not in self._buf:
                    chunk = self._sock.recv(65536)
                    if not chunk:
                        raise ConnectionResetError("bench closed")
                    self._buf += chunk
                reply, self._buf = self._buf.split(b"\n", 1)
                return reply.decode()
            except (ConnectionError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def cmd(self, line: str) -> str:
        """Send a command; return the text after "ok "; raise SimError on "err"."""
        reply = self.raw(line)
        if reply.startswith("ok"):
            return reply[3:]
        raise SimError(reply[4:] if reply.startswith("err ") else reply)

    def set(self, pin: str, value: int) -> None:
        self.cmd(f"set {pin} {1 if value else 0}")

    def get(self, pin: str) -> int:
        return int(self.cmd(f"get {pin}"))

    def pulse(self, pin: str, width_us: int = 100) -> None:
        self.cmd(f"pulse {pin} {width_us}")

    def soft(self, n: int, rate_hz: int, line: str = "SWI") -> None:
        self.cmd(f"soft {n} {rate_hz} {line}")

    def state(self) -> dict[str, Any]:
        """Controller state: masked, basepri, pending, errors, last_error, per-line counts."""
        st: dict[str, Any] = json.loads(self.cmd("state"))
        return st

    def pins(self) -> dict[str, Any]:
        pins: dict[str, Any] = json.loads(self.cmd("pins"))
        return pins

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "BenchClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
