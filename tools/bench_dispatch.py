# Benchmark: one deferred interrupt through irqkit against MicroPython's own deferral
# (micropython.schedule -> callback), measured in one run on the same VM, interleaved,
# medians (with min and max over the rounds). Printed as ratios; nothing asserted.
#
#   micropython tools/bench_dispatch.py [--rounds R] [--events N] [--wakes M]
#
# Both irqkit cases run the app's setup: irqkit.app.App on a bench port (its uart and
# soft sources, the polled Ctrl-C source, its main loop with the serial poll path); the
# soft source's task is swapped for a counter.
#
# 1. dispatch cost, one thread: N times  trigger() -> one loop pass -> task,  against
#    N times  micropython.schedule(cb)  (the VM runs cb at the next bytecode boundary).
#    With irqkit.fastpath (native Source.capture + Scheduler.step) as a third case where
#    the VM has the native emitter.
# 2. latency with the cross-thread wake, what a real interrupt costs: a producer thread
#    stamps t0 and pends the event (irqkit: Source.trigger = capture + port.wake; bare:
#    micropython.schedule + the same wake), while the main thread idles on the same
#    waker the simulator board's idle uses (a socket pair + poll); the task / callback
#    records ticks_us() - t0.
import sys
import time
import _thread

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, _here + "/../firmware")

import gc as _gc
import micropython
from array import array

from irqkit.app import App
from irqkit.ports.inproc import InprocPort
from simboard.runtime import Waker


def _arg(name, default):
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


ROUNDS = _arg("--rounds", 7)
N = _arg("--events", 5000)
M = _arg("--wakes", 300)
GAP_US = 700          # producer pause between wake-latency events


class BenchPort(InprocPort):
    """The in-process port with a real idle: the simulator board's Waker (socket pair +
    poll), woken from the producer thread like the board's hardware threads do.
    disable_irq/enable_irq cost what a board's do: one call of a C builtin (the unix VM
    has no machine.disable_irq; the test port's is a Python re-entrant lock, ~5x the
    rest of capture). Masking is not needed for correctness here: one producer thread,
    and the ring is single-producer/single-consumer by design (source.py)."""
    name = "bench"

    def __init__(self):
        InprocPort.__init__(self)
        self.waker = Waker()
        self.disable_irq = _gc.isenabled   # C, no arguments, returns a value
        self.enable_irq = bool             # C, one argument, no effect

    def serial_read(self, buf):
        # what a board's C readinto costs with nothing waiting (the test port's Python
        # list juggling would otherwise dominate the loop pass)
        if not self.rx:
            return 0
        return InprocPort.serial_read(self, buf)

    def idle(self, timeout_us):
        self.waker.wait(timeout_us)

    def wake(self):
        self.waker.notify()


class Count:
    def __init__(self, n):
        self.n = 0
        self.t0 = array("i", [0] * n)
        self.lat = array("i", [0] * n)

    def task(self, ev):
        self.n += 1

    def cb(self, arg):
        self.n += 1

    def task_lat(self, ev):
        i = ev.a
        self.lat[i] = time.ticks_diff(time.ticks_us(), self.t0[i])
        self.n += 1

    def cb_lat(self, i):
        self.lat[i] = time.ticks_diff(time.ticks_us(), self.t0[i])
        self.n += 1


def _app():
    port = BenchPort()
    app = App(port, board="bench")
    app.running = True
    return port, app


# -- 1. dispatch cost on one thread -----------------------------------------------------------
def cost_irqkit():
    port, app = _app()
    c = Count(1)
    app.soft.task = c.task
    trigger = app.soft.trigger
    poll = app.poll_link
    step = app.sched.step
    t0 = time.ticks_us()
    for i in range(N):
        trigger(i)
        poll()          # one pass of the app's loop: the serial poll path, then dispatch
        step()
    dt = time.ticks_diff(time.ticks_us(), t0)
    assert c.n == N, c.n
    return dt / N


def cost_schedule():
    c = Count(1)
    cb = c.cb
    sch = micropython.schedule
    t0 = time.ticks_us()
    for i in range(N):
        sch(cb, i)
    dt = time.ticks_diff(time.ticks_us(), t0)
    time.sleep_ms(1)
    assert c.n == N, c.n
    return dt / N


