# Benchmark: cost of one deferred interrupt through irqkit (ISR capture -> scheduler ->
# task) against MicroPython's own deferral (micropython.schedule -> callback), in one run
# on the same VM. Printed as ratios; nothing asserted (the machine is shared and noisy).
#
#   micropython tools/bench_dispatch.py [N]
#
# Both paths are driven from the main thread so the comparison is about the deferral
# machinery itself: irqkit's put+pick+take+histogram versus the VM's scheduler queue.
import sys
import time

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, _here + "/../firmware")

from irqkit.sched import Scheduler
from irqkit.source import SoftSource
from irqkit.ports.inproc import InprocPort

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
REPEATS = 5


class Count:
    def __init__(self):
        self.n = 0

    def task(self, ev):
        self.n += 1

    def cb(self, arg):
        self.n += 1


def bench_irqkit():
    c = Count()
    sched = Scheduler(InprocPort())
    src = sched.add(SoftSource("s", c.task, capacity=4))
    trigger = src.trigger
    step = sched.step
    t0 = time.ticks_us()
    for i in range(N):
        trigger(i)
        step()
    dt = time.ticks_diff(time.ticks_us(), t0)
    assert c.n == N
    return dt / N


def bench_schedule():
    import micropython
    c = Count()
    cb = c.cb
    t0 = time.ticks_us()
    for i in range(N):
        micropython.schedule(cb, i)
        # the VM runs scheduled callbacks at the next bytecode boundary of the loop
    dt = time.ticks_diff(time.ticks_us(), t0)
    time.sleep_ms(1)
    assert c.n == N, c.n
    return dt / N


def bench_call():
    c = Count()
    task = c.task
    t0 = time.ticks_us()
    for i in range(N):
        task(None)
    return time.ticks_diff(time.ticks_us(), t0) / N


def best(fn):
    return min(fn() for _ in range(REPEATS))


def main():
    if sys.implementation.name != "micropython":
        print("run this on the MicroPython VM: micropython tools/bench_dispatch.py")
        return
    call = best(bench_call)
    sch = best(bench_schedule)
    irq = best(bench_irqkit)
    print("per event, best of %d runs of %d events (MicroPython %s):" % (
        REPEATS, N, ".".join(str(x) for x in sys.implementation.version[:3])))
    print("  plain call of the task        %7.2f us" % call)
    print("  micropython.schedule -> cb    %7.2f us  (baseline)" % sch)
    print("  irqkit trigger -> step -> task %6.2f us  ratio %.2fx of baseline" % (irq, irq / sch))
    print("irqkit buys: priorities, FIFO across sources, masking with replay, per-source")
    print("capacity/overflow counters, latency histogram; schedule's queue is 4-8 deep.")


main()
