# Interrupt sources: what an ISR feeds. Each source owns one Ring (its pending events),
# a priority, a mask bit and its statistics. The port calls `source.isr(arg)` from the
# real interrupt (hard where the platform allows); isr() timestamps, stores a slot and
# wakes the main loop — nothing else, and nothing that allocates.
#
# Kept small on purpose (a 16 KB Cortex-M0 must hold this): reporting lives in report.py,
# defaults that rarely change (mode, masked, nmi) are class attributes, and the ISR paths
# stay shallow (MicroPython 1.9.2 on the micro:bit allows only ~5 nested Python calls).
from irqkit.compat import const, ticks_us, ticks_diff, ticks_add, zeros, COUNTER_MASK
from irqkit.ring import Ring, POLICY_COUNT

# Source.st: one array of statistics words, then the latency histogram.
ST_TRIGGERS = const(0)   # isr()/trigger() entries (before debounce)
ST_DEBOUNCED = const(1)  # edges ignored by debounce
ST_ERRORS = const(2)     # task raised
ST_LAT_MAX = const(3)    # longest ISR -> task start, us
ST_DELIVERED = const(4)  # occurrences delivered (merged ones included)
ST_HIST = const(5)       # first of HIST_BUCKETS log2 buckets: [0] [1] [2,3] [4,7] ... us
HIST_BUCKETS = const(24)
_NST = const(29)


class Event:
    """The reusable event handed to tasks. Copy fields out if you keep them: the
    scheduler refills this object for the next event, so dispatch never allocates.
    Fields: source, t_isr (ticks_us at ISR entry), t_task (ticks_us when the task was
    started), seq, a, b, count (1 + events merged into this one, POLICY_COALESCE)."""

    def __init__(self):
        self.source = None
        self.t_isr = self.t_task = self.seq = self.a = self.b = 0
        self.count = 1


class Source:
    """Subclasses that own hardware define install(port) (and uninstall(port)): the
    scheduler calls them when the source is added (removed)."""
    kind = "soft"
    mode = "soft"      # how the port delivers it: "hard", "soft", "polled" (install sets it)
    masked = False     # Scheduler.mask()/unmask() set it on the instance
    nmi = False        # NMI-like: ignores every mask

    def __init__(self, name, task, prio=0, capacity=8, policy=POLICY_COUNT, nmi=False):
        self.name = name
        self.task = task
        self.prio = prio
        if nmi:
            self.nmi = True
        self.ring = Ring(capacity, policy)
        self.st = zeros("i", _NST)
        self.seq = None           # the scheduler's shared sequence counter (array)
        self.wake = None          # the port's wake(); both set by Scheduler.add
        self.isr = self._isr      # take the bound method once: binding allocates

    def _isr(self, arg):
        st = self.st
        st[ST_TRIGGERS] = (st[ST_TRIGGERS] + 1) & COUNTER_MASK
        self.capture(ticks_us(), 0, 0)

    def capture(self, t, a, b):
        """Record one event at time t with data words a, b (small ints). ISR-safe.
        Call it only after Scheduler.add (which hands the source its seq and wake)."""
        seq = self.seq
        n = seq[0]
        seq[0] = (n + 1) & COUNTER_MASK
        self.ring.put(t, n, a, b)
        self.wake()


class SoftSource(Source):
    """Software interrupt: trigger(a, b) from code or from another ISR."""

    def trigger(self, a=0, b=0):
        # capture() written out: one nested call less, which matters where the stack
        # allows ~5 (a task that triggers another source is already 3 deep in run_once).
        t = ticks_us()
        st = self.st
        st[ST_TRIGGERS] = (st[ST_TRIGGERS] + 1) & COUNTER_MASK
        seq = self.seq
        n = seq[0]
        seq[0] = (n + 1) & COUNTER_MASK
        self.ring.put(t, n, a, b)
        self.wake()


class PolledSource(Source):
    """A check function the scheduler calls every interval_us; a truthy result becomes an
    event (data word a = the result if it is an int). For devices where polling beats an
    interrupt, or ports without one. The check runs in the main loop, so it may allocate."""
    kind = "polled"
    mode = "polled"

    def __init__(self, name, task, check, interval_us, prio=0, capacity=8,
                 policy=POLICY_COUNT):
        Source.__init__(self, name, task, prio, capacity, policy)
        self.check = check
        self.interval_us = interval_us
        self.due = ticks_us()

    def poll(self, now):
        """Run the check if due; returns us until the next check is due."""
        left = ticks_diff(self.due, now)
        if left > 0:
            return left
        self.due = ticks_add(now, self.interval_us)
        r = self.check()
        if r:
            st = self.st
            st[ST_TRIGGERS] = (st[ST_TRIGGERS] + 1) & COUNTER_MASK
            self.capture(now, r & COUNTER_MASK if isinstance(r, int) else 1, 0)
        return self.interval_us
