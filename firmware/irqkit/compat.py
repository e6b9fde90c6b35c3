# Compatibility shims: one import point for the few runtime facilities the core needs,
# so the same modules run on MicroPython >= 1.9, CircuitPython and CPython.
#
# Keep this file free of f-strings, walrus and annotations: MicroPython 1.9 parses it too.
# Keep it small: on a 16 KB micro:bit every name and function here costs heap for good.
# The non-MicroPython fallbacks live in irqkit/compat_host.py, which such boards never load.

try:
    from micropython import const
except ImportError:  # CPython, CircuitPython without it
    from irqkit.compat_host import const

try:
    from micropython import heap_lock, heap_unlock
    HEAP_LOCK_REAL = True
except ImportError:  # CPython; Blinka's `micropython` module has only const/native/viper
    from irqkit.compat_host import heap_lock, heap_unlock
    HEAP_LOCK_REAL = False

# Ticks wrap at 2**30 like MicroPython's time.ticks_* (TICKS_PERIOD = 1 << 30).
# A small int on a 32-bit board holds -2**30 .. 2**30-1; anything outside is a big int,
# which allocates (or does not exist). So counters and sequence numbers wrap at 2**29:
# `x + 1` on a value below 2**29 can never leave the small-int range, even before the
# mask is applied. (Masking at 2**30 would compute 2**30 first: one allocation per wrap.)
TICKS_MASK = const(0x3FFFFFFF)
COUNTER_MASK = const(0x1FFFFFFF)
COUNTER_HALF = const(0x10000000)

# ticks_us, ticks_ms, ticks_diff, ticks_add (30-bit everywhere) and array: irqkit/clock.py,
# the part the scheduler core imports (small boards then never load this module).
from irqkit.clock import ticks_us, ticks_ms, ticks_diff, ticks_add, array

try:  # MicroPython
    from time import sleep_us, sleep_ms
except ImportError:
    try:
        from utime import sleep_us, sleep_ms
    except ImportError:  # CPython, CircuitPython
        from irqkit.compat_host import sleep_us, sleep_ms


def wrap(x):
    """Mask a free-running counter to the 29 bits every stored counter uses.
    (The core's ISR paths write `& COUNTER_MASK` inline: one call level less.)"""
    return x & COUNTER_MASK


def zeros(typecode, n):
    """A zero-filled array of n items, built without a temporary list of n objects
    (which would cost 4-8 bytes per item of heap on a small board)."""
    a = array(typecode, range(n))
    for i in range(n):
        a[i] = 0
    return a
