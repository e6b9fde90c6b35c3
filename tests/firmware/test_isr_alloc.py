# Every ISR-side path runs with the heap locked, as a hard IRQ does on a board.
# On the MicroPython VM an allocation raises MemoryError here; on CPython heap_lock does
# not exist, so these tests are skipped there (the VM run is the one that counts).
from irqkit.compat import heap_lock, heap_unlock, HEAP_LOCK_REAL, ticks_us
from irqkit.ring import Ring, POLICY_COUNT, POLICY_COALESCE
from irqkit.source import SoftSource, Event
from irqkit.hwsource import GpioSource, TimerSource, UartSource
from irqkit.sched import Scheduler
from irqkit.report import stats, ring_counters
from irqkit.ports.inproc import InprocPort
from fwtest import skip


def _need_lock():
    if not HEAP_LOCK_REAL:
        skip("micropython.heap_lock() exists only on MicroPython; this runs on the VM")


def _locked(fn):
    """Run fn() with the heap locked; any allocation inside raises MemoryError."""
    heap_lock()
    try:
        fn()
    finally:
        heap_unlock()


def test_ring_put_take_both_policies_without_allocation():
    _need_lock()
    rc = Ring(4, POLICY_COUNT)
    rm = Ring(2, POLICY_COALESCE)
    ev = Event()

    def body():
        i = 0
        while i < 20:        # fills, overflows and merges many times
            rc.put(ticks_us(), i, i, -i)
            rm.put(ticks_us(), i, i, -i)
            i += 1
        rc.take(ev)
        rm.take(ev)

    _locked(body)
    assert ring_counters(rc)["overflow"] == 16
    assert ring_counters(rm)["merged"] == 18


class _Hits:
    def __init__(self):
        self.n = 0

    def task(self, ev):
        self.n += 1          # small-int attribute store: no allocation


class _Rig:
    """Holds everything the locked body touches. A method, not a closure: on MicroPython
    calling a closure over more than a few variables allocates its argument array."""

    def __init__(self):
        self.port = port = InprocPort()
        self.sched = sched = Scheduler(port)
        self.hits = hits = _Hits()
        task = hits.task
        self.soft = sched.add(SoftSource("soft", task, prio=1, capacity=4))
        self.merged = sched.add(SoftSource("merged", task, prio=1, capacity=1,
                                           policy=POLICY_COALESCE))
        self.gpio = sched.add(GpioSource("gpio", task, pin="P0", trigger="both",
                                         debounce_us=1, prio=3))
        self.tim = sched.add(TimerSource("tim", task, period_us=1000, prio=2))
        self.uart = sched.add(UartSource("uart", task, prio=4))
        sched.mask(self.soft)
        self.pin = port.pins["P0"]
        self.timer = port.timers[0]

    def body(self):
        sched = self.sched
        crit = sched.crit
        i = 0
        while i < 10:
            self.soft.trigger(i, 0)     # masked: held pending, then overflow counted
            self.merged.trigger()       # coalesce bookkeeping
            self.gpio.isr(self.pin)     # debounce check + level read + capture
            self.tim.isr(self.timer)
            self.uart.isr(None)
            crit.enter()                # critical sections are used from ISRs too
            crit.enter()
            crit.exit()
            crit.exit()
            i += 1
        while sched.step():             # dispatch + latency histogram: allocation-free too
            pass


def test_sources_isrs_masked_pending_and_dispatch_without_allocation():
    _need_lock()
    rig = _Rig()
    _locked(rig.body)
    st = stats(rig.sched)["sources"]
    assert st["soft"]["pending"] == 4 and st["soft"]["overflow"] == 6
    assert st["merged"]["delivered"] == 10
    assert st["tim"]["delivered"] + st["tim"]["overflow"] == 10
    assert st["gpio"]["triggers"] == 10
    assert rig.hits.n == st["merged"]["taken"] + st["tim"]["taken"] + st["gpio"]["taken"] + st["uart"]["taken"]


def test_an_allocating_handler_does_fail_under_the_lock():
    # The companion check: proves the lock really catches allocation, so the tests above
    # can fail.
    _need_lock()
    sink = []

    def bad_isr():
        sink.append([1, 2, 3])

    try:
        _locked(bad_isr)
    except MemoryError:
        return
    raise AssertionError("allocation under heap_lock did not raise")


def test_bound_method_creation_allocates_so_sources_prebind():
    # Why hardware sources store self.isr = self._edge (etc.) in __init__, and a port takes
    # src.isr once, at install: taking a fresh bound method
    # inside an ISR allocates (calling src.trigger() directly does not: see the rig above).
    _need_lock()
    src = SoftSource("s", None)
    box = [None]

    def take_fresh_bound_method():
        box[0] = src.trigger

    try:
        _locked(take_fresh_bound_method)
    except MemoryError:
        return
    raise AssertionError("expected MemoryError creating a bound method")
