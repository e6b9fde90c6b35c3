# Fallbacks for runtimes that are not MicroPython (CPython, CircuitPython): what
# irqkit.compat imports when `micropython` / `time.ticks_us` do not exist — and the
# 30-bit ticks for the unix VM, whose own ticks wrap at 2**62. A separate module so that
# small MicroPython boards never compile (or store) this code.
import time as _time

TICKS_MASK = 0x3FFFFFFF


def const(x):
    return x


def heap_lock():
    return 0


def heap_unlock():
    return 0


_now_ns = getattr(_time, "perf_counter_ns", None) or getattr(_time, "monotonic_ns", None)


def ticks_us():
    return (_now_ns() // 1000) & TICKS_MASK


def ticks_ms():
    return (_now_ns() // 1000000) & TICKS_MASK


def ticks_diff(a, b):
    return ((a - b + 0x20000000) & TICKS_MASK) - 0x20000000


def ticks_add(a, delta):
    return (a + delta) & TICKS_MASK


def sleep_us(us):
    _time.sleep(us / 1000000)


def sleep_ms(ms):
    _time.sleep(ms / 1000)


def ticks30(raw_us, raw_ms):
    """30-bit ticks_us/ticks_ms over a runtime's own ticks that wrap later (the unix VM's
    wrap at 2**62): the core keeps timestamps in 32-bit arrays, as every board's fit."""

    def us():
        return raw_us() & TICKS_MASK

    def ms():
        return raw_ms() & TICKS_MASK

    return us, ms


def print_exception(e, file=None):
    """sys.print_exception for CPython: the traceback, printed as MicroPython does."""
    import traceback
    traceback.print_exception(type(e), e, e.__traceback__, file=file)
