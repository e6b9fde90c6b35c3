# The deferral fast path (issue 12.6): Source.capture (the ISR side) and Scheduler.step
# (the dispatch step) compiled by MicroPython's native emitter where the port has it.
# The bodies are verbatim copies of the plain-Python methods in source.py and sched.py
# (tests/host/test_fastpath_copies.py fails when they differ); install() puts them on the
# classes, and the plain code stays the fallback (MicroPython 1.9, CircuitPython builds
# without the emitter, CPython). tests/firmware/test_fastpath.py runs capture and step
# under micropython.heap_lock() on both paths.
import sys

if sys.implementation.name != "micropython":
    raise ImportError("the native fast path needs the MicroPython VM")

import micropython

from irqkit.compat import const
from irqkit.clock import ticks_us, ticks_diff

# the constants the two methods use, inlined by the compiler as in source.py / sched.py
# (the same values: tests/host/test_fastpath_copies.py compares them)
COUNTER_MASK = const(0x1FFFFFFF)
COUNTER_HALF = const(0x10000000)
R_HEAD = const(0)
R_TAIL = const(1)
R_PUT = const(2)
R_OVERFLOW = const(3)
R_MERGED = const(4)
R_MERGED_SEEN = const(7)
R_HWM = const(5)
SLOT_WORDS = const(4)
SLOT_T = const(0)
SLOT_SEQ = const(1)
SLOT_A = const(2)
SLOT_B = const(3)
ST_TRIGGERS = const(0)
ST_ERRORS = const(2)
ST_LAT_MAX = const(3)
ST_DELIVERED = const(4)
ST_HIST = const(5)
ST_HIST_LAST = const(28)
POLICY_COALESCE = const(1)

MODE = "native"


@micropython.native
def capture(self, t, a, b):
    """Record one event at time t with data words a, b (small ints): count it, stamp
    the next sequence number, store it in the ring, wake the main loop. A masked
    producer section, so safe from any context. Returns True if stored, False if
    dropped or merged. Call it only after Scheduler.add (seq, wake, crit)."""
    g = self.crit
    state = g.port.disable_irq()
    g.depth += 1      # holds off soft-mode ISRs too (they defer: hwsource.HwSource)
    c = self.ctl
    st = self.st
    st[ST_TRIGGERS] = (st[ST_TRIGGERS] + 1) & COUNTER_MASK
    s = self.seq
    n = s[0]
    s[0] = (n + 1) & COUNTER_MASK
    h = c[R_HEAD]
    i = h + 1
    if i == self.nslots:
        i = 0
    if i == c[R_TAIL]:
        i = R_MERGED if self.policy == POLICY_COALESCE else R_OVERFLOW
        c[i] = (c[i] + 1) & COUNTER_MASK
        stored = False
    else:
        h *= SLOT_WORDS
        s = self.buf
        s[h + SLOT_T] = t
        s[h + SLOT_SEQ] = n
        s[h + SLOT_A] = a
        s[h + SLOT_B] = b
        c[R_HEAD] = i  # publish: the slot is complete before HEAD moves
        c[R_PUT] = (c[R_PUT] + 1) & COUNTER_MASK
        i -= c[R_TAIL]
        if i < 0:
            i += self.nslots
        if i > c[R_HWM]:
            c[R_HWM] = i
        stored = True
    g.depth -= 1
    g.port.enable_irq(state)
    if g.pending is not None and not g.depth:
        g.replay(g)   # a soft-mode ISR deferred while we held the section
    self.wake()
    return stored


@micropython.native
def step(self):
    """Poll due sources, then dispatch at most one event. True if one ran."""
    if self.polled:
        now = ticks_us()
        for p in self.polled:
            p.poll(now)
    # The source to serve: the highest priority level with a deliverable event;
    # within that level the oldest event (lowest sequence number, wrap-aware).
    # Inline rather than a method: one call level less.
    src = None
    best = 0
    floor = self.mask_floor
    for s in self.sources:
        if src is not None and s.prio != src.prio:
            break
        c = s.ctl
        # ready (a waiting event, or merges not yet handed out) and not masked
        if (c[R_HEAD] != c[R_TAIL] or c[R_MERGED] != c[R_MERGED_SEEN]) and (
                s.nmi or not (s.masked or s.prio < floor)):
            n = s.buf[c[R_TAIL] * SLOT_WORDS + SLOT_SEQ]
            if src is None or ((n - best) & COUNTER_MASK) >= COUNTER_HALF:
                src = s
                best = n
    if src is None:
        return False
    ev = self.ev
    if not src.take(ev):
        return False
    ev.source = src
    n = ticks_us()
    ev.t_task = n
    s = src.st
    # statistics: log2 histogram of ISR -> task latency (no int.bit_length on 1.9)
    n = ticks_diff(n, ev.t_isr)
    if n < 0:
        n = 0
    if n > s[ST_LAT_MAX]:
        s[ST_LAT_MAX] = n
    b = ST_HIST
    while n and b < ST_HIST_LAST:
        n >>= 1
        b += 1
    s[b] = (s[b] + 1) & COUNTER_MASK
    s[ST_DELIVERED] = (s[ST_DELIVERED] + ev.count) & COUNTER_MASK
    self.dispatched = (self.dispatched + 1) & COUNTER_MASK
    try:
        src.task(ev)
    except Exception as e:  # a failing task is counted and recorded; the loop goes on
        s[ST_ERRORS] = (s[ST_ERRORS] + 1) & COUNTER_MASK
        self.errors = (self.errors + 1) & COUNTER_MASK
        self.last_error = e
        self.last_error_source = src.name
        if s[ST_ERRORS] == 1 and self.show is not None:   # its first one printed
            self.show(src, e)
    return True


def install():
    """Put the native capture and step on Source and Scheduler (every instance, also
    those made before). Returns MODE."""
    from irqkit.source import Source
    from irqkit.sched import Scheduler
    Source.capture = capture
    Scheduler.step = step
    return MODE


def uninstall():
    """Back to the plain-Python methods (benchmarks and tests compare both)."""
    from irqkit.source import Source
    from irqkit.sched import Scheduler
    Source.capture = PLAIN[0]
    Scheduler.step = PLAIN[1]


def _plain():
    from irqkit.source import Source
    from irqkit.sched import Scheduler
    return (Source.capture, Scheduler.step)


PLAIN = _plain()   # taken at import, before any install()


@micropython.native
def _alloc_check(sink):
    """Allocates (a list): tests/firmware/test_fastpath.py proves the heap lock catches
    allocation in native code too, so its allocation-free cases can fail."""
    sink.append([1, 2, 3])
