"""The triggers layer: what plays the signal generator wired to the board's trigger pin.

One module per scheme, looked up by name in :data:`TRIGGERS` (as pyserial looks up its URL
handlers); ``--trigger SCHEME:ARG``:

- ``bench:URL`` (:mod:`.bench`) — the simulator's bench channel (a pulse on a virtual pin):
  ``bench:unix:PATH``, or ``bench:tcp://HOST:PORT[?token=T]`` for ``irqkit sim --bench tcp:...``;
- ``modem:rts`` / ``modem:dtr`` (:mod:`.modem`) — a USB-serial adapter's modem line wired
  to the pin (active-low at the TTL pin: clearing it drives the pin high);
- ``blinka:PIN`` (:mod:`.blinka`) — a GPIO of the host through Adafruit Blinka (Raspberry
  Pi, FT232H, MCP2221). USB adapters add about a millisecond per call: coarse latency only.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from ..errors import TriggerError
from .bench import make_bench
from .blinka import make_blinka
from .modem import make_modem

__all__ = ["TRIGGERS", "GpioTrigger", "TriggerError", "make_trigger"]


class GpioTrigger(Protocol):
    def pulse(self) -> None:
        """Make one rising edge on the board's trigger pin (and return the pin low)."""

    def close(self) -> None: ...


#: scheme -> factory(arg, ser=, bench_url=, pin=)
TRIGGERS: dict[str, Callable[..., GpioTrigger]] = {
    "bench": make_bench,
    "modem": make_modem,
    "blinka": make_blinka,
}


def make_trigger(spec: str, *, ser: Any = None, bench_url: str | None = None,
                 pin: Any = None) -> GpioTrigger:
    """The trigger ``spec`` ("SCHEME[:ARG]") names, for the port ``ser`` and the board's pin."""
    kind, _, arg = spec.partition(":")
    factory = TRIGGERS.get(kind)
    if factory is None:
        raise TriggerError(f"unknown trigger {spec!r} (use bench:URL, modem:rts, modem:dtr or blinka:PIN)")
    return factory(arg, ser=ser, bench_url=bench_url, pin=pin)
