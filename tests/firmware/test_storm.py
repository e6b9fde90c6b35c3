# Storm guard through the in-process port: interrupt -> polling -> interrupt, exact counts.
from irqkit.sched import Scheduler
from irqkit.hwsource import GpioSource
from irqkit.ports.inproc import InprocPort
from irqkit.storm import StormGuard
from irqkit.report import source_stats
from irqkit.compat import sleep_ms, heap_lock, heap_unlock, HEAP_LOCK_REAL
from fwtest import skip

BUDGET = 20
WINDOW_US = 20000
POLL_US = 2000


def _setup():
    port = InprocPort()
    sched = Scheduler(port)
    got = []
    src = sched.add(GpioSource("noisy", lambda ev: got.append(ev.seq), pin="P0",
                               trigger="both", capacity=16))
    g = StormGuard(src, BUDGET, WINDOW_US, POLL_US).attach(sched)
    return port, sched, src, g, got


def _edges(port, n, level):
    for _ in range(n):
        level ^= 1
        port.edge("P0", level)
    return level


def _settle(sched, ms):
    sched.run(until_ms=ms)


def test_storm_switches_to_polling_and_back_with_exact_accounting():
    port, sched, src, g, got = _setup()
    level = 0
    generated = 0
    level = _edges(port, 500, level)   # a storm: 500 edges inside one window
    generated += 500
    _settle(sched, 25)                 # window ends: over budget -> polled
    assert g.mode == "polled" and g.to_polled == 1 and src.mode == "polled"
    level = _edges(port, 1000, level)  # still storming, now counted by the count-only ISR
    generated += 1000
    _settle(sched, 5)
    assert g.mode == "polled"
    _settle(sched, 60)                 # a quiet window -> back to interrupts
    assert g.mode == "irq" and g.to_irq == 1
    level = _edges(port, 3, level)     # interrupt-driven again: delivered one by one
    generated += 3
    sched.run_once()
    st = source_stats(src)
    assert st["delivered"] == len(got)
    assert generated == st["delivered"] + st["overflow"] + st["pending"] + g.seen_polled
    assert g.seen_polled == 1000
    assert st["overflow"] > 0          # the 500-edge burst overran the 16-slot ring


def test_quiet_source_never_demoted():
    port, sched, src, g, got = _setup()
    level = 0
    for _ in range(3):
        level = _edges(port, 5, level)
        _settle(sched, 25)
    assert g.mode == "irq" and g.to_polled == 0 and len(got) == 15


def test_count_only_handler_allocates_nothing():
    if not HEAP_LOCK_REAL:
        skip("micropython.heap_lock() exists only on MicroPython; this runs on the VM")
    port, sched, src, g, got = _setup()
    h = g.count_isr
    heap_lock()
    try:
        for _ in range(10):
            h(None)
    finally:
        heap_unlock()
    assert g.cnt[0] == 10
    heap_lock()
    try:
        try:
            [0, 1]          # the deliberately allocating case: must raise
            raised = False
        except MemoryError:
            raised = True
    finally:
        heap_unlock()
    assert raised


def test_stats_export_the_guard():
    from irqkit.report import stats
    port, sched, src, g, got = _setup()
    _edges(port, 100, 0)
    _settle(sched, 25)
    d = stats(sched)["sources"]["noisy"]["storm"]
    assert d["mode"] == "polled" and d["to_polled"] == 1 and d["to_irq"] == 0
