"""Host end of the irqkit serial protocol.

A :class:`Link` speaks the framed protocol of :mod:`irqkit.frame` / :mod:`irqkit.proto`
(the device's payload modules; frames through :mod:`.codec`, the same wire format decoded
in bulk) over anything pyserial's ``serial_for_url`` opens: a device path
(``/dev/ttyACM0``, the simulator's ``/dev/pts/N``), ``socket://host:port``,
``rfc2217://...``. On a local tty/pty the hot path uses the file descriptor itself
(:mod:`.wire`); pyserial opens and configures it.

    with Link.open("/dev/pts/5") as link:
        version, ticks_hz, info = link.hello()
        payload = link.request(proto.PING, b"abc")          # -> PONG payload
        seq = link.send(proto.TRIGGER, proto.pack_trigger(proto.SRC_SOFT, 1))
        frame = link.recv_type(proto.EVENT, timeout=1.0)    # or request(..., proto.EVENT)
        events = link.pending_events()                      # unsolicited frames seen meanwhile

Every failure is a :class:`LinkError` with a one-line message: :class:`LinkTimeout` when no
answer came in time, :class:`LinkClosed` when the device went away, :class:`DeviceError` when
the device answered with an ERROR frame.
"""
from __future__ import annotations

import errno
import os
import time
from collections import deque
from types import TracebackType
from typing import Any, Callable, NamedTuple

import serial

from irqkit import proto
from irqkit.frame import MAX_PAYLOAD

from ..errors import LinkError
from .codec import BulkDecoder, encode
from .remote import normalize_url, open_hint
from .wire import POLL_S, FdWire, SerialWire, make_wire

__all__ = [
    "DeviceError",
    "Frame",
    "Link",
    "LinkClosed",
    "LinkError",
    "LinkTimeout",
]

#: How much recent input recent_input() keeps: a traceback's last lines.
_TAIL_BYTES = 512


class LinkTimeout(LinkError):
    """No (matching) frame arrived in time."""


class LinkClosed(LinkError):
    """The device disconnected (or the link was closed)."""

    def __init__(self, message: str = "device disconnected") -> None:
        super().__init__(message)


class DeviceError(LinkError):
    """The device answered a request with an ERROR frame."""

    def __init__(self, code: int, offending_type: int, detail: str) -> None:
        self.code = code
        self.offending_type = offending_type
        self.detail = detail
        what = proto.ERROR_NAMES.get(code, "error %d" % code)
        msg = f"device error: {what} (request type {proto.type_name(offending_type)})"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class Frame(NamedTuple):
    type: int
    seq: int
    payload: bytes


def _is_local_path(url: str) -> bool:
    return "://" not in url and os.name == "posix"


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


def open_error(url: str, exc: BaseException) -> LinkError:
    """Translate an exception from opening ``url`` into a one-line LinkError."""
    if isinstance(exc, ValueError):  # bad URL scheme or bad settings
        return LinkError(f"invalid port {url!r}: {_first_line(str(exc))}")
    code = getattr(exc, "errno", None)
    text = str(exc)
    if hint := open_hint(url, text):
        return LinkError(hint)
    if code == errno.ENOENT or code == errno.ENODEV or code == errno.ENXIO:
        return LinkError(f"no such port: {url}")
    if code in (errno.EACCES, errno.EPERM):
        return LinkError(f"permission denied opening {url} (on Linux: add your user to the "
                         "'dialout' group, or check who owns the device)")
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text:
        return LinkError(f"port {url} is busy (open in another program)")
    if "Could not configure port" in text:
        return LinkError(f"{url} is not a serial port")
    if "refused" in text.lower():
        return LinkError(f"cannot connect to {url}: connection refused")
    return LinkError(f"cannot open {url}: {_first_line(text)}")


