"""Interrupts on the simulator board, end to end: the host drives the bench channel and
the serial link; the firmware (irqkit core + MachinePort, the port every MicroPython board
uses, on the simulator's `machine`) runs in the VM behind the pty. Sim-only lines (software
interrupts, NMI, BASEPRI) come from simboard.extras.
Every test starts from a soft reset (a fresh VM). Parametrized over both runtimes."""
from __future__ import annotations

import json
import time

import pytest
from mpremote.transport_serial import SerialTransport

from devrepl import ev, fresh_repl

from irqkit_host.targets.bench import BenchClient


SETUP = """
from irqkit.ports.machine_port import MachinePort
from simboard import extras as sim
from irqkit.sched import Scheduler
from irqkit.source import SoftSource
from irqkit.hwsource import GpioSource, TimerSource, UartSource
from irqkit.compat import ticks_diff, ticks_us, sleep_ms
from array import array
port = MachinePort(timer_id=-1, uart_id=0)
sched = Scheduler(port)
"""




@pytest.fixture
def dev(board):
    with fresh_repl(board, SETUP) as t:
        yield t


def test_gpio_edge_runs_isr_then_deferred_task(board, dev):
    dev.exec("""
got = []
def on_edge(ev):
    got.append([ev.source.name, ev.a, ticks_diff(ev.t_task, ev.t_isr), ev.source.st[0]])
    sched.stop()
g = sched.add(GpioSource("button", on_edge, pin="P0", trigger="rising", prio=3))
""")
    with BenchClient(board.bench) as bench:
        assert json.loads(bench.cmd("pins"))["P0"]["irq"] == "rising"
        bench.set("P0", 1)                      # rising edge; the level stays up
        st = _wait_state(bench, lambda s: s["lines"]["P0"]["runs"] >= 1)
        bench.set("P0", 0)                      # falling: no IRQ (trigger is rising)
        assert st["lines"]["P0"]["runs"] == 1   # the ISR ran (on the CPU: the main thread) ...
        dev.exec("sched.run(until_ms=5000)")    # ... and its task runs in the main loop
        got = ev(dev, "got")
        assert len(got) == 1
        name, level, latency_us, isr_entries = got[0]
        assert name == "button" and level == 1 and isr_entries == 1
        assert latency_us >= 0
        print(f"[{board.runtime}] gpio ISR -> task: {latency_us} us (incl. the exec round trip)")


def test_pulse_after_an_overdue_pulse_end_starts_from_the_rest_level(board, dev):
    """A pulse's end is driven by the hardware thread; when that thread is late, the next
    bench command first drives what is due. Here the thread is never told of the train
    (timers_changed silenced), as if it woke arbitrarily late: the second pulse must still
    rise (without the catch-up it started from the first pulse's high level and fell)."""
    dev.exec("""
from simboard import board as _B
_hw = _B.board()
_hw.timers_changed = lambda: None
""")
    with BenchClient(board.bench) as bench:
        bench.set("P2", 0)
        before = [int(x) for x in bench.cmd("edges P2").split()]
        bench.pulse("P2", 100)
        time.sleep(0.01)                         # the pulse's end is long due
        bench.pulse("P2", 10000000)
        assert bench.get("P2") == 1              # high again: the second pulse rose
        rises, falls = [int(x) for x in bench.cmd("edges P2").split()]
        assert (rises - before[0], falls - before[1]) == (2, 1)
        bench.set("P2", 0)
    dev.exec("del _hw.timers_changed")


def _wait_state(bench, done, timeout=10.0):
    """The bench state once done(state) holds (handlers run when the CPU takes them)."""
    deadline = time.monotonic() + timeout
    while True:
        st = bench.state()
        if done(st) or time.monotonic() > deadline:
            return st
        time.sleep(0.02)


