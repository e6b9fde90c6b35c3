"""Open a port for mpremote's serial transport and enter the raw REPL, with one-line errors.

:func:`open_transport` ``(guarded=True)`` gives a transport that stops at the first fault
(what deploy uses): mpremote's own exchanges keep going when the device reboots under
them — the next command's "is there a prompt?" check accepts the rebooted board's
friendly ``>>>`` prompt, then types raw-paste requests and the rest of a file into its
REPL, and prints what it read. The guarded transport instead

- checks that the raw REPL's prompt is *exactly* ``>`` before sending a command;
- stops reading as soon as the friendly prompt (``\\r\\n>>> ``) appears mid-command (the
  device rebooted: a reset, a crash, a simulator's VM restart) instead of waiting 10 s;
- after the first fault (a reboot, a timeout, a closed port) sends nothing more: every
  later command raises the same fault without touching the port;
- never prints the device's output and puts no raw bytes in its messages;
- closes quietly (a port whose other end is gone fails the RTS/DTR ioctls mpremote does).
"""
from __future__ import annotations

import contextlib
import io
import time
from typing import Any

import serial
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from ..errors import LinkError
from .frames import LinkClosed, open_error
from .labgrid_place import resolve_port
from .openport import OpenPortTransport, is_port_object

#: What a device prints when it is back at the friendly REPL (after a reset or crash).
FRIENDLY_PROMPT = b"\r\n>>> "
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"


class LinkFault(TransportError):
    """A guarded transport's fault; ``str()`` is a predicate: "device on PORT <str> while ..."."""


class DeviceRebooted(LinkFault):
    def __init__(self) -> None:
        super().__init__("rebooted (its REPL prompt appeared mid-command)")


class PortClosed(LinkFault):
    def __init__(self, exc: BaseException) -> None:
        self.cause = str(exc).split(" (")[0] or type(exc).__name__
        super().__init__(f"disconnected (the port closed: {self.cause})")


class NotAnswering(LinkFault):
    def __init__(self, why: str) -> None:
        super().__init__(f"stopped answering ({why})")


def fault_text(exc: BaseException) -> str:
    """A TransportError as a predicate for "device on PORT ... while WHAT", without the raw
    bytes mpremote puts in some messages (``could not complete raw paste: b'...'``)."""
    if isinstance(exc, LinkFault):
        return str(exc)
    return f"stopped answering ({_clean(exc)})"


def _clean(exc: BaseException) -> str:
    return str(exc).split(": b'")[0].split(': b"')[0].split(" (response:")[0] or type(exc).__name__


