"""Issue 10 on the simulator board: two producer contexts on one source, and `with crit:`
inside a hard ISR.

The second producer is a real hard `machine.Timer` callback (through MachinePort, the port
every MicroPython board uses): on the MicroPython VM the simulator's interrupt controller
delivers it onto the main thread between bytecodes -- so it preempts the main loop anywhere,
also in the middle of the main loop's own `trigger()` on the same source, as an IRQ does on a
single-core board. Without `capture()`'s masked producer section those two would interleave
a read-modify-write of the ring's head or of the shared sequence number.

The run ends deterministically: the main loop stops the timer once it has produced its
quota (or at a deadline), waits out a late tick, drains the ring, then compares.
Parametrized over both runtimes (conftest's `board`)."""
from __future__ import annotations

import json

import pytest
from mpremote.transport_serial import SerialTransport

from devrepl import ev, fresh_repl


SETUP = """
from irqkit.ports.machine_port import MachinePort
from irqkit.sched import Scheduler
from irqkit.source import SoftSource, R_OVERFLOW, ST_TRIGGERS, ST_DELIVERED
from irqkit.ring import pending
from irqkit.compat import ticks_us, ticks_ms, ticks_diff, sleep_ms, sleep_us
port = MachinePort(timer_id=-1, uart_id=0)
sched = Scheduler(port)
"""

TIMER_PERIOD_US = 500      # 2 kHz: a rate both runtimes' simulated timers sustain
TIMER_EVENTS = 20000       # the timer's quota (10 s at 2 kHz)
MAIN_MAX = 1500000        # the main loop's cap (a sequence-number flag each)
DEADLINE_MS = 40000        # stop the timer here even if it fell behind (coalesced ticks)

PRODUCERS = """
ISR = 0
MAIN = 1
TOTAL = %(total)d
delivered = [0, 0]
seen = bytearray(TOTAL)
bad = [0, 0, 0]              # duplicate seq, out-of-range seq, seq not increasing
last = [-1]
def task(ev):
    delivered[ev.a] += ev.count
    q = ev.seq
    if q >= TOTAL:
        bad[1] += 1
        return
    if seen[q]:
        bad[0] += 1
    seen[q] = 1
    if q <= last[0]:
        bad[2] += 1
    last[0] = q
src = sched.add(SoftSource("shared", task, capacity=16))
isr = [0, 0]                 # produced, refused (ring full) -- written by the hard ISR only
def tick(t):
    isr[0] += 1
    if not src.capture(ticks_us(), ISR, 0):
        isr[1] += 1
tim = port.timer(%(period)d, True, tick, hard=True)
main = [0, 0]                # produced, refused
t0 = ticks_ms()
i = 0
while isr[0] < %(quota)d and i < %(main_max)d and ticks_diff(ticks_ms(), t0) < %(deadline)d:
    if i %% 256 == 0:
        # a burst deeper than the ring: refusals on both producers' side
        for k in range(24):
            if not src.trigger(MAIN, i):
                main[1] += 1
            main[0] += 1
            i += 1
    if not src.trigger(MAIN, i):
        main[1] += 1
    main[0] += 1
    i += 1
    sched.step()
    if i %% 64 == 0:
        sleep_us(50)         # a real sleep: on CPython the hardware thread gets the GIL
tim.deinit()
sleep_ms(20)                 # a tick already raised runs now, before the snapshot
elapsed_ms = ticks_diff(ticks_ms(), t0)
sched.run_once()
""" % {"total": MAIN_MAX + 2 * TIMER_EVENTS + 1000, "period": TIMER_PERIOD_US,
       "quota": TIMER_EVENTS, "main_max": MAIN_MAX, "deadline": DEADLINE_MS}


@pytest.fixture
def dev(board):
    with fresh_repl(board, SETUP) as t:
        yield t


