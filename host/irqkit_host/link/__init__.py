"""The link layer: everything that talks to a device over one serial line.

- :mod:`.frames` — :class:`Link`, the framed protocol (irqkit.frame / irqkit.proto) over pyserial;
- :mod:`.repl` — opening a port for mpremote's transport and entering its raw REPL;
- :mod:`.session` — :class:`DeviceSession`, the latency responder started from the raw REPL.
"""
from __future__ import annotations

from ..errors import LinkError
from .frames import DeviceError, Frame, Link, LinkClosed, LinkTimeout, open_error
from .repl import enter_raw_repl, open_transport
from .session import DeviceSession

__all__ = [
    "DeviceError",
    "DeviceSession",
    "Frame",
    "Link",
    "LinkClosed",
    "LinkError",
    "LinkTimeout",
    "enter_raw_repl",
    "open_error",
    "open_transport",
]
