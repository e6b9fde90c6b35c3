# The runtime facilities the scheduler core itself needs (ticks, array) and nothing else:
# the micro:bit (MicroPython 1.9.2) compiles every module into its ~9 KB heap, where each
# name and function costs for good, so the core imports these from here. Applications
# import them (and the rest: const, heap_lock, sleep_*, wrap, zeros) from irqkit.compat,
# which re-exports these. MicroPython 1.9 syntax only.
try:  # MicroPython (every version since 1.9 has all four)
    from time import ticks_us, ticks_ms, ticks_diff, ticks_add
except ImportError:
    try:  # MicroPython builds whose `time` is only reachable as `utime`
        from utime import ticks_us, ticks_ms, ticks_diff, ticks_add
    except ImportError:  # CPython, CircuitPython: emulated on a nanosecond clock
        from irqkit.compat_host import ticks_us, ticks_ms, ticks_diff, ticks_add

if ticks_add(0, -1) != 0x3FFFFFFF:  # compat.TICKS_MASK: boards' ticks wrap at 2**30
    # The unix VM's ticks wrap at 2**62; the core stores timestamps in 32-bit arrays.
    # Give it 30-bit ticks like a board's.
    from irqkit import compat_host as _host
    ticks_us, ticks_ms = _host.ticks30(ticks_us, ticks_ms)
    ticks_diff = _host.ticks_diff
    ticks_add = _host.ticks_add

try:
    from array import array
except ImportError:  # very old ports call it uarray
    from uarray import array