def test_hard_timer_and_main_loop_on_one_source_every_event_delivered_or_counted(board, dev):
    out, err = dev.exec_raw(PRODUCERS, timeout=DEADLINE_MS / 1000 + 60)
    assert err == b"", err
    r = ev(dev, "{'isr': isr, 'main': main, 'delivered': delivered, 'bad': bad, "
                "'overflow': src.ctl[R_OVERFLOW], 'triggers': src.st[ST_TRIGGERS], "
                "'st_delivered': src.st[ST_DELIVERED], 'seq': sched.seq[0], "
                "'pending': pending(src), 'mode': tim.mode, 'ms': elapsed_ms, "
                "'port': port.counters()}")
    (isr_n, isr_ref), (main_n, main_ref) = r["isr"], r["main"]
    d_isr, d_main = r["delivered"]
    print(f"[{board.runtime}] hard timer 2 kHz + main-loop trigger() on one source, "
          f"{r['ms']} ms: timer produced {isr_n} (delivered {d_isr}, refused {isr_ref}), "
          f"main produced {main_n} (delivered {d_main}, refused {main_ref}); "
          f"timer raises coalesced by the controller {r['port'].get('irq_coalesced')}")
    assert r["mode"] == "hard"
    # not vacuous: both producers ran for real, and the ring overflowed on both sides
    assert isr_n >= 2000 and main_n >= 2000, r
    assert main_ref > 0, r
    assert r["pending"] == 0
    # exact accounting, per producer
    assert d_isr + isr_ref == isr_n, r
    assert d_main + main_ref == main_n, r
    assert r["overflow"] == isr_ref + main_ref, r
    assert r["triggers"] == isr_n + main_n and r["st_delivered"] == d_isr + d_main, r
    # one sequence number per event, none reused, delivered in order (one FIFO source)
    assert r["seq"] == isr_n + main_n, r
    assert r["bad"] == [0, 0, 0], r


# -- `with crit:` inside a hard ISR -------------------------------------------------------

NESTED = """
import machine
crit = sched.crit
seen = [0, 0]                # runs, depth inside the inner section
def h(t):
    with crit:
        with crit:
            seen[0] += 1
            seen[1] = crit.depth
tim = port.timer(1000, True, h, hard=True)
sleep_ms(200)
tim.deinit()
sleep_ms(10)
"""


def test_nested_with_crit_in_a_hard_timer_handler_runs_heap_locked(board, dev):
    out, err = dev.exec_raw(NESTED, timeout=30)
    assert err == b"" and b"Error" not in out, (out, err)
    r = ev(dev, "{'seen': seen, 'depth': crit.depth, 'entries': crit.entries, "
                "'mode': tim.mode, 'port': port.counters(), 'masked': machine.sim_state()['masked']}")
    print(f"[{board.runtime}] nested `with crit:` in a hard timer ISR: {r['seen'][0]} runs")
    assert r["mode"] == "hard"
    assert r["seen"][0] >= 20 and r["seen"][1] == 2, r
    assert r["entries"] == r["seen"][0] and r["depth"] == 0 and r["masked"] == 0, r
    assert r["port"]["irq_errors"] == 0, r


ALLOCATING = """
import machine
from irqkit.critical import Critical
class TupleExit(Critical):
    # the old signature, for contrast: `*exc_info` builds a tuple on every `with`
    def exit(self, *exc_info):
        Critical.exit(self)
    __exit__ = exit
%s
def h(t):
    with crit:
        with crit:
            %s
tim = port.timer(1000, True, h, hard=True)
sleep_ms(100)
tim.deinit()
sleep_ms(10)
"""


@pytest.mark.parametrize("case", ["tuple_exit", "allocating_body"])
def test_allocating_with_crit_in_a_hard_handler_fails_heap_locked(board, dev, case):
    if board.runtime != "micropython":
        pytest.skip("heap_lock() is a no-op on CPython: only the MicroPython VM can fail here")
    crit, body = {"tuple_exit": ("crit = TupleExit(port)", "pass"),
                  "allocating_body": ("crit = sched.crit", "x = [1, 2, 3]")}[case]
    out, err = dev.exec_raw(ALLOCATING % (crit, body), timeout=30)
    text = out + err
    assert b"Uncaught exception in IRQ callback handler" in text, text
    assert b"MemoryError: memory allocation failed, heap is locked" in text, text
    r = ev(dev, "{'depth': crit.depth, 'port': port.counters(), "
                "'masked': machine.sim_state()['masked']}")
    assert r["port"]["irq_errors"] == 1, r     # one failure, then the IRQ is disabled
    if case == "allocating_body":
        # the body failed, `with` still left both sections: depth 0, interrupts back on
        assert r["depth"] == 0 and r["masked"] == 0, r
    else:
        # the inner exit itself failed: the section stays held, as it would on a board
        assert r["depth"] == 2 and r["masked"] == 1, r
        dev.exec("machine.enable_irq(0)")