def test_timer_1khz_for_2s_delivers_ticks(board, dev):
    out, err = dev.exec_raw("""
N = 2600
ts = array('i', [0] * N)
n = [0]
def on_tick(ev):
    i = n[0]
    if i < N:
        ts[i] = ev.t_isr
    n[0] = i + 1
tim = sched.add(TimerSource("t1k", on_tick, period_us=1000, periodic=True, prio=4, capacity=64))
sched.run(until_ms=2000)
sched.remove(tim)
""", timeout=30)
    assert err == b"", err
    count = ev(dev, "n[0]")
    ts = ev(dev, "list(ts[:min(n[0], N)])")
    lost = ev(dev, "tim.ring.ctl[%d]" % _overflow_index())
    periods = [((b - a + 0x20000000) & 0x3FFFFFFF) - 0x20000000 for a, b in zip(ts, ts[1:])]
    errs = sorted(abs(p - 1000) for p in periods)
    pct = lambda q: errs[min(len(errs) - 1, int(q * len(errs)))]
    print(f"[{board.runtime}] timer 1 kHz x 2 s: {count} ticks, lost {lost}; "
          f"period error p50 {pct(0.5)} us, p99 {pct(0.99)} us, max {errs[-1]} us")
    assert 500 <= count <= 2100          # loose sanity: the timer ran, and not wildly fast
    assert all(p > 0 for p in periods)   # timestamps move forward


def _overflow_index() -> int:
    from irqkit.ring import R_OVERFLOW
    return R_OVERFLOW


def test_uart_byte_runs_rx_isr_and_task_replies(board, dev):
    dev.exec("""
def on_rx(ev):
    buf = bytearray(16)
    k = port.serial_read(buf)
    port.serial_write(b"rx:" + bytes(buf[:k]) + b";")
    if b"Z" in buf[:k]:
        sched.stop()
sched.add(UartSource("uart", on_rx, prio=2, capacity=16))
""")
    dev.exec_raw_no_follow("sched.run(until_ms=10000)")
    time.sleep(0.2)
    dev.serial.write(b"\x03a")   # 0x03 is data while the app owns the link
    time.sleep(0.1)
    dev.serial.write(b"Z")
    out, err = dev.follow(timeout=15)
    assert err == b"", err
    assert b"rx:" in out and b"a" in out and b"Z;" in out and b"\x03" in out
    with BenchClient(board.bench) as bench:
        uart = bench.state()["lines"]["UART"]
        assert uart["runs"] >= 2


def test_allocating_isr_fails_and_is_reported(board, dev):
    if board.runtime == "micropython":
        dev.exec("""
def bad(pin):
    x = [1, 2, 3]   # allocates: not allowed in a hard ISR
port.gpio_irq("P3", "rising", bad)
""")
        want = ["MemoryError", "heap is locked"]
    else:
        # CPython has no heap lock (heap_lock is a no-op there, and the sim says so);
        # the reporting path is the same for any exception in a handler.
        dev.exec("""
def bad(pin):
    1 / 0
port.gpio_irq("P3", "rising", bad)
""")
        want = ["ZeroDivisionError"]
    with BenchClient(board.bench) as bench:
        bench.pulse("P3", 10)
        st = _wait_state(bench, lambda s: s["errors"] >= 1)
        assert st["errors"] == 1
        assert st["lines"]["P3"]["errors"] == 1
        assert st["lines"]["P3"]["enabled"] == 0     # a failing IRQ is disabled, like a board
        for w in want:
            assert w in st["last_error"]
        assert st["last_error"].startswith("irq P3: ") and "irq disabled" in st["last_error"]
        assert st["heap_lock"] == ("real" if board.runtime == "micropython" else "no-op (cpython)")
        bench.pulse("P3", 10)                         # disabled: not run again
        assert bench.state()["lines"]["P3"]["runs"] == 1
    # and the console showed it as a board prints it (shared/runtime/mpirq.c)
    out = dev.serial.read_until(want[0].encode(), 4096)
    assert b"Uncaught exception in IRQ callback handler" in out and out.endswith(want[0].encode())


