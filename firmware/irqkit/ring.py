# Event ring: fixed capacity, single producer (an ISR) / single consumer (the main loop).
#
# Each slot holds four small ints: ISR timestamp (ticks_us), sequence number, and two
# data words. Slots live in one preallocated array, so put() never allocates.
#
# Why it is safe without a lock: the producer only ever writes `head` and the consumer
# only ever writes `tail`. The producer fills the slot *first* and publishes it by
# advancing head *last*; the consumer reads the slot *first* and frees it by advancing
# tail *last*. Each index is one aligned word in an array, so a reader sees either the
# old or the new value, never a mix. (Cortex-M is single-core and in-order; x86 keeps
# stores in order too, which is what the simulator's hardware thread relies on.)
# One slot is kept empty so that head == tail means empty without a shared count.
#
# Overflow policies when the ring is full:
#   POLICY_COUNT    drop the newest event, count it in `overflow`.
#   POLICY_COALESCE merge the newest into the pending ones, like a hardware pending bit:
#                   the event delivered next carries count = 1 + merged. Nothing is lost,
#                   only timestamps are.
from irqkit.compat import const, array, COUNTER_MASK

POLICY_COUNT = const(0)
POLICY_COALESCE = const(1)

SLOT = const(4)  # words per slot: t_isr, seq, a, b
SEQ_OFS = const(1)

# Indices into Ring.ctl; each word is written by one side only, as noted.
# (public names: report.py and sched.py read them too.)
R_HEAD = const(0)       # producer
R_TAIL = const(1)       # consumer
R_PUT = const(2)        # producer: events stored
R_OVERFLOW = const(3)   # producer: events dropped (POLICY_COUNT)
R_MERGED = const(4)     # producer: events merged (POLICY_COALESCE)
R_HWM = const(5)        # producer: high-water mark of pending events
R_TAKEN = const(6)      # consumer: events taken
R_MERGED_SEEN = const(7)  # consumer: value of R_MERGED already handed out
_NCTL = const(8)
# The oldest waiting event's sequence number is buf[ctl[R_TAIL] * SLOT + SEQ_OFS].


class Ring:
    def __init__(self, capacity, policy=POLICY_COUNT):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.policy = policy
        self.nslots = capacity + 1
        # compat.zeros written out: a PolledSource built at the REPL top level is already
        # 3 constructor calls deep here, the most MicroPython 1.9.2's 1.8 KB stack allows.
        self.buf = array("i", range(self.nslots * SLOT))
        self.ctl = array("i", range(_NCTL))
        for a in (self.buf, self.ctl):  # zeroed in place: no temporary list of n objects
            for i in range(len(a)):
                a[i] = 0

    # -- producer side (ISR): no allocation, no exceptions ---------------------------------
    def put(self, t, seq, a, b):
        """Store one event. Returns True if stored, False if dropped or merged."""
        ctl = self.ctl
        head = ctl[R_HEAD]
        nxt = head + 1
        if nxt == self.nslots:
            nxt = 0
        if nxt == ctl[R_TAIL]:
            if self.policy == POLICY_COALESCE:
                ctl[R_MERGED] = (ctl[R_MERGED] + 1) & COUNTER_MASK
            else:
                ctl[R_OVERFLOW] = (ctl[R_OVERFLOW] + 1) & COUNTER_MASK
            return False
        i = head * SLOT
        buf = self.buf
        buf[i] = t
        buf[i + 1] = seq
        buf[i + 2] = a
        buf[i + 3] = b
        ctl[R_HEAD] = nxt  # publish: the slot is complete before head moves
        ctl[R_PUT] = (ctl[R_PUT] + 1) & COUNTER_MASK
        depth = nxt - ctl[R_TAIL]
        if depth < 0:
            depth += self.nslots
        if depth > ctl[R_HWM]:
            ctl[R_HWM] = depth
        return True

    # -- consumer side (main loop) ---------------------------------------------------------
    def pending(self):
        """Number of events waiting (a snapshot: the producer may add more meanwhile)."""
        n = self.ctl[R_HEAD] - self.ctl[R_TAIL]
        if n < 0:
            n += self.nslots
        return n

    def ready(self):
        """True when take() would deliver something: a waiting event, or merges that
        raced past the last take (see take())."""
        c = self.ctl
        return c[R_HEAD] != c[R_TAIL] or c[R_MERGED] != c[R_MERGED_SEEN]

    def take(self, ev):
        """Move the oldest event into ev (t_isr, seq, a, b, count). False when empty."""
        ctl = self.ctl
        tail = ctl[R_TAIL]
        buf = self.buf
        if tail == ctl[R_HEAD]:
            # Empty, but the producer may have merged events after it saw the ring full
            # and before our last take freed a slot (capacity 1 makes this likely).
            # Deliver them as a count-only event stamped with the last slot's time
            # rather than leave them stranded until the next interrupt.
            merged = ctl[R_MERGED]
            n = (merged - ctl[R_MERGED_SEEN]) & COUNTER_MASK
            if n == 0:
                return False
            i = (tail - 1 if tail else self.nslots - 1) * SLOT
            ev.t_isr = buf[i]
            ev.seq = buf[i + 1]
            ev.a = 0
            ev.b = 0
            ev.count = n
            ctl[R_MERGED_SEEN] = merged
            return True
        i = tail * SLOT
        ev.t_isr = buf[i]
        ev.seq = buf[i + 1]
        ev.a = buf[i + 2]
        ev.b = buf[i + 3]
        # Merged events are charged to the event taken after they merged: read the
        # producer's counter once and remember what was handed out (wrap-aware).
        merged = ctl[R_MERGED]
        ev.count = 1 + ((merged - ctl[R_MERGED_SEEN]) & COUNTER_MASK)
        ctl[R_MERGED_SEEN] = merged
        tail += 1
        if tail == self.nslots:
            tail = 0
        ctl[R_TAIL] = tail  # free the slot only after it has been read
        ctl[R_TAKEN] = (ctl[R_TAKEN] + 1) & COUNTER_MASK
        return True
