# The main-loop scheduler: drains the sources' rings highest priority first, FIFO within
# a priority level (by the sequence number stamped in the ISR), calls each source's task
# with one reusable Event, and idles through the port when nothing is pending.
#
# Masking is done here, at dispatch: a masked source's ISR still runs and records the
# event (bounded by its ring; overflow counted), the task just waits until unmask -- so
# masked interrupts are held pending and replayed in priority order, never lost silently.
# An NMI-like source (nmi=True) ignores every mask.
#
# The micro:bit build (MicroPython 1.9.2, ~9 KB heap) cannot compile this module in one
# piece: host/irqkit_host/smallbuild.py moves step() and run() into a module of their own.
from irqkit.compat import const, COUNTER_MASK, COUNTER_HALF
from irqkit.clock import ticks_us, ticks_diff, ticks_add, array
from irqkit.source import (Event, R_HEAD, R_TAIL, R_MERGED, R_MERGED_SEEN, SLOT_WORDS,
                           SLOT_SEQ, ST_ERRORS, ST_LAT_MAX, ST_DELIVERED, ST_HIST,
                           ST_HIST_LAST)
from irqkit.critical import Critical

NO_MASK = const(-0x40000000)   # mask_below(NO_MASK): no priority level is masked
IDLE_MAX_US = const(100000)    # idle at most 100 ms, so polled sources stay live


class Scheduler:
    # Written only in the main loop (run(), a failing task, report.reset()): class
    # defaults until then, so each scheduler's attribute table stays small.
    errors = 0
    last_error = None          # the exception object of the last failing task
    last_error_source = None
    idles = 0
    show = None    # show(src, e): print a source's first task error (irqkit.schedext)

    def __init__(self, port):
        self.port = port
        self.sources = []          # sorted by priority, highest first (stable)
        self.polled = []
        self.seq = array("i", [0])  # sequence counter shared by every source's ISR
        self.crit = Critical(port)
        self.mask_floor = NO_MASK  # sources with prio < mask_floor are masked
        self.ev = Event()
        # written by step() (dispatched) and stop() (running), both callable with the heap
        # locked: set here, so a later store never grows the attribute table
        self.dispatched = 0
        self.running = False

    def add(self, src):
        """Register a source and install its interrupt through the port. Returns it."""
        src.seq = self.seq
        src.crit = self.crit
        src.wake = self.port.wake  # bound once here: the ISR's wake() then allocates nothing
        f = getattr(src, "install", None)
        if f is not None:  # first: a port that lacks the facility raises, nothing half-added
            f(self.port)
        s = self.sources
        i = 0
        while i < len(s) and s[i].prio >= src.prio:
            i += 1
        s.insert(i, src)
        if src.kind == "polled":
            self.polled.append(src)
        return src

    def remove(self, src):
        """Unregister a source (uninstalling its interrupt first, if it has one)."""
        f = getattr(src, "uninstall", None)
        if f is not None:
            f(self.port)
        self.sources.remove(src)
        if src in self.polled:
            self.polled.remove(src)

    # -- masking (dispatch level) ----------------------------------------------------------
    def mask(self, src):
        src.masked = True

    def unmask(self, src):
        src.masked = False
        self.port.wake()

    def mask_below(self, prio):
        """Hold back every source with priority < prio: level prio itself and above still
        run. Not Cortex-M's BASEPRI = prio, which also holds level prio: this is BASEPRI
        set one level under prio (irqkit's higher number = more urgent). mask_below(NO_MASK)
        releases the level mask."""
        self.mask_floor = prio
        self.port.wake()

    # -- dispatch ---------------------------------------------------------------------------
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

    def run(self, until_ms=None):
        """Dispatch, idling through the port when nothing is pending, until stop() or
        until_ms milliseconds have passed."""
        self.running = True
        end = None if until_ms is None else ticks_add(ticks_us(), until_ms * 1000)
        while self.running:
            if self.step():
                continue
            b = IDLE_MAX_US
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
                self.idles = (self.idles + 1) & COUNTER_MASK
                self.port.idle(b)
        self.running = False

    def run_once(self):
        """Dispatch until nothing deliverable is pending. Returns how many ran."""
        n = 0
        while self.step():
            n += 1
        return n

    def stop(self):
        """Make run() return after the current step (callable from a task or an ISR)."""
        self.running = False
        self.port.wake()


# The first error of a failing task printed (show) and close(): irqkit.schedext. A small
# board's build (micro:bit: no IRQ handlers to detach, no heap for tracebacks) leaves that
# module out; its scheduler then counts task errors only.
try:
    from irqkit.schedext import show, close
    Scheduler.show = show
    Scheduler.close = close
except ImportError:
    pass
