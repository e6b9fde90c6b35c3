"""Issue 10.6: CircuitPython's ticks_us comes from time.monotonic_ns(), whose real
resolution on many boards is one 32 768 Hz subtick (~30.5 us). The port measures the step
its clock really makes and HELLO reports it (info tick_res_us)."""
from __future__ import annotations

import os
import time

import pytest

os.environ.setdefault("BLINKA_OS_AGNOSTIC", "1")   # before anything imports `board`
pytest.importorskip("adafruit_blinka", reason="adafruit-blinka is not installed (test extra)")

from irqkit.ports import circuitpython as cp  # noqa: E402

SUBTICK_NS = 1_000_000_000 / 32768     # 30 517.578 ns


def subtick_clock() -> int:
    """ticks_us as CircuitPython computes it on a board whose monotonic_ns() moves in
    32 768 Hz subticks: real time quantised to whole subticks, then // 1000."""
    ns = int(int(time.perf_counter_ns() / SUBTICK_NS) * SUBTICK_NS)
    return (ns // 1000) & 0x3FFFFFFF


def test_measures_a_subtick_clock_as_30_us() -> None:
    res = cp.tick_resolution_us(subtick_clock)
    assert res in (30, 31), res     # a subtick is 30.5 us: steps of 30 and 31 us


def test_measures_a_1_us_clock_as_1_us() -> None:
    assert cp.tick_resolution_us(lambda: (time.perf_counter_ns() // 1000) & 0x3FFFFFFF) == 1


def test_a_clock_that_never_moves_reports_0() -> None:
    assert cp.tick_resolution_us(lambda: 5, spins=1000) == 0


class _Link:
    in_waiting = 0

    def readinto(self, buf: bytearray) -> int:
        return 0

    def write(self, data: bytes) -> int:
        return len(data)


def test_port_reports_its_tick_resolution_in_info() -> None:
    port = cp.CircuitPythonPort(link=_Link())
    assert port.info()["tick_res_us"] == port.tick_res_us >= 1
