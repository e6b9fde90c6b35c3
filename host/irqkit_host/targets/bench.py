"""The simulator's bench channel: a line client for pins, pulses and the interrupt controller.

    BenchClient("unix:/tmp/irqkit-sim-.../bench.sock").pulse("P0")
    BenchClient("tcp://sim-host:7000?token=...").pulse("P0")      # irqkit sim --bench tcp:...

URLs: ``unix:PATH`` (the run dir's socket, owner only) or ``tcp://HOST:PORT[?token=T]``
(``tcp:HOST:PORT`` too). A simulator listening on anything but loopback wants the token it
printed: the client sends ``auth TOKEN`` first; a wrong or missing one is refused with one line.
"""
from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import SimError

USAGE = "expected unix:PATH or tcp://HOST:PORT[?token=T]"


@dataclass(frozen=True)
class BenchAddress:
    """Where a bench listens: ``unix`` (path) or ``tcp`` (host, port, token or None)."""

    scheme: str
    path: str = ""
    host: str = ""
    port: int = 0
    token: str | None = None

    @property
    def url(self) -> str:
        if self.scheme == "unix":
            return f"unix:{self.path}"
        return f"tcp://{self.host}:{self.port}" + (f"?token={self.token}" if self.token else "")


def parse_bench_url(url: str) -> BenchAddress:
    """``unix:PATH`` | ``tcp://HOST:PORT[?token=T]`` | ``tcp:HOST:PORT[?token=T]``."""
    if url.startswith("unix:") and len(url) > 5:
        return BenchAddress("unix", path=url[5:])
    if not url.startswith("tcp:"):
        raise SimError(f"unsupported bench URL {url!r} ({USAGE})")
    rest = url[4:]
    parts = urlsplit(rest if rest.startswith("//") else "//" + rest)
    try:
        port = parts.port
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise SimError(f"bad bench URL {url!r}: {exc} ({USAGE})") from None
    if not parts.hostname or port is None or parts.path or set(query) - {"token"} \
            or len(query.get("token", [""])) != 1:
        raise SimError(f"bad bench URL {url!r} ({USAGE})")
    token = query.get("token", [""])[0] or None
    return BenchAddress("tcp", host=parts.hostname, port=port, token=token)


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback one (127.0.0.0/8, ::1)."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET)
    except OSError as exc:
        raise SimError(f"bench host {host!r}: {exc.strerror or exc}") from None
    return all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def listen_spec(spec: str) -> tuple[BenchAddress, str]:
    """``irqkit sim --bench tcp:[HOST:]PORT`` -> (the URL clients use, "HOST:PORT" to bind).

    HOST defaults to 127.0.0.1; any address that is not loopback gets a random token. PORT 0
    picks a free port now (the simulator rebinds the same one after every soft reset)."""
    if not spec.startswith("tcp:"):
        raise SimError(f"--bench {spec!r}: expected tcp:[HOST:]PORT (e.g. tcp:127.0.0.1:7000)")
    host, _, port_s = spec[4:].rpartition(":")
    host = host or "127.0.0.1"
    try:
        port = int(port_s)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise SimError(f"--bench {spec!r}: PORT must be 0..65535") from None
    token = None if is_loopback(host) else secrets.token_urlsafe(16)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise SimError(f"--bench {spec!r}: cannot listen on {host}:{port}: "
                           f"{exc.strerror or exc}") from None
        port = int(s.getsockname()[1])
    shown = socket.getfqdn() if host in ("0.0.0.0", "") else host
    return BenchAddress("tcp", host=shown, port=port, token=token), f"{host}:{port}"


class BenchClient:
    """Line client for the bench channel: cmd("set P0 1") -> "ok P0=1"."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.address = parse_bench_url(url)
        self.path = self.address.path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def _open(self) -> socket.socket:
        a = self.address
        if a.scheme == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            s.connect(a.path)
            return s
        s = socket.create_connection((a.host, a.port), timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                s = self._open()
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if time.monotonic() > deadline:  # the board may be rebooting: retry till then
                    raise SimError(f"cannot reach the bench at {self.address.url}: "
                                   f"{exc.strerror or exc}") from None
                time.sleep(0.05)
            except OSError as exc:
                raise SimError(f"cannot reach the bench at {self.address.url}: "
                               f"{exc.strerror or exc}") from None
        if self.address.scheme == "tcp" and self.address.token:
            self._sock, self._buf = s, b""
            try:
                reply = self._exchange(f"auth {self.address.token}".encode())
            except (ConnectionError, OSError):
                reply = "err refused (the bench closed the connection)"
            finally:
                self._sock = None
            if reply != "ok authenticated":
                s.close()
                raise SimError(f"bench {self.address.host}:{self.address.port}: {reply[4:] or reply}")
        return s

    def connect(self) -> None:
        """Connect now (else the first command does): raises SimError when refused."""
        if self._sock is None:
            self._sock = self._connect()
            self._buf = b""

    def _exchange(self, data: bytes) -> str:
        assert self._sock is not None
        self._sock.sendall(data + b"\n")
        while b"\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("bench closed")
            self._buf += chunk
        reply, self._buf = self._buf.split(b"\n", 1)
        return reply.decode()

    def raw(self, line: str | bytes) -> str:
        """Send one line (no checks), return the reply line."""
        data = line.encode() if isinstance(line, str) else line
        for attempt in (0, 1):
            self.connect()
            try:
                return self._exchange(data)
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
