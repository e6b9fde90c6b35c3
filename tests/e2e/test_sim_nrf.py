"""The nrf personality (`irqkit sim --board nrf52840-dk`, PCA10056): the nrf port's own
machine.Timer (ports/nrf/modules/machine/timer.c: Timer(id, period=us, mode=, callback=),
start()/stop(), no init(), ONESHOT, ids 0..4, plain-function callbacks only) through
mpremote's transport; MachinePort's timer source on it (failed before its fix: it passed
tick_hz=/hard= and never called start()); `irqkit measure --board nrf52840-dk`."""
from __future__ import annotations

import json
import time

import pytest
from mpremote.transport_serial import SerialTransport

from devrepl import SimPool, ev, fresh_vms

from irqkit_host.boards import load_board
from irqkit_host.simlaunch import BenchClient, micropython_path

BOARD = "nrf52840-dk"
needs_vm = pytest.mark.skipif(micropython_path() is None, reason="micropython VM not installed")
RUNTIMES = [pytest.param("micropython", marks=needs_vm), "cpython"]


@pytest.fixture(scope="module")
def boards():
    """One nrf simulator per runtime, started on first use, shared by this module."""
    pool = SimPool()
    yield lambda runtime: pool.get(BOARD, runtime)
    pool.stop()


@pytest.fixture
def dev(boards):
    """A fresh VM (soft reset) on the nrf personality: dev("micropython")."""
    with fresh_vms(boards) as open_:
        yield open_



def raises(t: SerialTransport, code: str) -> str:
    """'ExcType: message' of what `code` raises on the board ('' if nothing)."""
    out, err = t.exec_raw("try:\n    %s\n    print('OK')\nexcept Exception as e:\n"
                          "    print('%%s: %%s' %% (type(e).__name__, e))\n" % code)
    assert err == b"", err
    s = out.decode().strip()
    return "" if s == "OK" else s


# -- ordinary nrf MicroPython code -----------------------------------------------------------
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_nrf_timer_constructed_then_started_ticks(dev, runtime):
    """Timer(2, period=1000 us, mode=PERIODIC, callback=f) does nothing until start(); then
    about 1000 ticks a second; stop() stops it."""
    b, t = dev(runtime)
    t.exec("""
import machine, time
n = [0]
def tick(tim):
    n[0] += 1
tim = machine.Timer(2, period=1000, mode=machine.Timer.PERIODIC, callback=tick)
time.sleep_ms(100)
before = n[0]
tim.start()
time.sleep_ms(1000)
tim.stop()
count = n[0]
time.sleep_ms(100)
""")
    before, count, after = ev(t, "[before, count, n[0]]")
    print(f"nrf Timer(2, period=1000) on {runtime}: {before} before start(), {count} in 1 s")
    assert before == 0
    assert 500 <= count <= 1100    # loose: it runs, at about the rate asked
    assert after - count <= 1       # stopped (one tick may be in flight at stop())


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_nrf_timer_period_is_us_and_oneshot_fires_once(dev, runtime):
    b, t = dev(runtime)
    t.exec("import machine, time\nn = [0]\ndef tick(tim):\n    n[0] += 1\n"
           "tim = machine.Timer(3, period=1500, mode=machine.Timer.PERIODIC, callback=tick)\n"
           "tim.start()\n")
    with BenchClient(b.bench) as bench:
        assert bench.state()["timer_periods_us"] == [1500]   # period= is in us, exact
    t.exec("tim.stop()\n"
           "one = machine.Timer(4, period=2000, mode=machine.Timer.ONESHOT, callback=tick)\n"
           "n[0] = 0\none.start()\ntime.sleep_ms(200)\n")
    assert ev(t, "n[0]") == 1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_nrf_timer_api_differences_answer_as_on_the_board(dev, runtime):
    """No init(), no ONE_SHOT, no freq=/tick_hz=/hard=, period= keyword-only, no Timer(-1),
    and a bound method is not a function (mp_obj_is_fun)."""
    b, t = dev(runtime)
    t.exec("import machine\ndef f(t):\n    pass\n"
           "class C:\n    def m(self, t):\n        pass\n")
    assert ev(t, "hasattr(machine.Timer, 'init')") is False
    assert raises(t, "machine.Timer(2).init(period=1000)").startswith("AttributeError")
    assert raises(t, "machine.Timer.ONE_SHOT").startswith("AttributeError")
    assert raises(t, "machine.Timer(-1)") == "ValueError: Timer doesn't exist"
    assert raises(t, "machine.Timer(5)") == "ValueError: Timer doesn't exist"
    for kw in ("freq=1000", "tick_hz=1000", "hard=True"):
        assert raises(t, "machine.Timer(2, %s)" % kw) == "TypeError: extra keyword arguments given"
    assert raises(t, "machine.Timer(2, 1000)") == "TypeError: extra positional arguments given"
    assert raises(t, "machine.Timer(2, callback=C().m)") == \
        "ValueError: callback must be a function"
    assert raises(t, "machine.Timer(2, period=1000, callback=f)") == ""


