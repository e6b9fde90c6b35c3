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
        try:
            enter_raw_repl(self.transport, port, soft_reset)
            steps = [start_code] if isinstance(start_code, str) else list(start_code)
            try:
                for step in steps[:-1]:   # preparation (e.g. imports one by one)
                    _out, err = self.transport.exec_raw(step, timeout=30)
                    if err:
                        last = err.decode("utf-8", "replace").strip().splitlines()[-1:]
                        raise LinkError(f"the app failed to start on {port}: {''.join(last)}")
                self.transport.exec_raw_no_follow(steps[-1])
            except TransportError as exc:
                raise LinkError(f"could not start the app on {port}: {exc}") from None
            self.link = Link(self.transport.serial, name=port, timeout=timeout)
            self._hello()
        except BaseException:
            self.close(stop=False)
            raise

    def _hello(self) -> None:
        assert self.link is not None
        # The app needs a moment to import; the REPL may also echo a banner first.
        deadline = time.monotonic() + 15.0
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self.link.discard_input()
                version, hz, info = self.link.hello(timeout=0.5)
                self.ticks_hz = hz
                self.hello_info = dict(info)
                self.hello_info["proto"] = version
                return
            except LinkTimeout as exc:
                last = exc
                err = self._app_error()
                if err:
                    raise LinkError(f"the app failed to start on {self.port}: {err}") from None
        raise LinkError(f"the app did not answer HELLO on {self.port}: {last}")

    def _app_error(self) -> str:
        """If the app died at start, the raw REPL printed its traceback: return its last line."""
        ser = self.transport.serial
        try:
            waiting = ser.in_waiting
        except OSError:
            return ""
        if not waiting:
            return ""
        data = ser.read(waiting)
        if b"Traceback" in data or b"Error" in data:
            text = data.decode("utf-8", "replace").replace("\x04", "\n").strip().splitlines()
            return text[-1] if text else "unknown error"
        return ""

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
