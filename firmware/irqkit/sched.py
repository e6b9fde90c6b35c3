# The main-loop scheduler: drains the sources' rings highest priority first, FIFO within
# a priority level (by the sequence number stamped in the ISR), calls each source's task
# with one reusable Event, and idles through the port when nothing is pending.
#
# Masking is done here, at dispatch: a masked source's ISR still runs and records the
# event (bounded by its ring; overflow counted), the task just waits until unmask — so
# masked interrupts are held pending and replayed in priority order, never lost silently.
# An NMI-like source (nmi=True) ignores every mask.
from irqkit.compat import const, ticks_us, ticks_diff, ticks_add, zeros, COUNTER_MASK
from irqkit.critical import Critical
from irqkit.source import Event
from irqkit.dispatch import step

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
        src.seq = self.seq
        src.wake = self.port_wake
        inst = getattr(src, "install", None)
        if inst is not None:  # first: a port that lacks the facility raises, nothing half-added
            inst(self.port)
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
    # step() -- poll due sources, then dispatch at most one event -- lives in
    # irqkit/dispatch.py: the micro:bit (MicroPython 1.9.2, ~9 KB heap) cannot compile
    # it and the rest of this class as one module.
    step = step

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
                self.idles = (self.idles + 1) & COUNTER_MASK
                self.port.idle(budget)
        self.running = False

    def stop(self):
        """Make run() return after the current step (callable from a task or an ISR)."""
        self.running = False
        self.port_wake()
