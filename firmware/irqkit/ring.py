# Names for the event ring and the statistics words, pending(), and a bare Ring.
#
# The ring itself lives in source.py: every Source *is* its ring (one object per source,
# no separate ring; `src.ring` is the source itself). The core uses plain word indices,
# because on the 1.9.2 micro:bit every module-level name costs heap for good (const()s
# with an underscore too); readers (report.py, ports, tests) use the names below, which
# must match source.py's comment. The micro:bit's scheduler never imports this module.
# (Plain ints, not const(): module-level names are stored either way, and this keeps
# irqkit.compat out of a board that only wants a Ring.)
from irqkit.clock import array
from irqkit.source import Source

POLICY_COUNT = 0     # ring full: drop the newest event, count it in overflow
POLICY_COALESCE = 1  # ring full: merge it into the next delivered one (ev.count)

# Indices into src.ctl (Ring.ctl); each word is written by one side only, as noted.
R_HEAD = 0       # producer
R_TAIL = 1       # consumer
R_PUT = 2        # producer: events stored
R_OVERFLOW = 3   # producer: events dropped (POLICY_COUNT)
R_MERGED = 4     # producer: events merged (POLICY_COALESCE)
R_HWM = 5        # producer: high-water mark of pending events
R_TAKEN = 6      # consumer: events taken
R_MERGED_SEEN = 7  # consumer: value of R_MERGED already handed out
# Slot i is src.buf[4*i .. 4*i+3] = t_isr, seq, a, b.

# Indices into src.st: statistics words, then the latency histogram.
ST_TRIGGERS = 0   # isr()/trigger() entries (before debounce)
ST_DEBOUNCED = 1  # edges ignored by debounce
ST_ERRORS = 2     # task raised
ST_LAT_MAX = 3    # longest ISR -> task start, us
ST_DELIVERED = 4  # occurrences delivered (merged ones included)
ST_HIST = 5       # first of HIST_BUCKETS log2 buckets: [0] [1] [2,3] [4,7] ... us
HIST_BUCKETS = 24


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
    """A bare event ring (a Source without a task or scheduler): put(t, seq, a, b),
    take(ev), pending(), ready(), counters in ctl. Ring(capacity, policy=POLICY_COUNT)."""

    def __init__(self, capacity, policy=POLICY_COUNT):
        Source.__init__(self, None, None, 0, capacity, policy)
        self.seq = array("i", [0])
        self.wake = _no_wake

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
