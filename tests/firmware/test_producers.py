# Issue 10, items 1-3: several producers on one source, `with crit:` in an ISR, critical
# sections that hold off soft-mode (scheduled) handlers.
#
# Two producers: a real second thread stands in for the source's ISR (InprocPort.fire runs
# it holding the port's "PRIMASK" lock, as a CPU runs an ISR with the main program
# stopped) while the main loop calls trigger() on the same source and drains it. On the
# MicroPython unix VM the threads run truly in parallel (no GIL), so an unprotected
# read-modify-write of the ring's head or of the shared sequence number loses events.
from irqkit.compat import heap_lock, heap_unlock, HEAP_LOCK_REAL, ticks_us, ticks_ms, ticks_diff, sleep_ms
from irqkit.sched import Scheduler
from irqkit.source import SoftSource, R_OVERFLOW, R_DEFERRED, ST_TRIGGERS
from irqkit.hwsource import TimerSource
from irqkit.critical import Critical
from irqkit.ring import pending
from irqkit.ports.inproc import InprocPort
from fwtest import skip

EACH = 100000    # events per producer
ISR, MAIN = 0, 1  # data word a: which producer made the event


class _Tally:
    def __init__(self, total):
        self.delivered = [0, 0]
        self.seen = bytearray(total)   # one flag per sequence number
        self.dup_seq = 0
        self.bad_seq = 0

    def task(self, ev):
        self.delivered[ev.a] += ev.count
        q = ev.seq
        if q >= len(self.seen):
            self.bad_seq += 1
        elif self.seen[q]:
            self.dup_seq += 1
        else:
            self.seen[q] = 1


class _IsrSide:
    """The interrupt: each fire() is one ISR entry that captures an event (the real
    capture path, as Source.isr does), counting the ones the full ring refused."""

    def __init__(self, port, src):
        self.port = port
        self.src = src
        self.refused = 0
        self.done = 0
        self.handler = self.isr   # bound once, as a port takes it

    def isr(self, arg):
        if not self.src.capture(ticks_us(), ISR, 0):
            self.refused += 1

    def run(self):
        fire = self.port.fire
        h = self.handler
        i = 0
        while i < EACH:
            fire(h)
            i += 1
            if i % 64 == 0:
                sleep_ms(0)   # lets CPython's GIL go to the main thread; a yield on the VM
        self.done = 1


def test_two_producers_one_source_every_event_delivered_or_counted():
    try:
        import _thread
    except ImportError:
        skip("no _thread on this runtime")
    port = InprocPort()
    sched = Scheduler(port)
    tally = _Tally(2 * EACH + 1)
    src = sched.add(SoftSource("shared", tally.task, capacity=16))
    isr = _IsrSide(port, src)
    _thread.start_new_thread(isr.run, ())
    main_refused = 0
    t0 = ticks_ms()
    i = 0
    while i < EACH:
        if not src.trigger(MAIN, i):
            main_refused += 1
        i += 1
        sched.step()
    while not (isr.done and pending(src) == 0):
        if not sched.step():
            sleep_ms(0)
        assert ticks_diff(ticks_ms(), t0) < 300000, "producers did not finish in 300 s"
    sched.run_once()
    overflow = src.ctl[R_OVERFLOW]
    print("two producers: isr delivered %d refused %d, main delivered %d refused %d" % (
        tally.delivered[ISR], isr.refused, tally.delivered[MAIN], main_refused))
    assert tally.delivered[ISR] + isr.refused == EACH
    assert tally.delivered[MAIN] + main_refused == EACH
    assert overflow == isr.refused + main_refused
    assert src.st[ST_TRIGGERS] == 2 * EACH
    assert tally.dup_seq == 0 and tally.bad_seq == 0
    assert sched.seq[0] == 2 * EACH   # one sequence number per event, none reused


# -- `with crit:` allocates nothing ------------------------------------------------------

class _TupleExit(Critical):
    """The old signature, for contrast: `*exc_info` builds a tuple on every `with`."""

    def exit(self, *exc_info):
        Critical.exit(self)

    __exit__ = exit


class _WithRig:
    def __init__(self, crit):
        self.crit = crit

    def body(self):
        with self.crit:
            with self.crit:
                pass


def _locked(fn):
    heap_lock()
    try:
        fn()
    finally:
        heap_unlock()


def test_with_crit_runs_with_the_heap_locked():
    if not HEAP_LOCK_REAL:
        skip("micropython.heap_lock() exists only on MicroPython; this runs on the VM")
    sched = Scheduler(InprocPort())
    rig = _WithRig(sched.crit)
    _locked(rig.body)
    assert sched.crit.entries == 1 and sched.crit.depth == 0


def test_with_crit_tuple_exit_allocates_for_contrast():
    if not HEAP_LOCK_REAL:
        skip("micropython.heap_lock() exists only on MicroPython; this runs on the VM")
    port = InprocPort()
    rig = _WithRig(_TupleExit(port))
    try:
        _locked(rig.body)
    except MemoryError:
        return
    finally:
        if port.owner is not None:   # the failed exit left "PRIMASK" set
            port.enable_irq(0)
    raise AssertionError("exit(self, *exc_info) did not allocate: the lock test proves nothing")


# -- soft-mode handlers are held off by a critical section -------------------------------

class _SoftPort(InprocPort):
    """A soft-IRQ port as on esp32: disable_irq masks nothing that matters to scheduled
    callbacks, which run on the main thread between bytecodes. tick() plays one such
    callback arriving at the moment the test chooses."""

    def timer(self, period_us, periodic, handler, hard=True, priority=None):
        t = InprocPort.timer(self, period_us, periodic, handler, hard, priority)
        t.mode = "soft"
        return t

    def tick(self, t):
        t.handler(t)   # a scheduled callback: not behind the port's lock


def test_soft_mode_handler_inside_critical_section_is_deferred_then_replayed():
    port = _SoftPort()
    sched = Scheduler(port)
    seen = []
    tim = sched.add(TimerSource("tim", lambda ev: seen.append(ev.a), 1000, capacity=8))
    assert tim.mode == "soft"
    t = port.timers[0]
    with sched.crit:
        port.tick(t)      # the handler runs inside our section...
        port.tick(t)
        # ...and must not have touched the ring the section protects
        assert pending(tim) == 0, "a soft-mode handler ran inside a critical section"
    # the outermost exit replayed both; nothing lost, the deferral counted
    assert pending(tim) == 2
    assert tim.ctl[R_DEFERRED] == 2
    sched.run_once()
    assert seen == [1, 1]   # the first parked event's data; the second's occurrence
    port.tick(t)            # outside a section: straight into the ring
    sched.run_once()
    assert seen == [1, 1, 3] and tim.st[ST_TRIGGERS] == 3