class Link:
    """A framed request/response link to an irqkit device.

    ``seq`` numbers (u8) are assigned per sent frame; replies carry the request's seq.
    Frames that are not the awaited reply are kept for :meth:`pending_events` (EVENTs,
    ERRORs and requests from the device), except replies to earlier requests that arrive
    after their request timed out: those are dropped and counted as ``stale``.
    """

    def __init__(self, ser: Any, name: str | None = None, timeout: float = 1.0,
                 lead_delimiter: bool = True, max_pending: int = 100_000,
                 direct: bool | None = None) -> None:
        """direct: use the port's file descriptor (default: when it is a local tty/pty)."""
        self._ser = ser
        self._wire: SerialWire | FdWire = make_wire(ser, direct)
        self.name = name if name is not None else str(getattr(ser, "port", "?"))
        self.timeout = timeout
        # A 0x00 before every frame ends any garbage the device may be holding, so the
        # frame is never glued to line noise (the decoder ignores empty frames).
        self._lead = b"\x00" if lead_delimiter else b""
        self._decoder = BulkDecoder()
        self._ready: deque[Frame] = deque()   # decoded, not yet taken
        self._tail = b""   # the last _TAIL_BYTES received, frames or not (recent_input)
        self._seq = 0
        self._pending: deque[Frame] = deque()
        self._max_pending = max_pending
        self._closed = False
        self.sent = 0
        self.stale = 0
        self.dropped = 0

    # ---- opening and closing -------------------------------------------------------------

    @classmethod
    def open(cls, url: str, baudrate: int = 115200, timeout: float = 1.0,
             direct: bool | None = None, **kwargs: Any) -> Link:
        """Open ``url`` (a device path or any pyserial URL); errors become LinkError.
        direct: as in Link() (default: the file descriptor where the port is a local tty)."""
        opts: dict[str, Any] = {"baudrate": baudrate, "timeout": POLL_S}
        if _is_local_path(url):
            if not os.path.exists(url):
                raise LinkError(f"no such port: {url}")
            opts["exclusive"] = True
        opts.update(kwargs)
        try:
            ser = serial.serial_for_url(normalize_url(url), **opts)
        except (serial.SerialException, OSError, ValueError) as e:
            raise open_error(url, e) from None
        try:
            return cls(ser, name=url, timeout=timeout, direct=direct)
        except ValueError as e:
            ser.close()
            raise LinkError(f"{url}: {e}") from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._ser.close()
        except Exception:  # the device may already be gone; closing must not fail
            pass

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def direct(self) -> bool:
        """True when the hot path uses the port's file descriptor (a local tty/pty)."""
        return self._wire.direct

    def __enter__(self) -> Link:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _gone(self) -> LinkClosed:
        self.close()
        return LinkClosed()

    # ---- sending -------------------------------------------------------------------------

    def send(self, type: int, payload: bytes = b"") -> int:
        """Send one frame; returns its seq (0..255)."""
        if len(payload) > MAX_PAYLOAD:
            raise LinkError(f"payload of {len(payload)} bytes is longer than {MAX_PAYLOAD}")
        seq = self._seq
        self._seq = (seq + 1) & 0xFF
        self._write(self._lead + encode(type, seq, payload))
        self.sent += 1
        return seq

    def write_raw(self, data: bytes) -> None:
        """Write bytes as they are (garbage-injection tests, raw triggers)."""
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self._closed:
            raise LinkClosed()
        try:
            self._wire.write(data)
        except OSError as e:   # serial.SerialException is an OSError
            raise self._gone() from e

    # ---- receiving -----------------------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        """Read what is available (waiting until deadline for the first byte) and decode it."""
        if self._closed:
            raise LinkClosed()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            data = self._wire.read(remaining)
        except OSError as e:
            raise self._gone() from e
        if data:
            self._tail = (self._tail + data)[-_TAIL_BYTES:]
            self._ready.extend(map(Frame._make, self._decoder.feed(data)))
        return True

    def recent_input(self) -> bytes:
        """The last bytes received, decoded as frames or not: what a device printed instead
        of answering (e.g. the raw REPL's traceback when the app ended) stays visible."""
        return self._tail

    def _next_frame(self, deadline: float) -> Frame | None:
        ready = self._ready
        while not ready:
            if not self._fill(deadline):
                return None
        return ready.popleft()

    def _keep(self, frame: Frame) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(frame)

    def _sort(self, frame: Frame) -> None:
        """A frame that is not what the caller waits for: keep it or count it stale."""
        if frame.type == proto.EVENT or frame.type == proto.ERROR or frame.type < proto.REPLY:
            self._keep(frame)
        else:
            self.stale += 1

    def recv(self, timeout: float | None = None) -> Frame:
        """The next frame (frames kept by earlier requests come first)."""
        if self._pending:
            return self._pending.popleft()
        t = self.timeout if timeout is None else timeout
        frame = self._next_frame(time.monotonic() + t)
        if frame is None:
            raise LinkTimeout(f"no frame from {self.name} within {t:g} s")
        return frame

    def recv_type(self, expect_type: int, timeout: float | None = None,
                  seq: int | None = None) -> Frame:
        """The first frame of ``expect_type`` (and ``seq`` if given), from the kept frames
        first, then from the wire; other frames are kept or counted as in request()."""
        for f in self._pending:
            if f.type == expect_type and (seq is None or f.seq == seq):
                self._pending.remove(f)
                return f
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        while True:
            frame = self._next_frame(deadline)
            if frame is None:
                raise LinkTimeout(f"no {proto.type_name(expect_type)} from {self.name} "
                                  f"within {t:g} s")
            if frame.type == expect_type and (seq is None or frame.seq == seq):
                return frame
            self._sort(frame)

    def request(self, type: int, payload: bytes = b"", expect_type: int | None = None,
                timeout: float | None = None) -> bytes:
        """Send a request and return the payload of the reply with the same seq.

        ``expect_type`` defaults to ``type | 0x80``. An ERROR frame with the request's seq
        raises DeviceError; other frames meanwhile go to pending_events()."""
        expect = (type | proto.REPLY) if expect_type is None else expect_type
        t = self.timeout if timeout is None else timeout
        seq = self.send(type, payload)
        deadline = time.monotonic() + t
        while True:
            frame = self._next_frame(deadline)
            if frame is None:
                raise LinkTimeout(f"no {proto.type_name(expect)} reply to "
                                  f"{proto.type_name(type)} (seq {seq}) from {self.name} "
                                  f"within {t:g} s")
            if frame.seq == seq:
                if frame.type == expect:
                    return frame.payload
                if frame.type == proto.ERROR:
                    try:
                        code, offending, detail = proto.unpack_error(frame.payload)
                    except ValueError:
                        code, offending, detail = 0, type, "malformed ERROR frame"
                    raise DeviceError(code, offending, detail)
            self._sort(frame)

    def discard_input(self) -> None:
        """Drop unread input (e.g. a REPL banner before the app started), any partial
        frame and the kept frames."""
        if self._closed:
            raise LinkClosed()
        try:
            self._wire.reset_input()
        except OSError as e:
            raise self._gone() from e
        self._decoder.reset()
        self._ready.clear()
        self._pending.clear()

    def take_unread(self) -> bytes:
        """The bytes already read from the port after the last frame delimiter (e.g. the
        REPL's output after the app's last frame); clears them. Frames read with them
        stay readable."""
        return self._decoder.take_partial()

    def pending_events(self) -> list[Frame]:
        """Frames received while waiting for something else (oldest first); clears them."""
        frames = list(self._pending)
        self._pending.clear()
        return frames

    def drop_pending(self, match: Callable[[Frame], bool]) -> int:
        """Drop the kept frames ``match`` says yes to (oldest first order kept for the
        rest); returns how many were dropped."""
        keep = [f for f in self._pending if not match(f)]
        n = len(self._pending) - len(keep)
        self._pending = deque(keep)
        return n

    def counters(self) -> dict[str, int]:
        """Host-side counts: the decoder's (frames_ok, bad_crc, too_long, too_short,
        cobs_err, bytes_in) plus sent, stale replies and pending frames dropped."""
        c: dict[str, int] = self._decoder.counters()
        c.update(sent=self.sent, stale=self.stale, dropped=self.dropped)
        return c

    def bad_frames(self) -> int:
        return int(self._decoder.errors())

    # ---- conveniences --------------------------------------------------------------------

    def hello(self, timeout: float | None = None) -> tuple[int, int, dict[str, str]]:
        """HELLO -> (proto_version, ticks_hz, info dict)."""
        payload = self.request(proto.HELLO, b"", timeout=timeout)
        try:
            version, hz, info = proto.unpack_hello_r(payload)
        except ValueError as e:
            raise LinkError(f"bad HELLO reply from {self.name}: {e}") from None
        return int(version), int(hz), dict(info)

    def ping(self, payload: bytes = b"", timeout: float | None = None) -> None:
        """PING; checks that the PONG echoes the payload."""
        got = self.request(proto.PING, payload, timeout=timeout)
        if got != payload:
            raise LinkError(f"PONG from {self.name} does not echo the PING payload")

    def stats(self, timeout: float | None = None) -> dict[str, Any]:
        """All STATS pages joined into one dict (numbers converted, lists as lists)."""
        first = self.request(proto.STATS, proto.pack_stats(0), timeout=timeout)
        try:
            pages = [first]
            _, count, _ = proto.unpack_stats_r(first)
            for p in range(1, count):
                pages.append(self.request(proto.STATS, proto.pack_stats(p), timeout=timeout))
            joined: dict[str, Any] = proto.stats_join(pages)
            return joined
        except ValueError as e:
            raise LinkError(f"bad STATS reply from {self.name}: {e}") from None

