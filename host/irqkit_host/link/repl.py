"""Open a port for mpremote's serial transport and enter the raw REPL, with one-line errors."""
from __future__ import annotations

import contextlib
import io
from typing import Any

import serial
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from ..errors import LinkError
from .frames import LinkClosed, open_error
from .labgrid_place import resolve_port
from .openport import OpenPortTransport, is_port_object


def open_transport(port: str | Any, baudrate: int = 115200) -> SerialTransport:
    """Open the port (a path, URL, ``labgrid:PLACE`` or an open pyserial port) for mpremote's
    transport, with one-line errors."""
    if is_port_object(port):
        return OpenPortTransport(port)
    port = resolve_port(port)
    try:
        # A read timeout: on ptys mpremote reads with a blocking read(1), which would wait
        # forever for a device that never answers (e.g. a pty with `cat` behind it).
        return SerialTransport(port, baudrate=baudrate, timeout=0.5)
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
    except TransportError:
        raise LinkError(f"no MicroPython REPL answered on {port} (is MicroPython running there?)") from None
    except OSError as exc:
        raise LinkClosed(f"device disconnected: {exc}") from None
