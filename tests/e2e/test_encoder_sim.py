"""Bench stimulus against irqkit's encoder and debounce sources on the simulator: a
quadrature signal of 10 000 steps with contact bounce on every change ends at the exact
position, and a button pressed with bouncing contacts counts exactly the presses sent.
The firmware runs in the VM behind the pty (MachinePort on the sim's `machine`); the
stimulus runs on the board's hardware clock; quadrature is paced (a step the sim's hardware
thread drives late delays the rest instead of bunching steps, which no shaft does). Both
runtimes."""
from __future__ import annotations

import json
import time

import pytest
from mpremote.transport_serial import SerialTransport

from devrepl import ev, fresh_repl

from irqkit_host.targets.bench import BenchClient

SETUP = """
from irqkit.ports.machine_port import MachinePort
from irqkit.sched import Scheduler
from irqkit.encoder import EncoderSource
from irqkit.debounce import DebouncedPin
import json
port = MachinePort(timer_id=-1, uart_id=0)
sched = Scheduler(port)
"""

STEPS = 7000        # forward, then REV back: 10 000 steps in all
RATE_HZ = 500
REV = 3000          # then this many steps back
BOUNCE = 2        # extra edges on every change (each change: 3 edges, 1 us apart)


@pytest.fixture
def dev(board):
    with fresh_repl(board, SETUP) as t:
        yield t


def _settle(bench: BenchClient, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while bench.state()["bench"]["stimulus_active"] and time.monotonic() < deadline:
        time.sleep(0.05)


def test_quadrature_with_bounce_ends_at_exact_position(board, dev):
    with BenchClient(board.bench) as bench:
        bench.cmd("set P2 0")
        bench.cmd("set P3 0")
        dev.exec("""
n = [0]
def on_step(ev):
    n[0] += ev.count
enc = sched.add(EncoderSource("enc", on_step, "P2", "P3", prio=3))
""")
        a0 = sum(int(x) for x in bench.cmd("edges P2").split())
        b0 = sum(int(x) for x in bench.cmd("edges P3").split())
        dev.exec_raw_no_follow("sched.run(until_ms=120000)")
        assert bench.cmd("quad P2 P3 %d %d %d" % (STEPS, RATE_HZ, BOUNCE))
        _settle(bench)
        time.sleep(0.2)
        assert bench.cmd("quad P2 P3 %d %d %d" % (-REV, RATE_HZ, BOUNCE))
        _settle(bench)
        time.sleep(0.2)
        slip = bench.state()["bench"]["paced_slip_us"]
        wire = (sum(int(x) for x in bench.cmd("edges P2").split()) - a0
                + sum(int(x) for x in bench.cmd("edges P3").split()) - b0)
        dev.serial.write(b"\x03")
        dev.follow(timeout=30)
    st = ev(dev, "enc.stats()")
    changes = ev(dev, "n[0]")
    edges_sent = (STEPS + REV) * (1 + BOUNCE)
    print(f"[{board.runtime}] quadrature {STEPS} + {-REV} steps, bounce {BOUNCE}: "
          f"position {st['position']}, ISR entries {st['edges']} of {wire} edges on the wire, "
          f"skips {st['skips']}, position changes notified {changes}; the paced stimulus "
          f"slipped {slip} us in all (the sim's hardware thread late)")
    assert wire == edges_sent
    # exact: every step decoded, or (the ISR a whole step late: skips, counted, printed
    # above) charged in the direction the shaft was turning
    assert st["position"] == STEPS - REV


def test_debounced_button_sees_exactly_the_presses_sent(board, dev):
    presses = 20
    with BenchClient(board.bench) as bench:
        bench.cmd("set P4 0")
        dev.exec("""
got = []
key = sched.add(DebouncedPin("key", lambda ev: got.append(ev.a), "P4", settle_us=5000))
""")
        e0 = sum(int(x) for x in bench.cmd("edges P4").split())
        dev.exec_raw_no_follow("sched.run(until_ms=120000)")
        for i in range(presses):
            assert bench.cmd("bounce P4 7 700 1")   # press: chatters, settles high
            _settle(bench)
            time.sleep(0.03)
            assert bench.cmd("bounce P4 5 500 0")   # release: chatters too
            _settle(bench)
            time.sleep(0.03)
        wire = sum(int(x) for x in bench.cmd("edges P4").split()) - e0
        dev.serial.write(b"\x03")
        dev.follow(timeout=30)
    st = ev(dev, "key.stats()")
    got = ev(dev, "got")
    print(f"[{board.runtime}] {presses} bouncing presses ({wire} edges): presses {st['presses']}, "
          f"releases {st['releases']}, edges seen {st['edges']}")
    assert wire == presses * (7 + 5)
    assert st["presses"] == presses and st["releases"] == presses
    assert got == [1, 0] * presses
