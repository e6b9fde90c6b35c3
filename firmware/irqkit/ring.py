# A bare event ring (a Source without a task or scheduler) and pending(). The ring's
# layout and its names live with the code that uses them, in source.py; they are
# re-exported here for readers of a ring (report.py, ports, tests).
from irqkit.clock import array
from irqkit.source import (Source, POLICY_COUNT, POLICY_COALESCE, R_HEAD, R_TAIL,  # noqa: F401
                           R_PUT, R_OVERFLOW, R_MERGED, R_HWM, R_TAKEN, R_MERGED_SEEN,
                           R_DEFERRED, ST_TRIGGERS, ST_DEBOUNCED, ST_ERRORS, ST_LAT_MAX,
                           ST_DELIVERED, ST_HIST, HIST_BUCKETS)
from irqkit.critical import Critical


class NoIrq:
    """A port stand-in with nothing to mask, for bare rings and tests."""

    def disable_irq(self):
        return 0

    def enable_irq(self, state):
        pass


def pending(ring):
    """Events waiting in a source's ring (a snapshot: its ISR may add more meanwhile).
    Not a Source method: the scheduler never needs it, and on the micro:bit every
    method costs heap."""
    c = ring.ctl
    n = c[R_HEAD] - c[R_TAIL]
    return n + ring.nslots if n < 0 else n


def _no_wake():
    pass


class Ring(Source):
    """A bare event ring: put(t, seq, a, b), take(ev), pending(), ready(), counters in
    ctl. Ring(capacity, policy=POLICY_COUNT)."""

    def __init__(self, capacity, policy=POLICY_COUNT):
        Source.__init__(self, None, None, 0, capacity, policy)
        self.seq = array("i", [0])
        self.wake = _no_wake
        self.crit = Critical(NoIrq())

    pending = pending

    def put(self, t, seq, a, b):
        """Store one event (ISR-safe). Returns True if stored, False if dropped or merged."""
        self.seq[0] = seq
        return self.capture(t, a, b)

    def ready(self):
        """True when take() would deliver something: a waiting event, or merges that
        raced past the last take (see Source.take())."""
        c = self.ctl
        return c[R_HEAD] != c[R_TAIL] or c[R_MERGED] != c[R_MERGED_SEEN]
