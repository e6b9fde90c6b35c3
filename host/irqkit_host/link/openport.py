"""An already-open pyserial port (what a labgrid ``SerialDriver`` or a pytest ``dut`` holds)
as mpremote's serial transport, so deploy and measure run over it.

The caller owns the port: closing the transport leaves the port open (and gives back the
read timeout it had). Only pyserial's ``SerialBase`` interface is used, so pyserial's and
labgrid's fork (pyserial-labgrid) alike work.
"""
from __future__ import annotations

from typing import Any

import serial
from mpremote.transport_serial import SerialTransport

__all__ = ["OpenPortTransport", "is_port_object", "port_name"]

# mpremote reads with blocking read(1) calls: without a timeout a silent device hangs it.
_READ_TIMEOUT_S = 0.5


def is_port_object(port: object) -> bool:
    """True for a pyserial port object (pyserial's or pyserial-labgrid's SerialBase)."""
    return isinstance(port, serial.SerialBase)


def port_name(port: object) -> str:
    """A display name: the string itself, or the port object's URL/path."""
    if isinstance(port, str):
        return port
    return str(getattr(port, "name", None) or getattr(port, "port", None) or type(port).__name__)


class OpenPortTransport(SerialTransport):  # type: ignore[misc]  # mpremote has no type hints
    """SerialTransport over a port the caller opened; close() does not close it."""

    def __init__(self, ser: Any) -> None:
        # SerialTransport.__init__ opens the port itself; set the state it would set.
        self.in_raw_repl = False
        self.use_raw_paste = True
        self.device_name = port_name(ser)
        self.mounted = False
        self.is_pty = False
        self.serial = ser
        self._saved_timeout = ser.timeout
        if ser.timeout is None:
            ser.timeout = _READ_TIMEOUT_S

    def close(self) -> None:
        try:
            self.serial.timeout = self._saved_timeout
        except Exception:  # noqa: BLE001 - the port may be gone already
            pass
