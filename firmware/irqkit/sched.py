# The main-loop scheduler: drains the sources' rings highest priority first, FIFO within
# a priority level (by the sequence number stamped in the ISR), calls each source's task
# with one reusable Event, and idles through the port when nothing is pending.
#
# Masking is done here, at dispatch: a masked source's ISR still runs and records the
# event (bounded by its ring; overflow counted), the task just waits until unmask — so
# masked interrupts are held pending and replayed in priority order, never lost silently.
# An NMI-like source (nmi=True) ignores every mask.
from irqkit.compat import const, ticks_us, ticks_diff, ticks_add, zeros, wrap
from irqkit.critical import Critical
from irqkit.source import Event, ST_ERRORS, ST_DELIVERED

NO_LEVEL_MASK = const(-0x40000000)  # mask_below() floor meaning "nothing masked"
IDLE_MAX_US = const(100000)        # idle at most this long, so polled sources stay live


class Scheduler:
    def __init__(self, port):
        self.port = port
        self.sources = []          # sorted by priority, highest first (stable)
        self.seq = zeros("i", 1)   # sequence counter shared by every source's ISR
        self.port_wake = port.wake
        self.crit = Critical(port)
        self.mask_floor = NO_LEVEL_MASK  # sources with prio < mask_floor are masked
        self.ev = Event()
        self.errors = 0
        self.last_error = None     # the exception object of the last failing task
        self.last_error_source = None
        self.dispatched = 0
        self.idles = 0
        self.polled = []
        self._running = False

    # -- setup ------------------------------------------------------------------------------
    def add(self, src):
        """Register a source (and install its interrupt through the port). Returns it."""
        src.id = len(self.sources)
        i = 0
        while i < len(self.sources) and self.sources[i].prio >= src.prio:
            i += 1
        self.sources.insert(i, src)
        if src.kind == "polled":
            self.polled.append(src)
        src.attach(self)
        return src

    def remove(self, src):
        src.uninstall(self.port)
        self.sources.remove(src)
        if src in self.polled:
            self.polled.remove(src)

    def source(self, name):
        for s in self.sources:
            if s.name == name:
                return s
        return None

    # -- masking (dispatch level, BASEPRI-like) ----------------------------------------------
    def mask(self, src):
        src.masked = True

    def unmask(self, src):
        src.masked = False
        self.port_wake()

    def mask_below(self, prio):
        """Hold back every source whose priority is below prio (like BASEPRI)."""
        self.mask_floor = prio

    def unmask_all_levels(self):
        self.mask_floor = NO_LEVEL_MASK
        self.port_wake()

    def is_masked(self, src):
        if src.nmi:
            return False
        return src.masked or src.prio < self.mask_floor

    # -- dispatch ---------------------------------------------------------------------------
    def _pick(self):
        """The next source to serve: highest priority level with a deliverable event;
        within that level, the oldest event (lowest sequence number, wrap-aware)."""
        best = None
        level = 0
        best_seq = 0
        for src in self.sources:
            if best is not None and src.prio != level:
                break
            if src.ring.ready() and not self.is_masked(src):
                seq = src.ring.head_seq()
                if best is None or ((seq - best_seq) & 0x3FFFFFFF) >= 0x20000000:
                    best = src
                    level = src.prio
                    best_seq = seq
        return best

    def step(self):
        """Poll due sources, then dispatch at most one event. True if one ran."""
        if self.polled:
            self._poll()
        src = self._pick()
        if src is None:
            return False
        ev = self.ev
        if not src.ring.take(ev):
            return False
        ev.source = src
        t = ticks_us()
        ev.t_task = t
        src.record_latency(ticks_diff(t, ev.t_isr))
        src.st[ST_DELIVERED] = wrap(src.st[ST_DELIVERED] + ev.count)
        self.dispatched = wrap(self.dispatched + 1)
        try:
            src.task(ev)
        except Exception as e:  # a failing task is counted and recorded; the loop goes on
            src.st[ST_ERRORS] = wrap(src.st[ST_ERRORS] + 1)
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

    def _poll(self):
        now = ticks_us()
        for src in self.polled:
            src.poll(now)

    def _idle_budget(self):
        """us until the next polled source is due (bounded by IDLE_MAX_US)."""
        budget = IDLE_MAX_US
        now = ticks_us()
        for src in self.polled:
            left = ticks_diff(src.due, now)
            if left < budget:
                budget = left if left > 0 else 0
        return budget

    def run(self, until_ms=None):
        """Run the loop: dispatch, and idle through the port when nothing is pending.
        Stops after until_ms milliseconds (None: until stop() or an exception)."""
        self._running = True
        deadline = None
        if until_ms is not None:
            deadline = ticks_add(ticks_us(), until_ms * 1000)
        while self._running:
            if not self.step():
                budget = self._idle_budget()
                if deadline is not None:
                    left = ticks_diff(deadline, ticks_us())
                    if left <= 0:
                        break
                    if left < budget:
                        budget = left
                if budget > 0:
                    self.idles = wrap(self.idles + 1)
                    self.port.idle(budget)
            elif deadline is not None and ticks_diff(deadline, ticks_us()) <= 0:
                break
        self._running = False

    def stop(self):
        """Make run() return after the current step (callable from a task or an ISR)."""
        self._running = False
        self.port_wake()

    # -- statistics -------------------------------------------------------------------------
    def stats(self):
        """Every counter as a dict (allocates: for reporting, not for ISRs)."""
        d = {"errors": self.errors, "dispatched": self.dispatched, "idles": self.idles,
             "crit_max_us": self.crit.max_us, "crit_entries": self.crit.entries,
             "last_error": None if self.last_error is None else repr(self.last_error),
             "last_error_source": self.last_error_source}
        for s in self.sources:
            d[s.name] = s.stats()
        return d

    def reset_stats(self):
        self.errors = 0
        self.dispatched = 0
        self.idles = 0
        self.last_error = None
        self.last_error_source = None
        self.crit.reset()
        for s in self.sources:
            s.reset_stats()
