"""A running latency responder on a device: start it from the raw REPL, talk frames.

The app is started with mpremote's serial transport (raw REPL, no follow) and the same
pyserial object then carries the binary frames. Stopping sends CONFIG run=0 and returns
the device to its friendly REPL, so mpremote and terminals can use it afterwards.
"""
from __future__ import annotations

import time
from typing import Any

from irqkit import proto
from mpremote.transport import TransportError

from ..errors import LinkError
from .frames import Link, LinkClosed, LinkTimeout
from .openport import port_name
from .repl import enter_raw_repl, open_transport


#: Runs before the app's own start code: Ctrl-C off (the frames that follow are binary and
#: any 0x03 byte in them would be a KeyboardInterrupt), then the marker the host waits for.
START_PRELUDE = ("try:\n import micropython\n micropython.kbd_intr(-1)\n"
                 "except (ImportError, AttributeError):\n pass\n"
                 "print('irqkit:' 'ready')\n")   # split: the echo of this line is not the marker
READY_MARKER = b"irqkit:ready"


class _StartFailed(Exception):
    """The start command ended with an error before the app was up (message: its last line)."""


def _last_line(err: bytes) -> str:
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return lines[-1].strip() if lines else ""


def _traceback_line(data: bytes) -> str:
    """The last line of the first raw-REPL traceback in ``data`` ('' if there is none)."""
    at = data.find(b"Traceback (most recent call last)")
    if at < 0:
        return ""
    return _last_line(data[at:].split(b"\x04")[0]) or "unknown error"


class DeviceSession:
    """The app running on a device, reachable through ``.link``."""

    def __init__(self, port: str | Any, start_code: str | list[str], baudrate: int = 115200,
                 timeout: float = 2.0, soft_reset: bool = False) -> None:
        """port: a path, URL, ``labgrid:PLACE`` or an open pyserial port (left open).
        soft_reset: start from a fresh heap (boards whose heap only just holds the app)."""
        self.transport = open_transport(port, baudrate)
        port = self.port = port_name(port)
        self.link: Link | None = None
        self.hello_info: dict[str, Any] = {}
        self.ticks_hz = 0
        #: starts repeated because the first failed before the app was up (see _start)
        self.start_retries = 0
        self._after_ready = b""
        try:
            steps = [start_code] if isinstance(start_code, str) else list(start_code)
            for attempt in range(2):
                try:
                    self._start(steps, soft_reset, timeout)
                    break
                except _StartFailed as exc:
                    if attempt:
                        raise LinkError(f"the app failed to start on {port}: {exc}") from None
                    self.start_retries += 1
        except BaseException:
            self.close(stop=False)
            raise

    def _start(self, steps: list[str], soft_reset: bool, timeout: float) -> None:
        """From a fresh raw REPL: run the steps (the last behind the prelude), wait for the
        ready marker, then for the app's HELLO reply.

        A start that fails (_StartFailed) is repeated once by the caller: on a UART with no
        flow control a byte of the typed command can be lost (the micro:bit's 64-byte ring
        drops bytes while the REPL is busy), and the command then fails to compile or names
        the wrong thing. A real fault fails the second time too and is reported with the
        device's own error line; repeats are counted in start_retries.
        """
        self.link = None
        self._after_ready = b""
        enter_raw_repl(self.transport, self.port, soft_reset)
        self._run_steps(steps)
        self.link = Link(self.transport.serial, name=self.port, timeout=timeout)
        self._hello()

    def _run_steps(self, steps: list[str]) -> None:
        try:
            for step in steps[:-1]:   # preparation (e.g. imports one by one)
                _out, err = self.transport.exec_raw(step, timeout=30)
                if err:
                    raise _StartFailed(_last_line(err))
            self.transport.exec_raw_no_follow(START_PRELUDE + steps[-1])
        except TransportError as exc:
            raise LinkError(f"could not start the app on {self.port}: {exc}") from None
        except OSError as exc:
            raise LinkClosed(f"device disconnected: {exc}") from None
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        """Read the start command's output up to READY_MARKER. Until then the host sends
        nothing: Ctrl-C is still on, and a 0x03 byte of a frame would interrupt the start.
        The raw REPL's end-of-output byte (0x04) first means the command ended: it failed."""
        ser = self.transport.serial
        saved = ser.timeout
        deadline = time.monotonic() + timeout
        data = b""
        try:
            while time.monotonic() < deadline:
                ser.timeout = min(0.05, max(0.0, deadline - time.monotonic()))
                data += ser.read(max(1, ser.in_waiting))
                if READY_MARKER in data:
                    # what followed the marker in the same read (kept for _app_error)
                    self._after_ready = data.split(READY_MARKER, 1)[1]
                    return
                if data.count(b"\x04") >= 2:
                    raise _StartFailed(_last_line(data.split(b"\x04")[1]) or "it stopped")
        except OSError as exc:
            raise LinkClosed(f"device disconnected: {exc}") from None
        finally:
            ser.timeout = saved
        raise LinkError(f"the app did not start on {self.port} within {timeout:.0f} s "
                        f"(it printed {data[-80:]!r})")

    def _hello(self) -> None:
        assert self.link is not None
        # The app needs a moment to import (Ctrl-C is already off: see _wait_ready).
        deadline = time.monotonic() + 15.0
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                version, hz, info = self.link.hello(timeout=0.5)
                self.ticks_hz = hz
                self.hello_info = dict(info)
                self.hello_info["proto"] = version
                return
            except LinkTimeout as exc:
                last = exc
                err = self._app_error()
                if err:
                    raise _StartFailed(err)
        raise LinkError(f"the app did not answer HELLO on {self.port}: {last}")

    def _app_error(self) -> str:
        """If the app ended (its start failed after the prelude), the raw REPL printed the
        end of its output and a traceback: return the traceback's last line."""
        assert self.link is not None
        return _traceback_line(self._after_ready + self.link.recent_input())

    def stop(self) -> None:
        """Ask the app to return, then leave the device at its friendly REPL."""
        if self.link is None or self.link.closed:
            return
        try:
            self.link.request(proto.CONFIG, proto.pack_config("run", 0),
                              expect_type=proto.CONFIG_R, timeout=2.0)
            # the raw REPL prints the exec's end markers and its prompt: "\x04\x04>";
            # the link may already hold them (read with the CONFIG_R frame)
            self._wait_prompt(self.link.take_unread(), 2.0)
            self.transport.exit_raw_repl()
        except (LinkError, OSError):
            pass

    def _wait_prompt(self, data: bytes, timeout: float) -> None:
        ser = self.transport.serial
        saved = ser.timeout
        deadline = time.monotonic() + timeout
        try:
            while b"\x04>" not in data and time.monotonic() < deadline:
                ser.timeout = min(0.05, max(0.0, deadline - time.monotonic()))
                data += ser.read(max(1, ser.in_waiting))
        finally:
            ser.timeout = saved   # the Link caches the timeout it set

    def close(self, stop: bool = True) -> None:
        if stop:
            self.stop()
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001 - the device may be gone already
            pass

    def __enter__(self) -> DeviceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(stop=not isinstance(exc[1], LinkClosed))
