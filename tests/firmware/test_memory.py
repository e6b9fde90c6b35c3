# Heap cost of the core: import it from source and build one scheduler with 4 sources
# holding 64 ring slots between them. README quotes the figure. The goal is <= 8 KB on a
# 32-bit board; this 64-bit VM doubles every pointer, so the guard here is a regression
# bound, and the 32-bit figure comes from the QEMU micro:bit run.
import gc
import sys
from fwtest import skip, ON_MICROPYTHON

CORE = ("irqkit", "irqkit.clock", "irqkit.compat", "irqkit.ring", "irqkit.source", "irqkit.critical",
        "irqkit.sched")
GOAL_BYTES = 8 * 1024          # on a 32-bit board
VM64_BOUND_BYTES = 20 * 1024   # regression guard on the 64-bit VM


class _MinimalPort:
    """What a board port costs at least: the four calls the core makes."""

    def disable_irq(self):
        return 0

    def enable_irq(self, state):
        pass

    def wake(self):
        pass

    def idle(self, us):
        pass


def _forget_core():
    for name in CORE:
        if name in sys.modules:
            del sys.modules[name]


def _build(slots_each):
    from irqkit.sched import Scheduler
    from irqkit.source import SoftSource

    def task(ev):
        pass

    sched = Scheduler(_MinimalPort())
    for i in range(4):
        sched.add(SoftSource("s%d" % i, task, prio=i, capacity=slots_each))
    return sched


def _growth(slots_each):
    _forget_core()
    gc.collect()
    before = gc.mem_alloc()
    sched = _build(slots_each)
    gc.collect()
    used = gc.mem_alloc() - before
    assert sched.sources  # keep it alive until measured
    return used


def _build_only(slots_each):
    gc.collect()
    before = gc.mem_alloc()
    sched = _build(slots_each)
    gc.collect()
    used = gc.mem_alloc() - before
    assert sched.sources
    return used


def test_core_heap_footprint():
    if not ON_MICROPYTHON:
        skip("gc.mem_alloc() is MicroPython's; CPython object sizes say nothing about a board")
    total = _growth(16)         # import + scheduler + 4 sources x 16 slots = 64 slots
    data16 = _build_only(16)    # the objects alone (code already imported)
    data64 = _build_only(64)    # 4 sources x 64 slots
    print("heap growth: import core + scheduler + 4 sources (64 slots): %d bytes, of which "
          "objects %d bytes; objects with 64 slots per source: %d bytes (%s-bit VM)" % (
              total, data16, data64, "64" if sys.maxsize > 2**32 else "32"))
    assert data64 > data16 > 0
    bound = VM64_BOUND_BYTES if sys.maxsize > 2**32 else GOAL_BYTES
    assert total <= bound, "core footprint %d B > %d B" % (total, bound)
