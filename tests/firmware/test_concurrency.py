# A real second thread plays the hardware: it fires 100 000 software interrupts in bursts
# while the main thread runs the scheduler. On the MicroPython unix VM threads run truly
# in parallel (no GIL), so this exercises the ring's lock-free write order for real.
# Accounting must be exact: produced == delivered + overflow.
from irqkit.sched import Scheduler
from irqkit.report import source_stats
from irqkit.source import SoftSource
from irqkit.ring import pending
from irqkit.ports.inproc import InprocPort
from irqkit.compat import sleep_ms, ticks_ms, ticks_diff
from fwtest import skip, ON_MICROPYTHON

TOTAL = 100000


class _Counter:
    def __init__(self):
        self.n = 0
        self.last = -1
        self.out_of_order = 0

    def task(self, ev):
        self.n += ev.count
        if ev.a <= self.last:
            self.out_of_order += 1
        self.last = ev.a


def _produce(src, burst, wait_drained, state):
    i = 0
    trigger = src.trigger
    ring = src.ring
    while i < TOTAL:
        k = 0
        while k < burst and i < TOTAL:
            trigger(i)
            i += 1
            k += 1
        if wait_drained:
            # a well-sized system: the next burst comes after the consumer caught up
            while pending(ring):
                sleep_ms(0)   # lets CPython's GIL go to the consumer; a yield on the VM
    state[0] = 1


def _run(capacity, burst, wait_drained):
    try:
        import _thread
    except ImportError:
        skip("no _thread on this runtime")
    port = InprocPort()
    sched = Scheduler(port)
    c = _Counter()
    src = sched.add(SoftSource("hw", c.task, capacity=capacity))
    state = [0]
    _thread.start_new_thread(_produce, (src, burst, wait_drained, state))
    t0 = ticks_ms()
    while True:
        done = state[0]
        if not sched.step():
            if done and not pending(src):  # POLICY_COUNT: no merges to wait for
                break
            port.idle(50)
        if ticks_diff(ticks_ms(), t0) > 120000:
            raise AssertionError("producer/consumer did not finish in 120 s")
    st = source_stats(src)
    assert st["triggers"] == TOTAL
    assert c.n == st["delivered"]
    assert TOTAL == st["delivered"] + st["overflow"], st
    assert c.out_of_order == 0
    return st


def test_capacity_8_bursts_of_64_accounting_is_exact():
    st = _run(8, 64, False)
    print("capacity 8, bursts of 64: delivered %d overflow %d hwm %d" % (
        st["delivered"], st["overflow"], st["hwm"]))
    assert st["hwm"] <= 8


def test_capacity_256_bursts_of_64_loses_nothing():
    st = _run(256, 64, True)
    assert st["overflow"] == 0 and st["delivered"] == TOTAL


def test_capacity_8_bursts_of_8_loses_nothing():
    st = _run(8, 8, True)
    assert st["overflow"] == 0 and st["delivered"] == TOTAL


def test_reference_micropython_schedule_drops_a_burst():
    # For comparison only: micropython.schedule from a thread has a fixed 4/8-deep queue;
    # a burst of 64 is refused past it (RuntimeError) — irqkit's rings are the remedy.
    if not ON_MICROPYTHON:
        skip("micropython.schedule exists only on MicroPython")
    import micropython
    import _thread
    got = [0, 0, 0]   # accepted, refused, ran

    def cb(_):
        got[2] += 1

    def burst():
        for _ in range(64):
            try:
                micropython.schedule(cb, None)
                got[0] += 1
            except RuntimeError:
                got[1] += 1
        got.append(1)

    _thread.start_new_thread(burst, ())
    while len(got) < 4:
        sleep_ms(1)
    print("micropython.schedule from a thread: accepted %d of 64, refused %d" % (got[0], got[1]))
    assert got[0] + got[1] == 64 and got[1] > 0
