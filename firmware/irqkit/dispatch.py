# The scheduler's loop: step() and run(), the methods Scheduler takes from here (`self`
# is the Scheduler), and its critical sections (Critical, also irqkit.critical). Apart
# from sched.py because MicroPython 1.9.2 on the micro:bit cannot compile the whole
# scheduler in one piece within its ~9 KB heap; Critical lives here rather than in a
# module of its own because each module costs that heap ~100-150 B more. Word indices
# are plain numbers (see source.py): ctl 0 head, 1 tail, 4 merged, 7 merged handed out;
# slot i at buf[4*i], its seq at +1; st 2 errors, 3 max latency, 4 delivered, 5..28 the
# histogram. 0x1FFFFFFF is compat.COUNTER_MASK, 0x10000000 half of it plus one.
from irqkit.clock import ticks_us, ticks_diff, ticks_add


def step(self):
    """Poll due sources, then dispatch at most one event. True if one ran."""
    if self.polled:
        now = ticks_us()
        for p in self.polled:
            p.poll(now)
    # Pick the source to serve (inline, not a method: one call level less): the
    # highest priority level with a deliverable event; within that level the oldest
    # event (lowest sequence number, wrap-aware).
    src = None
    best = 0
    floor = self.mask_floor
    for s in self.sources:
        if src is not None and s.prio != src.prio:
            break
        c = s.ctl
        # ready (a waiting event, or merges not yet handed out) and not masked
        if (c[0] != c[1] or c[4] != c[7]) and (s.nmi or not (s.masked or s.prio < floor)):
            n = s.buf[c[1] * 4 + 1]
            if src is None or ((n - best) & 0x1FFFFFFF) >= 0x10000000:
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
    if n > s[3]:
        s[3] = n
    b = 5
    while n and b < 28:
        n >>= 1
        b += 1
    s[b] = (s[b] + 1) & 0x1FFFFFFF
    s[4] = (s[4] + ev.count) & 0x1FFFFFFF
    self.dispatched = (self.dispatched + 1) & 0x1FFFFFFF
    try:
        src.task(ev)
    except Exception as e:  # a failing task is counted and recorded; the loop goes on
        s[2] = (s[2] + 1) & 0x1FFFFFFF
        self.errors = (self.errors + 1) & 0x1FFFFFFF
        self.last_error = e
        self.last_error_source = src.name
    return True


def run(self, until_ms=None):
    """Dispatch, idling through the port when nothing is pending, until stop() or
    until_ms milliseconds have passed."""
    self.running = True
    end = None if until_ms is None else ticks_add(ticks_us(), until_ms * 1000)
    while self.running:
        if step(self):
            continue
        b = 100000  # idle at most 100 ms, so polled sources stay live
        now = ticks_us()
        for p in self.polled:      # wake in time for the next polled check
            n = ticks_diff(p.due, now)
            if n < b:
                b = n
        if end is not None:
            n = ticks_diff(end, now)
            if n <= 0:
                break
            if n < b:
                b = n
        if b > 0:
            self.idles = (self.idles + 1) & 0x1FFFFFFF
            self.port.idle(b)
    self.running = False


# -- Critical sections over the port's disable_irq/enable_irq, nestable, and timed: the
# longest time interrupts were held off is the biggest single contributor to interrupt
# latency, so it is measured on every outermost exit and kept as `max_us`.
# (NMI handlers must not use them: an NMI can preempt a section that is in progress.)
#
# Use `with crit:` or the pair crit.enter() / crit.exit(). Calling a method directly
# (crit.enter()) does not allocate on MicroPython, so the pair is ISR-safe as it is;
# only *taking* crit.enter as a value would build a bound method.
class Critical:
    def __init__(self, port):
        self.port = port
        self.depth = 0
        self.state = 0       # what disable_irq returned at the outermost enter
        self.t0 = 0
        self.max_us = 0      # longest outermost critical section, us
        self.entries = 0     # outermost critical sections entered

    def enter(self):
        state = self.port.disable_irq()
        # Interrupts are off from here: the depth and timestamps below cannot race.
        if self.depth == 0:
            self.state = state
            self.t0 = ticks_us()
        self.depth += 1
        return self

    def exit(self, *exc_info):  # with: (type, value, traceback); called alone: none
        depth = self.depth - 1
        if depth < 0:
            raise RuntimeError("critical exit without enter")
        self.depth = depth
        if depth == 0:
            dt = ticks_diff(ticks_us(), self.t0)
            if dt > self.max_us:
                self.max_us = dt
            self.entries = (self.entries + 1) & 0x1FFFFFFF  # compat.COUNTER_MASK
            # Measure before re-enabling: a pending ISR runs the moment we enable.
            self.port.enable_irq(self.state)
        # Inner exits leave interrupts off: the outermost exit restores them.
        # (Returns None: an exception inside `with` propagates.)

    # The context manager is the same pair: two names, no extra functions or call level.
    __enter__ = enter
    __exit__ = exit
