"""GPIO trigger backends: what plays the signal generator wired to the board's trigger pin.

- ``bench:URL`` — the simulator's bench channel (a pulse on a virtual pin);
- ``modem:rts`` / ``modem:dtr`` — a USB-serial adapter's modem line wired to the pin
  (the line is active-low at the TTL pin: clearing it drives the pin high);
- ``blinka:PIN`` — a GPIO of the host through Adafruit Blinka (Raspberry Pi, FT232H,
  MCP2221). USB adapters add about a millisecond per call: coarse latency only.
"""
from __future__ import annotations

from typing import Any, Protocol


class GpioTrigger(Protocol):
    def pulse(self) -> None:
        """Make one rising edge on the board's trigger pin (and return the pin low)."""

    def close(self) -> None: ...


class TriggerError(ValueError):
    pass


class BenchTrigger:
    def __init__(self, url: str, pin: str) -> None:
        from .simlaunch import BenchClient
        self.client = BenchClient(url)
        self.pin = pin

    def pulse(self) -> None:
        self.client.pulse(self.pin)

    def close(self) -> None:
        self.client.close()


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


def make_trigger(spec: str, *, ser: Any = None, bench_url: str | None = None,
                 pin: Any = None) -> GpioTrigger:
    kind, _, arg = spec.partition(":")
    if kind == "bench":
        url = arg or bench_url
        if not url:
            raise TriggerError("the bench trigger needs the simulator's bench URL: --trigger bench:URL")
        return BenchTrigger(url, str(pin))
    if kind == "modem":
        return ModemLineTrigger(ser, arg or "rts")
    if kind == "blinka":
        from .blinka_trigger import BlinkaTrigger
        return BlinkaTrigger(arg or str(pin))
    raise TriggerError(f"unknown trigger {spec!r} (use bench:URL, modem:rts, modem:dtr or blinka:PIN)")
