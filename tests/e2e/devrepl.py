"""The raw REPL of a device on a serial port, for end-to-end tests."""
from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def raw_repl(port: str) -> Iterator[object]:
    """mpremote's serial transport on port, in the raw REPL, closed (friendly REPL again) after."""
    from mpremote.transport_serial import SerialTransport

    tr = SerialTransport(port, baudrate=115200)
    try:
        tr.enter_raw_repl()
        yield tr
    finally:
        try:
            tr.exit_raw_repl()
        finally:
            tr.close()
