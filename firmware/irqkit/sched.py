# The main-loop scheduler: drains the sources' rings highest priority first, FIFO within
# a priority level (by the sequence number stamped in the ISR), calls each source's task
# with one reusable Event, and idles through the port when nothing is pending.
#
# Masking is done here, at dispatch: a masked source's ISR still runs and records the
# event (bounded by its ring; overflow counted), the task just waits until unmask — so
# masked interrupts are held pending and replayed in priority order, never lost silently.
# An NMI-like source (nmi=True) ignores every mask.
#
# step(), run() and Critical live in irqkit/dispatch.py: the micro:bit (MicroPython 1.9.2,
# ~9 KB heap) cannot compile them and the rest of this class as one module.
from irqkit.clock import array
from irqkit.source import Event
from irqkit.dispatch import step, run, Critical

NO_MASK = -0x40000000   # mask_below(NO_MASK): no priority level is masked


class Scheduler:
    # Written only in the main loop (run(), a failing task, report.reset()): class
    # defaults until then, so each scheduler's attribute table stays small.
    errors = 0
    last_error = None          # the exception object of the last failing task
    last_error_source = None
    idles = 0

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
        """Hold back every source with priority < prio, like BASEPRI.
        mask_below(NO_MASK) releases the level mask."""
        self.mask_floor = prio
        self.port.wake()

    # -- dispatch ---------------------------------------------------------------------------
    step = step   # poll due sources, then dispatch at most one event (dispatch.py)
    run = run     # dispatch, idling when nothing is pending, until stop() (dispatch.py)

    def run_once(self):
        """Dispatch until nothing deliverable is pending. Returns how many ran."""
        n = 0
        while step(self):
            n += 1
        return n

    def stop(self):
        """Make run() return after the current step (callable from a task or an ISR)."""
        self.running = False
        self.port.wake()
