"""The simulator's RX trace (bench `rxtrace`), which tools/bench_ping.py reads to say where
a PING's microseconds go on the device: off by default, records one sample per PING the
idle board takes while on, its steps in order and on the host's clock."""
from __future__ import annotations

import json
import time

from irqkit import proto as P
from irqkit_host.boards import load_board
from irqkit_host.deploy.firmware import app_start_code
from irqkit_host.link.session import DeviceSession
from irqkit_host.targets.bench import BenchClient
from irqkit_host.targets.sim import SimBoard

BOARD = load_board("sim")
MASK = 0x3FFFFFFF


def _now() -> int:
    """The host's clock as the VM's ticks_us reads it (CLOCK_MONOTONIC, us, 30 bits)."""
    return time.perf_counter_ns() // 1000 & MASK


def _diff(a: int, b: int) -> int:
    return ((a - b + 0x20000000) & MASK) - 0x20000000


def test_rxtrace_records_each_ping_step_by_step(sim: SimBoard) -> None:
    with DeviceSession(sim.port, app_start_code(BOARD)) as s, BenchClient(sim.bench) as bench:
        link = s.link
        assert link is not None
        for _ in range(20):                       # off: nothing is kept
            link.request(P.PING, b"x", expect_type=P.PONG)
        assert json.loads(bench.cmd("rxtrace"))["n"] == 0
        assert bench.cmd("rxtrace on") == "rxtrace on"
        windows = []                              # (host sent, host has the PONG), us
        for _ in range(50):
            time.sleep(0.01)                      # the board idles before each PING
            t0 = _now()
            link.request(P.PING, b"x", expect_type=P.PONG)
            windows.append((t0, _now()))
        bench.cmd("rxtrace off")
        for _ in range(20):                       # off again: no more samples
            link.request(P.PING, b"x", expect_type=P.PONG)
        rep = json.loads(bench.cmd("rxtrace"))
    n = rep["n"]
    assert 25 <= n <= 50, rep["n"]              # a PING the UART thread took is not a sample
    names = [name for name, _ in rep["steps"]]
    assert names[0].startswith("console read") and names[-1].startswith("console write")
    assert all(v is not None and v >= 0 for _, v in rep["steps"]), rep["steps"]
    # on one clock: each sample's wake lies inside one PING's round trip as the host saw it
    # (after it sent the PING, before it had the PONG the device wrote after that wake); the
    # PONG-written stamp follows the wake (it may follow the host's receipt too: the device
    # reads its clock after write() returns, and it can be descheduled in between)
    for w, t in zip(rep["wake"], rep["sent"]):
        assert _diff(t, w) >= 0, (w, t)
        assert any(_diff(w, a) >= 0 and _diff(b, w) >= 0 for a, b in windows), (w, t, windows)


def test_rxtrace_usage_errors_are_one_line(sim: SimBoard) -> None:
    with BenchClient(sim.bench) as bench:
        assert bench.raw("rxtrace sideways").startswith("err ")
        assert bench.raw("rxtrace on off").startswith("err ")
