"""The Blinka trigger backend on Blinka's OS-agnostic board (BLINKA_OS_AGNOSTIC=1).

Substituted: the agnostic board's pins do not remember what was written to them (reads
return fixed values), so the `wire` fixture patches the agnostic Pin class to log writes
and, for a chosen input, to read back what the trigger pin last had — a board that
echoes the trigger on its response pin with no delay.
"""
from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("BLINKA_OS_AGNOSTIC", "1")   # before anything imports `board`
pytest.importorskip("adafruit_blinka", reason="adafruit-blinka is not installed (test extra)")

import board  # noqa: E402
from adafruit_blinka.microcontroller.generic_agnostic_board.pin import Pin as AgnosticPin  # noqa: E402

from irqkit_host.triggers.blinka import BlinkaTrigger  # noqa: E402
from irqkit_host.triggers import TriggerError, make_trigger  # noqa: E402

TRIG = board.Dx_OUTPUT.id
ECHO = board.Dx_INPUT_TRUE_PULL_UP.id   # read back as the trigger's level (see `wire`)


class Wire:
    def __init__(self) -> None:
        self.writes: list[tuple[int, int, float]] = []   # (pin id, level, perf_counter)
        self.level: dict[int, int] = {}
        self.echo = True

    def on(self, pin: int) -> list[int]:
        return [v for i, v, _ in self.writes if i == pin]


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    import time
    w = Wire()
    orig_write, orig_read = AgnosticPin.write, AgnosticPin.read

    def write(self: AgnosticPin, v: Any) -> None:
        w.writes.append((self.id, int(v), time.perf_counter()))
        w.level[self.id] = int(v)
        orig_write(self, v)

    def read(self: AgnosticPin) -> Any:
        if self.id == ECHO:
            return w.level.get(TRIG, 0) if w.echo else 0
        return orig_read(self)

    monkeypatch.setattr(AgnosticPin, "write", write)
    monkeypatch.setattr(AgnosticPin, "read", read)
    return w


def test_pulse_is_one_rising_edge_and_rests_low(wire: Wire) -> None:
    t = BlinkaTrigger("Dx_OUTPUT")
    assert wire.on(TRIG)[-1] == 0                     # idle low from the start
    t.pulse()
    t.pulse()
    assert wire.on(TRIG)[-4:] == [1, 0, 1, 0]
    assert t.pulses == 2 and t.responses_us == [] and t.last_response_us is None
    t.close()


def test_response_pin_watched_per_pulse(wire: Wire) -> None:
    t = BlinkaTrigger("Dx_OUTPUT", "Dx_INPUT_TRUE_PULL_UP")
    for _ in range(3):
        t.pulse()
    assert len(t.responses_us) == 3 and t.missed == 0
    assert all(us >= 0 for us in t.responses_us)
    t.close()


def test_missing_response_is_counted_not_hung(wire: Wire) -> None:
    wire.echo = False                                 # the board never answers
    t = BlinkaTrigger("Dx_OUTPUT:Dx_INPUT_TRUE_PULL_UP", response_timeout_s=0.02)
    assert t.response_pin == "Dx_INPUT_TRUE_PULL_UP"
    t.pulse()
    assert t.missed == 1 and t.responses_us == []
    assert wire.on(TRIG)[-1] == 0                     # and the line is low again
    t.close()


def test_high_time_is_kept(wire: Wire) -> None:
    t = BlinkaTrigger("board.Dx_OUTPUT", high_s=0.03)  # e.g. a keypad board scanning at 20 ms
    t.pulse()
    (_, hi, t_hi), (_, lo, t_lo) = [x for x in wire.writes if x[0] == TRIG][-2:]
    assert (hi, lo) == (1, 0) and t_lo - t_hi >= 0.03
    t.close()


def test_unknown_pin_is_a_one_line_error_naming_the_pins() -> None:
    with pytest.raises(TriggerError, match="no pin 'D5'.*Dx_OUTPUT"):
        BlinkaTrigger("D5")
    with pytest.raises(TriggerError, match="no pin 'NOPE'"):
        BlinkaTrigger("Dx_OUTPUT", "NOPE")
    with pytest.raises(TriggerError, match="needs a pin"):
        BlinkaTrigger("")


def test_selected_by_the_measure_trigger_spec(wire: Wire) -> None:
    t = make_trigger("blinka:Dx_OUTPUT:Dx_INPUT_TRUE_PULL_UP")
    assert isinstance(t, BlinkaTrigger)
    assert (t.pin_name, t.response_pin) == ("Dx_OUTPUT", "Dx_INPUT_TRUE_PULL_UP")
    t.pulse()
    assert len(t.responses_us) == 1
    t.close()


def test_close_is_idempotent_and_final(wire: Wire) -> None:
    with BlinkaTrigger("Dx_OUTPUT") as t:
        t.pulse()
    t.close()
    with pytest.raises(TriggerError, match="closed"):
        t.pulse()


def test_spec_with_high_time_and_no_response(wire: Wire) -> None:
    t = BlinkaTrigger("Dx_OUTPUT::25")
    assert (t.pin_name, t.response_pin, t.high_s) == ("Dx_OUTPUT", None, 0.025)
    t.close()
    t = make_trigger("blinka:Dx_OUTPUT:Dx_INPUT_TRUE_PULL_UP:1.5")
    assert isinstance(t, BlinkaTrigger) and t.high_s == 0.0015
    assert t.response_pin == "Dx_INPUT_TRUE_PULL_UP"
    t.close()
    for bad in ("Dx_OUTPUT::x", "Dx_OUTPUT::-1", "a:b:1:2"):
        with pytest.raises(TriggerError, match="HIGH_MS|PIN\\[:RESPONSE"):
            BlinkaTrigger(bad)
