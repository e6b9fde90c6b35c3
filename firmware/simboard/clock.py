# The board's clock and heap lock. irqkit.compat has the same facts for the core, but the
# ROM must not import the package users deploy (see __init__), hence this small copy.
# 30-bit ticks like every MicroPython board: the unix VM's own wrap at 2**62.
import sys

TICKS_MASK = 0x3FFFFFFF
_HALF = 0x20000000
MP = sys.implementation.name == "micropython"

if MP:
    import time as _t
    import micropython as _mp

    heap_lock = _mp.heap_lock
    heap_unlock = _mp.heap_unlock
    HEAP_LOCK_REAL = True
    _raw_us = _t.ticks_us

    def ticks_us():
        return _raw_us() & TICKS_MASK
else:
    import time as _t

    HEAP_LOCK_REAL = False

    def heap_lock():
        return 0

    def heap_unlock():
        return 0

    _ns = _t.perf_counter_ns

    def ticks_us():
        return (_ns() // 1000) & TICKS_MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & TICKS_MASK) - _HALF


def ticks_add(a, d):
    return (a + d) & TICKS_MASK
