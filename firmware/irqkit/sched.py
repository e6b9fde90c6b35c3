# The main-loop scheduler: drains the sources' rings highest priority first, FIFO within
# a priority level (by the sequence number stamped in the ISR), calls each source's task
# with one reusable Event, and idles through the port when nothing is pending.
#
# Masking is done here, at dispatch: a masked source's ISR still runs and records the
# event (bounded by its ring; overflow counted), the task just waits until unmask — so
# masked interrupts are held pending and replayed in priority order, never lost silently.
# An NMI-like source (nmi=True) ignores every mask.
from irqkit.compat import const, ticks_us, ticks_diff, ticks_add, zeros, wrap, COUNTER_HALF
from irqkit.critical import Critical
from irqkit.ring import SLOT, SEQ_OFS, R_TAIL
from irqkit.source import Event, ST_ERRORS, ST_DELIVERED, ST_LAT_MAX, ST_HIST, HIST_BUCKETS

NO_MASK = const(-0x40000000)   # mask_below(NO_MASK): no priority level is masked
IDLE_MAX_US = const(100000)    # idle at most this long, so polled sources stay live


class Scheduler:
    def __init__(self, port):
        self.port = port
        self.sources = []          # sorted by priority, highest first (stable)
        self.polled = []
        self.seq = zeros("i", 1)   # sequence counter shared by every source's ISR
        self.port_wake = port.wake
        self.crit = Critical(port)
        self.mask_floor = NO_MASK  # sources with prio < mask_floor are masked
        self.ev = Event()
        self.errors = 0
        self.last_error = None     # the exception object of the last failing task
        self.last_error_source = None
        self.dispatched = 0
        self.idles = 0
        self.running = False

    def add(self, src):
        """Register a source and install its interrupt through the port. Returns it."""
        src.id = len(self.sources)
        src.seq = self.seq
        src.wake = self.port_wake
        src.install(self.port)  # first: a port that lacks the facility raises, nothing half-added
        i = 0
        while i < len(self.sources) and self.sources[i].prio >= src.prio:
            i += 1
        self.sources.insert(i, src)
        if src.kind == "polled":
            self.polled.append(src)
        return src

    def remove(self, src):
        """Unregister a source (uninstalling its interrupt first, if it has one)."""
        un = getattr(src, "uninstall", None)
        if un is not None:
            un(self.port)
        self.sources.remove(src)
        if src in self.polled:
            self.polled.remove(src)

    # -- masking (dispatch level) ----------------------------------------------------------
    def mask(self, src):
        src.masked = True

    def unmask(self, src):
        src.masked = False
        self.port_wake()

    def mask_below(self, prio):
        """Hold back every source with priority < prio, like BASEPRI.
        mask_below(NO_MASK) releases the level mask."""
        self.mask_floor = prio
        self.port_wake()

    # -- dispatch ---------------------------------------------------------------------------
    def _pick(self):
        """The next source to serve: the highest priority level with a deliverable
        event; within that level the oldest event (lowest sequence number, wrap-aware)."""
        best = None
        level = 0
        best_seq = 0
        floor = self.mask_floor
        for src in self.sources:
            if best is not None and src.prio != level:
                break
            ring = src.ring
            if ring.ready() and (src.nmi or not (src.masked or src.prio < floor)):
                seq = ring.buf[ring.ctl[R_TAIL] * SLOT + SEQ_OFS]
                if best is None or wrap(seq - best_seq) >= COUNTER_HALF:
                    best = src
                    level = src.prio
                    best_seq = seq
        return best

    def step(self):
        """Poll due sources, then dispatch at most one event. True if one ran."""
        if self.polled:
            now = ticks_us()
            for p in self.polled:
                p.poll(now)
        src = self._pick()
        if src is None:
            return False
        ev = self.ev
        if not src.ring.take(ev):
            return False
        ev.source = src
        t = ticks_us()
        ev.t_task = t
        st = src.st
        # statistics: log2 histogram of ISR -> task latency (no int.bit_length on 1.9)
        us = ticks_diff(t, ev.t_isr)
        if us < 0:
            us = 0
        if us > st[ST_LAT_MAX]:
            st[ST_LAT_MAX] = us
        b = 0
        while us and b < HIST_BUCKETS - 1:
            us >>= 1
            b += 1
        st[ST_HIST + b] = wrap(st[ST_HIST + b] + 1)
        st[ST_DELIVERED] = wrap(st[ST_DELIVERED] + ev.count)
        self.dispatched = wrap(self.dispatched + 1)
        try:
            src.task(ev)
        except Exception as e:  # a failing task is counted and recorded; the loop goes on
            st[ST_ERRORS] = wrap(st[ST_ERRORS] + 1)
            self.errors = wrap(self.errors + 1)
            self.last_error = e
            self.last_error_source = src.name
        return True

    def run_once(self):
        """Dispatch until nothing deliverable is pending. Returns how many ran."""
        n = 0
        while self.step():
            n += 1
        return n

    def run(self, until_ms=None):
        """Dispatch, idling through the port when nothing is pending, until stop() or
        until_ms milliseconds have passed."""
        self.running = True
        deadline = None if until_ms is None else ticks_add(ticks_us(), until_ms * 1000)
        while self.running:
            if self.step():
                continue
            budget = IDLE_MAX_US
            now = ticks_us()
            for p in self.polled:      # wake in time for the next polled check
                left = ticks_diff(p.due, now)
                if left < budget:
                    budget = left
            if deadline is not None:
                left = ticks_diff(deadline, now)
                if left <= 0:
                    break
                if left < budget:
                    budget = left
            if budget > 0:
                self.idles = wrap(self.idles + 1)
                self.port.idle(budget)
        self.running = False

    def stop(self):
        """Make run() return after the current step (callable from a task or an ISR)."""
        self.running = False
        self.port_wake()
