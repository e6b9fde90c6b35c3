"""``--trigger modem:rts|dtr``: a USB-serial adapter's modem line wired to the trigger pin.

The line is active-low at the TTL pin: setting it drives the pin low, clearing it high.
"""
from __future__ import annotations

from typing import Any

from ..errors import TriggerError


class ModemLineTrigger:
    def __init__(self, ser: Any, line: str) -> None:
        if line not in ("rts", "dtr"):
            raise TriggerError(f"modem line must be rts or dtr, not {line!r}")
        self.ser = ser
        self.line = line
        setattr(self.ser, self.line, True)   # pin low

    def pulse(self) -> None:
        setattr(self.ser, self.line, False)  # pin high: the rising edge
        setattr(self.ser, self.line, True)

    def close(self) -> None:
        pass


def make_modem(arg: str, *, ser: Any = None, bench_url: str | None = None, pin: Any = None) -> ModemLineTrigger:
    return ModemLineTrigger(ser, arg or "rts")
