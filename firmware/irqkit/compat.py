# Compatibility shims: one import point for the few runtime facilities the core needs,
# so the same modules run on MicroPython >= 1.9, CircuitPython and CPython.
#
# Keep this file free of f-strings, walrus and annotations: MicroPython 1.9 parses it too.

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

try:
    import micropython as _mp
except ImportError:
    _mp = None

# Blinka ships a `micropython` module with only const/native/viper, so look each one up.
heap_lock = getattr(_mp, "heap_lock", None)
heap_unlock = getattr(_mp, "heap_unlock", None)
HEAP_LOCK_REAL = heap_lock is not None
if heap_lock is None:
    def heap_lock():
        return 0

    def heap_unlock():
        return 0

# Ticks wrap at 2**30 like MicroPython's time.ticks_* (TICKS_PERIOD = 1 << 30).
# A small int on a 32-bit board holds -2**30 .. 2**30-1; anything outside is a big int,
# which allocates (or does not exist). So counters and sequence numbers wrap at 2**29:
# `x + 1` on a value below 2**29 can never leave the small-int range, even before the
# mask is applied. (Masking at 2**30 would compute 2**30 first: one allocation per wrap.)
TICKS_MASK = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)
COUNTER_MASK = const(0x1FFFFFFF)
COUNTER_HALF = const(0x10000000)

try:
    from time import ticks_us, ticks_ms, ticks_diff, ticks_add
except ImportError:
    try:
        from utime import ticks_us, ticks_ms, ticks_diff, ticks_add
    except ImportError:
        try:
            from utime import ticks_us, ticks_ms, ticks_diff
            ticks_add = None
        except ImportError:
            ticks_us = None
    if ticks_us is None or ticks_add is None:
        if ticks_us is None:
            import time as _time

            if hasattr(_time, "perf_counter_ns"):  # CPython
                _now_ns = _time.perf_counter_ns
            else:  # CircuitPython
                _now_ns = _time.monotonic_ns

            def ticks_us():
                return (_now_ns() // 1000) & TICKS_MASK

            def ticks_ms():
                return (_now_ns() // 1000000) & TICKS_MASK

            def ticks_diff(a, b):
                return ((a - b + _TICKS_HALF) & TICKS_MASK) - _TICKS_HALF

        def ticks_add(a, delta):
            return (a + delta) & TICKS_MASK


def wrap(x):
    """Mask a free-running counter to the 29 bits every stored counter uses."""
    return x & COUNTER_MASK


try:
    from array import array
except ImportError:  # very old ports call it uarray
    from uarray import array


def zeros(typecode, n):
    """A zero-filled array of n items, built without a temporary list of n objects
    (which would cost 4-8 bytes per item of heap on a small board)."""
    a = array(typecode, range(n))
    for i in range(n):
        a[i] = 0
    return a

try:
    from time import sleep_us, sleep_ms
except ImportError:
    try:
        from utime import sleep_us, sleep_ms
    except ImportError:  # CPython, CircuitPython
        import time as _time2

        def sleep_us(us):
            _time2.sleep(us / 1000000)

        def sleep_ms(ms):
            _time2.sleep(ms / 1000)
