"""GPIO trigger through Adafruit Blinka: a host GPIO (Raspberry Pi header, FT232H, MCP2221)
drives the board's trigger pin, and optionally watches the board's response pin.

``irqkit measure --trigger blinka:PIN[:RESPONSE[:HIGH_MS]]`` — PIN and RESPONSE are Blinka
``board`` names on the host side (``C0``/``C1`` on an FT232H, ``G0``..``G3`` on an MCP2221, ``D17``
on a Raspberry Pi). Blinka picks the adapter from the environment before ``board`` is
imported: ``BLINKA_FT232H=1`` or ``BLINKA_MCP2221=1`` (nothing on a Raspberry Pi).
HIGH_MS keeps the line high at least that long: a CircuitPython board sees its pin through
keypad's scan (every 20 ms by default), so give it more than one scan interval (e.g. 25).

Timing: every pin write or read through a USB adapter is a USB transaction — the MCP2221
is a HID device polled every 1 ms (about 2 ms per command), the FT232H costs one USB round
trip per call. Edges therefore land with millisecond-scale jitter, and the response
latency measured here is quantised by the cost of one read: use it for functional checks
and coarse latency; the device-side timestamps of ``irqkit measure`` are the fine ones.
"""
from __future__ import annotations

import importlib
import time
from typing import Any

from ..errors import TriggerError


def _import_blinka() -> tuple[Any, Any]:
    # Blinka is an optional dependency, so it is imported here, when a blinka trigger is made.
    try:  # Blinka's modules are untyped and platform-dependent: take them as Any
        board = importlib.import_module("board")
        digitalio = importlib.import_module("digitalio")
    except ImportError as exc:
        raise TriggerError(f"the blinka trigger needs adafruit-blinka ({exc.name} missing): "
                           "pip install adafruit-blinka") from None
    except Exception as exc:  # platform detection / adapter not found: Blinka raises anything
        raise TriggerError(f"Blinka cannot open a GPIO board: {exc} (for an FT232H set "
                           "BLINKA_FT232H=1, for an MCP2221 BLINKA_MCP2221=1)") from None
    return board, digitalio


def _pin(board: Any, name: str) -> Any:
    key = name[6:] if name.startswith("board.") else name
    pin = getattr(board, key, None)
    if pin is None or key.startswith("_"):
        names = sorted(n for n in dir(board) if n[:1].isupper() and not n.startswith("__"))
        shown = ", ".join(names[:24]) + (" ..." if len(names) > 24 else "")
        raise TriggerError(f"Blinka's board has no pin {key!r} (it has: {shown})")
    return pin


def _parse_spec(spec: str, response_pin: str | None, high_s: float) -> tuple[str, str | None, float]:
    """"PIN[:RESPONSE[:HIGH_MS]]" (an empty RESPONSE: none) -> (pin, response, high_s)."""
    parts = spec.split(":")
    if len(parts) > 3:
        raise TriggerError(f"blinka trigger {spec!r}: use PIN[:RESPONSE[:HIGH_MS]]")
    if len(parts) == 3:
        try:
            high_s = float(parts[2]) / 1000
        except ValueError:
            raise TriggerError(f"blinka trigger {spec!r}: HIGH_MS must be a number of ms") from None
        if high_s < 0:
            raise TriggerError(f"blinka trigger {spec!r}: HIGH_MS must not be negative")
    return parts[0], response_pin or parts[1] or None, high_s


class BlinkaTrigger:
    """One rising edge per pulse() on a host GPIO; the line rests low.

    pin_name: the trigger pin, or "PIN[:RESPONSE[:HIGH_MS]]" as the CLI passes the text
    after "blinka:" (e.g. "C0:C1:25", or "C0::25" for no response pin).
    response_pin: a host input wired to the board's response pin;
    pulse() then waits (up to response_timeout_s) for it to change level and records the
    delay in ``responses_us`` (or counts ``missed``). high_s: the least time the line stays
    high — a board that samples its pin (CircuitPython keypad: every scan interval, 20 ms
    by default) needs at least one interval.
    """

    def __init__(self, pin_name: str, response_pin: str | None = None, *,
                 high_s: float = 0.0, response_timeout_s: float = 1.0) -> None:
        if ":" in pin_name:
            pin_name, response_pin, high_s = _parse_spec(pin_name, response_pin, high_s)
        if not pin_name:
            raise TriggerError("the blinka trigger needs a pin: "
                               "--trigger blinka:PIN[:RESPONSE[:HIGH_MS]]")
        board, digitalio = _import_blinka()
        self.pin_name = pin_name
        self.response_pin = response_pin or None
        self.high_s = high_s
        self.response_timeout_s = response_timeout_s
        self.responses_us: list[float] = []
        self.missed = 0
        self.pulses = 0
        trig_pin = _pin(board, pin_name)
        resp_pin = _pin(board, self.response_pin) if self.response_pin else None
        self._trig: Any = digitalio.DigitalInOut(trig_pin)
        self._resp: Any = None
        try:
            self._trig.switch_to_output(value=False)
            if resp_pin is not None:
                self._resp = digitalio.DigitalInOut(resp_pin)
                self._resp.switch_to_input()
        except Exception:
            self.close()
            raise

    @property
    def last_response_us(self) -> float | None:
        return self.responses_us[-1] if self.responses_us else None

    def pulse(self) -> None:
        """Drive the trigger pin high (the edge), wait for the response / high_s, drive it low."""
        if self._trig is None:
            raise TriggerError("blinka trigger is closed")
        resp = self._resp
        before = bool(resp.value) if resp is not None else False
        t0 = time.perf_counter()
        self._trig.value = True
        self.pulses += 1
        if resp is not None:
            deadline = t0 + self.response_timeout_s
            while True:
                if bool(resp.value) != before:
                    self.responses_us.append((time.perf_counter() - t0) * 1e6)
                    break
                if time.perf_counter() > deadline:
                    self.missed += 1
                    break
        left = self.high_s - (time.perf_counter() - t0)
        if left > 0:
            time.sleep(left)
        self._trig.value = False

    def close(self) -> None:
        trig, self._trig = self._trig, None
        resp, self._resp = self._resp, None
        if trig is not None:
            try:
                trig.value = False
            finally:
                trig.deinit()
        if resp is not None:
            resp.deinit()

    def __enter__(self) -> BlinkaTrigger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_blinka(arg: str, *, ser: Any = None, bench_url: str | None = None, pin: Any = None) -> BlinkaTrigger:
    return BlinkaTrigger(arg or str(pin))