class _Guard:
    """Mixed into mpremote's SerialTransport (or :class:`OpenPortTransport`): see the module
    docstring. Only the raw-REPL command path is changed; entering the raw REPL is mpremote's."""

    fault: LinkFault | None = None
    _watch = False      # inside a command: the friendly prompt means the device rebooted

    def _fail(self, exc: BaseException) -> LinkFault:
        if self.fault is None:
            if isinstance(exc, LinkFault):
                self.fault = exc
            elif isinstance(exc, TransportError):
                self.fault = NotAnswering(_clean(exc))
            else:
                self.fault = PortClosed(exc)
        return self.fault

    def _check(self) -> None:
        if self.fault is not None:
            raise self.fault

    def read_until(self, min_num_bytes: int, ending: bytes, timeout: float | None = 10,
                   data_consumer: Any = None, timeout_overall: float | None = None) -> bytes:
        data = b""
        begin = last = time.monotonic()
        while not data.endswith(ending):
            new = self.serial.read(1) if self.is_pty or self.serial.in_waiting > 0 else b""
            if new:
                if data_consumer:
                    data_consumer(new)
                data = (data + new)[-64:] if data_consumer else data + new
                last = time.monotonic()
                if self._watch and data.endswith(FRIENDLY_PROMPT):
                    raise self._fail(DeviceRebooted())
                continue
            now = time.monotonic()
            if (timeout is not None and now >= last + timeout) or (
                    timeout_overall is not None and now >= begin + timeout_overall):
                break
            time.sleep(0.01)
        return data if not data_consumer else data[-1:]

    def enter_raw_repl(self, *args: Any, **kwargs: Any) -> None:
        self._check()
        try:
            super().enter_raw_repl(*args, **kwargs)  # type: ignore[misc]
        except (TransportError, OSError) as exc:
            raise self._fail(exc) from None

    def exec_raw_no_follow(self, command: str | bytes) -> None:
        self._check()
        self._watch = True
        try:
            self._send(command.encode() if isinstance(command, str) else command)
        except (TransportError, OSError) as exc:
            raise self._fail(exc) from None
        finally:
            self._watch = False

    def follow(self, timeout: float | None, data_consumer: Any = None) -> tuple[bytes, bytes]:
        self._check()
        self._watch = True
        try:
            return super().follow(timeout, data_consumer)  # type: ignore[misc, no-any-return]
        except (TransportError, OSError) as exc:
            raise self._fail(exc) from None
        finally:
            self._watch = False

    def _send(self, command: bytes) -> None:
        """mpremote's exec_raw_no_follow, strict: nothing is sent unless the device is at
        the raw REPL's prompt, and nothing is printed."""
        data = self.read_until(1, b">")
        if data != b">":
            if b">>>" in data or data.endswith(b"\n>"):   # a line starting ">": the friendly prompt
                raise DeviceRebooted()
            raise NotAnswering("no raw REPL prompt" if not data.endswith(b">") else
                               "unexpected output before the raw REPL prompt")
        if self.use_raw_paste:
            self.serial.write(b"\x05A\x01")
            data = self.serial.read(2)
            if data == b"R\x01":
                self.raw_paste_write(command)  # type: ignore[attr-defined]
                return
            if data != b"R\x00":
                # a device without raw paste (MicroPython < 1.14) re-enters the raw REPL
                data += self.read_until(1, _RAW_BANNER[2:])
                if not data.endswith(_RAW_BANNER):
                    raise DeviceRebooted() if b">>>" in data else NotAnswering("no raw REPL prompt")
            self.use_raw_paste = False
        for i in range(0, len(command), 256):
            self.serial.write(command[i:i + 256])
            time.sleep(0.01)
        self.serial.write(b"\x04")
        if self.serial.read(2) != b"OK":
            raise NotAnswering("the command was not accepted")

    def close(self) -> None:
        try:
            super().close()  # type: ignore[misc]
        except OSError:      # the other end is gone: nothing left to tidy up
            with contextlib.suppress(Exception):
                self.serial.close()


class GuardedSerialTransport(_Guard, SerialTransport):  # type: ignore[misc]
    """SerialTransport that stops at the first fault."""


class GuardedOpenPortTransport(_Guard, OpenPortTransport):
    """OpenPortTransport that stops at the first fault."""


def open_transport(port: str | Any, baudrate: int = 115200, guarded: bool = False) -> SerialTransport:
    """Open the port (a path, URL, ``labgrid:PLACE`` or an open pyserial port) for mpremote's
    transport, with one-line errors; ``guarded``: stop at the first fault (module docstring)."""
    if is_port_object(port):
        return GuardedOpenPortTransport(port) if guarded else OpenPortTransport(port)
    port = resolve_port(port)
    cls = GuardedSerialTransport if guarded else SerialTransport
    try:
        # A read timeout: on ptys mpremote reads with a blocking read(1), which would wait
        # forever for a device that never answers (e.g. a pty with `cat` behind it).
        return cls(port, baudrate=baudrate, timeout=0.5)
    except TransportError as exc:
        # mpremote swallows the OSError; reproduce it with pyserial for a useful message
        try:
            serial.serial_for_url(port, baudrate=baudrate, exclusive=True).close()
        except Exception as inner:  # noqa: BLE001 - translated to one line
            raise open_error(port, inner) from None
        raise LinkError(f"cannot open {port}: {exc}") from None
    except Exception as exc:  # noqa: BLE001
        raise open_error(port, exc) from None


def enter_raw_repl(transport: SerialTransport, port: str, soft_reset: bool = False) -> None:
    try:
        # mpremote prints what it read when the handshake fails; we say it in one line
        with contextlib.redirect_stdout(io.StringIO()):
            transport.enter_raw_repl(soft_reset=soft_reset, timeout_overall=5)
    except PortClosed as exc:
        raise LinkClosed(f"device disconnected: {exc.cause}") from None
    except TransportError:
        raise LinkError(f"no MicroPython REPL answered on {port} (is MicroPython running there?)") from None
    except OSError as exc:
        raise LinkClosed(f"device disconnected: {exc}") from None