# -- 2. latency with the cross-thread wake ----------------------------------------------------
def _producer(c, fire, done):
    t0 = c.t0
    for i in range(M):
        time.sleep_us(GAP_US)
        t0[i] = time.ticks_us()
        fire(i)
    done[0] = 1


def lat_irqkit():
    port, app = _app()
    c = Count(M)
    app.soft.task = c.task_lat
    done = [0]
    src = app.soft
    sched = app.sched

    def fire(i):
        src.trigger(i)

    def stopper(c, done):
        _producer(c, fire, done)
        time.sleep_ms(20)
        sched.stop()

    _thread.start_new_thread(stopper, (c, done))
    app.loop()
    assert c.n == M, c.n
    return _median(c.lat, M)


def lat_schedule():
    c = Count(M)
    w = Waker()
    cb = c.cb_lat
    sch = micropython.schedule
    done = [0]

    def fire(i):
        while True:
            try:
                sch(cb, i)
                break
            except RuntimeError:     # queue full: the main thread was descheduled (load)
                time.sleep_us(100)
                c.t0[i] = time.ticks_us()
        w.notify()

    _thread.start_new_thread(_producer, (c, fire, done))
    while not done[0] or c.n < M:
        w.wait(100000)
    assert c.n == M, c.n
    return _median(c.lat, M)


try:
    from irqkit import fastpath
except (ImportError, SyntaxError):   # no native emitter on this VM
    fastpath = None


def _native(fn):
    """fn run with irqkit.fastpath's native capture + step installed."""
    def run():
        fastpath.install()
        try:
            return fn()
        finally:
            fastpath.uninstall()
    return run


def _median(a, n):
    v = sorted(a[i] for i in range(n))
    return v[n // 2]


def _stats(v):
    v = sorted(v)
    return v[len(v) // 2], v[0], v[-1]


def _fmt(name, v, base=None):
    med, lo, hi = _stats(v)
    s = "  %-38s %8.2f us  (min %.2f, max %.2f)" % (name, med, lo, hi)
    if base is not None:
        s += "  %5.1fx" % (med / base)
    return s


def main():
    if sys.implementation.name != "micropython":
        print("run this on the MicroPython VM: micropython tools/bench_dispatch.py")
        return
    cases = [("sched", cost_schedule), ("irqkit", cost_irqkit)]
    lats = [("sched", lat_schedule), ("irqkit", lat_irqkit)]
    if fastpath is not None:
        cases.append(("native", _native(cost_irqkit)))
        lats.append(("native", _native(lat_irqkit)))
    res = {}
    for r in range(ROUNDS):
        order = cases if r % 2 == 0 else cases[::-1]     # interleaved, alternating order
        for name, fn in order:
            res.setdefault("c_" + name, []).append(fn())
        order = lats if r % 2 == 0 else lats[::-1]
        for name, fn in order:
            res.setdefault("l_" + name, []).append(fn())
    ver = ".".join(str(x) for x in sys.implementation.version[:3])
    print("MicroPython %s, %d interleaved rounds; medians over rounds (min, max); the app's"
          " setup (codec %s)" % (ver, ROUNDS, _codec()))
    print("1. dispatch cost, one thread, per event (%d events a round):" % N)
    base = _stats(res["c_sched"])[0]
    print(_fmt("micropython.schedule -> cb", res["c_sched"]) + "  (baseline)")
    print(_fmt("irqkit trigger -> loop pass -> task", res["c_irqkit"], base))
    if "c_native" in res:
        print(_fmt("  the same, native capture + step", res["c_native"], base))
    print("2. latency, producer thread -> task start, cross-thread wake included")
    print("   (median of %d events a round, %d us apart):" % (M, GAP_US))
    base = _stats(res["l_sched"])[0]
    print(_fmt("micropython.schedule + wake -> cb", res["l_sched"]) + "  (baseline)")
    print(_fmt("irqkit trigger (capture+wake) -> task", res["l_irqkit"], base))
    if "l_native" in res:
        print(_fmt("  the same, native capture + step", res["l_native"], base))
    if fastpath is None:
        print("(no native emitter on this VM: the fast path was not measured)")


def _codec():
    from irqkit import frame
    return frame.CODEC


main()