# -- MachinePort on the nrf personality -------------------------------------------------------
def _port_code() -> str:
    args = load_board(BOARD)["firmware"].get("port_args", {})
    return ("from irqkit.ports.machine_port import MachinePort\n"
            "import time\n"
            "class Src:\n"
            "    def __init__(self):\n"
            "        self.n = 0\n"
            "    def isr(self, tim):\n"      # a bound method, as irqkit's TimerSource passes
            "        self.n += 1\n"
            "    def alloc(self, tim):\n"
            "        self.n = [self.n]\n"
            f"port = MachinePort(**{args!r})\n"
            "s = Src()\n")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_machine_port_timer_ticks_on_nrf(dev, runtime):
    """The old MachinePort passed tick_hz=/hard= to the nrf constructor (TypeError, also on
    its soft retry) and never called start(): irqkit's timer source never ran on nrf."""
    b, t = dev(runtime)
    t.exec(_port_code() + "h = port.timer(1000, True, s.isr)\n")
    assert ev(t, "h.mode") == "hard"
    with BenchClient(b.bench) as bench:
        assert bench.state()["timer_periods_us"] == [1000]
    t.exec("time.sleep_ms(500)\nh.deinit()\ncount = s.n\ntime.sleep_ms(50)\n")
    count, after = ev(t, "[count, s.n]")
    print(f"MachinePort timer on nrf ({runtime}): {count} ticks in 0.5 s")
    assert 250 <= count <= 550
    assert after - count <= 1
    with BenchClient(b.bench) as bench:
        assert bench.state()["timer_periods_us"] == []
    # one-shot, and soft (through micropython.schedule)
    t.exec("s.n = 0\nh = port.timer(2000, False, s.isr, hard=False)\ntime.sleep_ms(100)\n")
    assert ev(t, "[h.mode, s.n]") == ["soft", 1]
    t.exec("h.deinit()")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_machine_port_nrf_refuses_what_the_timer_cannot_do(dev, runtime):
    b, t = dev(runtime)
    t.exec(_port_code())
    # 24-bit compare at 1 MHz: 16.78 s would silently wrap to a short period
    assert raises(t, "port.timer(0x1000000, True, s.isr)") == \
        "ValueError: this board's machine.Timer counts 24-bit us: cannot run a 16777216 us period"
    t.exec("port.timer_id = -1")
    assert raises(t, "port.timer(1000, True, s.isr)") == \
        "ValueError: machine.Timer(-1): Timer doesn't exist (set the board file's timer_id)"


@needs_vm
def test_machine_port_nrf_isr_path_does_not_allocate(dev):
    """The trampoline (plain function -> dict lookup -> handler) runs in the hard ISR with the
    heap locked and does not allocate; an allocating handler on the same path fails with
    MicroPython's heap-locked MemoryError (so the heap really is locked there)."""
    b, t = dev("micropython")
    t.exec(_port_code() + "h = port.timer(1000, True, s.isr)\ntime.sleep_ms(200)\nh.deinit()\n")
    assert ev(t, "s.n") > 50
    out, err = t.exec_raw("s.n = 0\nh = port.timer(1000, True, s.alloc)\ntime.sleep_ms(200)\n"
                          "h.deinit()\nprint('ALIVE')\n")
    text = (out + err).decode()
    assert "MemoryError: memory allocation failed, heap is locked" in text, text
    assert "ALIVE" in text


def test_measure_board_nrf_without_a_board(irqkit) -> None:
    """`irqkit measure --board nrf52840-dk` starts the nrf-personality sim (no --port) and
    measures its timer and soft sources with nothing lost."""
    rows = {}
    for source in ("timer", "soft"):
        p = irqkit("measure", "--board", BOARD, "--source", source, "-n", "100", "--no-progress")
        assert p.returncode == 0, p.stderr
        rows.update({ln.split()[0]: ln.split() for ln in p.stdout.splitlines()
                     if ln.split() and ln.split()[0] == source})
    assert set(rows) == {"timer", "soft"}, rows
    assert rows["timer"][1] == "hard" and rows["timer"][2:4] == ["100", "0"], rows
    assert rows["soft"][2:4] == ["100", "0"], rows