def test_isr_paths_do_not_allocate(board, dev):
    """The core's GPIO / timer / soft ISR paths run heap-locked in the hardware thread
    without a MemoryError (on the VM; on CPython the lock is a no-op)."""
    dev.exec("""
hits = [0]
def task(ev):
    hits[0] += 1
g = sched.add(GpioSource("g", task, pin="P1", trigger="both", prio=3, capacity=16))
s = sched.add(SoftSource("s", task, prio=1, capacity=256))
sim.soft_irq(s.isr, priority=1)
""")
    with BenchClient(board.bench) as bench:
        # 5 pulses on the hardware model's clock (bench commands return at once, so
        # back-to-back `pulse`s would overlap and merge edges at the pin)
        bench.cmd("train P1 5 1000")
        bench.soft(100, 20000)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = bench.state()
            if st["lines"]["SWI"]["raised"] >= 100 and st["lines"]["P1"]["raised"] >= 10:
                break
            time.sleep(0.05)
        assert st["errors"] == 0, st["last_error"]
        p1 = st["lines"]["P1"]
        # 10 edges: each ran, or (a 10 us pulse: the falling edge came before the CPU took
        # the rising one) coalesced into the pending bit, counted — as on a board
        assert p1["raised"] == 10 and p1["runs"] + p1["coalesced"] == 10
        swi = st["lines"]["SWI"]
        assert swi["raised"] == 100 and swi["runs"] + swi["coalesced"] == 100
    dev.exec("sched.run_once()")
    assert ev(dev, "hits[0]") == p1["runs"] + ev(dev, "s.st[0]")


# Device side: three software-interrupt lines whose handlers record their priority.
RECORDER = """order = array('i', [0] * 16)
k = [0]
def rec(v):
    def h(arg):
        order[k[0]] = v
        k[0] += 1
    return h
sim.soft_irq(rec(1), priority=1, line="LOW")
sim.soft_irq(rec(5), priority=5, line="HIGH")
sim.soft_irq(rec(3), priority=3, line="MID")
"""


def test_masked_events_run_after_unmask_in_priority_order_nmi_runs_while_masked(board, dev):
    dev.exec(RECORDER + "sim.nmi_irq(rec(99))\n")
    # The board masks interrupts, says so, and waits (masked) for one byte on the link;
    # meanwhile the bench raises three lines and the NMI.
    dev.exec_raw_no_follow("""
st = port.disable_irq()
print('MASKED')
while not port.serial_any():
    sleep_ms(1)
during = list(order[:k[0]])
port.enable_irq(st)
print('during', during, 'after', list(order[:k[0]]))
""")
    assert dev.serial.read_until(b"MASKED", 256).endswith(b"MASKED")
    with BenchClient(board.bench) as bench:
        for line in ("LOW", "HIGH", "MID"):
            bench.cmd(f"raise {line}")
        bench.cmd("nmi")
        st = bench.state()
        assert st["masked"] == 1
        assert sorted(st["pending"]) == ["HIGH", "LOW", "MID"]
        assert st["lines"]["NMI"]["runs"] == 1
    dev.serial.write(b"g")
    out, err = dev.follow(timeout=10)
    assert err == b"", err
    assert b"during [99] after [99, 5, 3, 1]" in out


def test_basepri_holds_lower_priorities(board, dev):
    dev.exec(RECORDER + """sim.set_basepri(4)
sim.pend("LOW"); sim.pend("MID"); sim.pend("HIGH")
during = list(order[:k[0]])
sim.set_basepri(None)
""")
    assert ev(dev, "during") == [5]
    assert ev(dev, "list(order[:k[0]])") == [5, 3, 1]


def test_bytes_sent_while_the_program_starts_reach_its_uart_task(board, dev):
    """A UART's RX flag is level-triggered: bytes that arrived before the RX interrupt was
    enabled raise it at once, in order — and a 0x03 among them is data, not Ctrl-C."""
    dev.exec_raw_no_follow("""
# 'importing' for 300 ms: the host's bytes arrive now, before the handler exists (busy,
# as an import is: a sleep idles the board, and an idle board takes a 0x03 as Ctrl-C)
t0 = ticks_us()
while ticks_diff(ticks_us(), t0) < 300000:
    pass
rx = bytearray(64)
got = bytearray()
def on_rx(ev):
    n = port.serial_read(rx)
    got.extend(rx[:n])
    if b"!" in got:
        sched.stop()
sched.add(UartSource("uart", on_rx, prio=2, capacity=16))
sched.run(until_ms=5000)
print('GOT', bytes(got))
""")
    dev.serial.write(b"\x02\x01\x03>.!")
    out, err = dev.follow(timeout=15)
    assert err == b"", err
    assert b"GOT b'\\x02\\x01\\x03>.!'" in out
