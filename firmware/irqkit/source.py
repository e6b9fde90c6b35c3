# Interrupt sources: what an ISR feeds. Each source is its own event ring (its pending
# events) with a priority, a mask bit and its statistics. The port calls the source's ISR
# from the real interrupt (hard where the platform allows); it timestamps, stores a slot
# and wakes the main loop -- nothing else, and nothing that allocates.
#
# The ring: fixed capacity, one slot of four small ints per event (ISR timestamp
# ticks_us, sequence number, two data words) in one preallocated array (buf), so
# capture() never allocates. The consumer (the main loop) only writes TAIL, the producer
# only HEAD; the producer fills the slot first and publishes it by advancing HEAD last,
# the consumer reads the slot first and frees it by advancing TAIL last. One slot stays
# empty so that HEAD == TAIL means empty without a shared count.
#
# The producer rule: any context may pend any source -- its own ISR, another ISR (of any
# priority), the main loop through trigger(), a soft-mode (scheduled) handler. capture()
# is a masked producer section: it runs with the port's interrupts disabled (PRIMASK),
# so two producers never interleave a read-modify-write of HEAD, of the counters or of
# the scheduler's shared sequence number. On a soft-IRQ port disable_irq does not hold
# off scheduled handlers, so capture() also raises the scheduler's critical depth, and a
# soft-mode ISR entry (hwsource.py: the sources a port can deliver in soft mode) that
# finds it raised defers its event to the outermost exit (critical.py): delivered late,
# never lost, counted in ctl[R_DEFERRED].
#
# Overflow policies when the ring is full:
#   POLICY_COUNT    drop the newest event, count it in ctl[R_OVERFLOW].
#   POLICY_COALESCE merge it into the pending ones, like a hardware pending bit: the
#                   event delivered next carries count = 1 + merged. Nothing is lost,
#                   only timestamps are.
#
# Counters wrap at 2**29 (COUNTER_MASK: small ints on a 32-bit board, see compat.py).
# ISR paths stay shallow: ~5 nested Python calls fit the 1.9.2 micro:bit's stack
# (trigger -> capture -> the port's disable_irq is 3).
# The micro:bit build inlines every const() below (host/irqkit_host/smallbuild.py).
from irqkit.compat import const, COUNTER_MASK
from irqkit.clock import ticks_us, array

POLICY_COUNT = const(0)     # ring full: drop the newest event, count it in overflow
POLICY_COALESCE = const(1)  # ring full: merge it into the next delivered one (ev.count)

# src.ctl: the ring's words; each is written by one side only, as noted.
R_HEAD = const(0)         # producer: next slot to fill
R_TAIL = const(1)         # consumer: next slot to take
R_PUT = const(2)          # producer: events stored
R_OVERFLOW = const(3)     # producer: events dropped (POLICY_COUNT)
R_MERGED = const(4)       # producer: events merged (POLICY_COALESCE)
R_HWM = const(5)          # producer: high-water mark of pending events
R_TAKEN = const(6)        # consumer: events taken
R_MERGED_SEEN = const(7)  # consumer: value of R_MERGED already handed out
R_DEFER_N = const(8)      # soft ISR: events deferred while a critical section is held
R_DEFER_T = const(9)      # ... the first one's timestamp and data words
R_DEFER_A = const(10)
R_DEFER_B = const(11)
R_DEFERRED = const(12)    # events ever deferred (replayed on the outermost exit)
CTL_WORDS = const(13)

# Slot i is buf[SLOT_WORDS*i ...]: timestamp, sequence number, data a, data b.
SLOT_WORDS = const(4)
SLOT_T = const(0)
SLOT_SEQ = const(1)
SLOT_A = const(2)
SLOT_B = const(3)

# src.st: statistics words, then the latency histogram.
ST_TRIGGERS = const(0)    # events produced: ISR entries and trigger() (before debounce)
ST_DEBOUNCED = const(1)   # edges ignored by debounce
ST_ERRORS = const(2)      # task raised
ST_LAT_MAX = const(3)     # longest ISR -> task start, us
ST_DELIVERED = const(4)   # occurrences delivered (merged ones included)
ST_HIST = const(5)        # first of HIST_BUCKETS log2 buckets: [0] [1] [2,3] [4,7] ... us
HIST_BUCKETS = const(24)
ST_HIST_LAST = const(28)  # ST_HIST + HIST_BUCKETS - 1
ST_WORDS = const(29)      # ST_HIST + HIST_BUCKETS


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
    scheduler calls them when the source is added (removed).
    The source is its own ring: capture/take, counters in ctl (src.ring is src;
    ring.pending(src) counts what waits)."""
    kind = "soft"
    mode = "soft"      # how the port delivers it: "hard", "soft", "polled" (install sets it)
    masked = False     # Scheduler.mask()/unmask() set it on the instance
    nmi = False        # dispatched even when masked (see the README: what NMI means)

    def __init__(self, name, task, prio=0, capacity=8, policy=POLICY_COUNT, nmi=False):
        if capacity < 1:
            raise ValueError("capacity < 1")
        self.name = name
        self.task = task
        self.prio = prio
        if nmi:
            self.nmi = True
        self.ring = self
        self.policy = policy
        n = self.nslots = capacity + 1
        # Zero-filled in place (no temporary list of n objects), written out rather
        # than compat.zeros: a PolledSource built at the REPL top level is already 3
        # constructor calls deep here, the most 1.9.2's 1.8 KB stack allows.
        self.buf = array("i", range(n * SLOT_WORDS))
        self.ctl = array("i", range(CTL_WORDS))
        self.st = array("i", range(ST_WORDS))
        for a in (self.buf, self.ctl, self.st):
            for i in range(len(a)):
                a[i] = 0
        # Scheduler.add sets seq (its shared sequence counter, an array), wake (the port's
        # wake()) and crit (its Critical: capture masks through crit.port)
        self.seq = None
        self.wake = None

    # -- producer side (ISR): no allocation, no exceptions ---------------------------------
    def capture(self, t, a, b):
        """Record one event at time t with data words a, b (small ints): count it, stamp
        the next sequence number, store it in the ring, wake the main loop. A masked
        producer section, so safe from any context. Returns True if stored, False if
        dropped or merged. Call it only after Scheduler.add (seq, wake, crit)."""
        g = self.crit
        state = g.port.disable_irq()
        g.depth += 1      # holds off soft-mode ISRs too (they defer: hwsource.HwSource)
        c = self.ctl
        st = self.st
        st[ST_TRIGGERS] = (st[ST_TRIGGERS] + 1) & COUNTER_MASK
        s = self.seq
        n = s[0]
        s[0] = (n + 1) & COUNTER_MASK
        h = c[R_HEAD]
        i = h + 1
        if i == self.nslots:
            i = 0
        if i == c[R_TAIL]:
            i = R_MERGED if self.policy == POLICY_COALESCE else R_OVERFLOW
            c[i] = (c[i] + 1) & COUNTER_MASK
            stored = False
        else:
            h *= SLOT_WORDS
            s = self.buf
            s[h + SLOT_T] = t
            s[h + SLOT_SEQ] = n
            s[h + SLOT_A] = a
            s[h + SLOT_B] = b
            c[R_HEAD] = i  # publish: the slot is complete before HEAD moves
            c[R_PUT] = (c[R_PUT] + 1) & COUNTER_MASK
            i -= c[R_TAIL]
            if i < 0:
                i += self.nslots
            if i > c[R_HWM]:
                c[R_HWM] = i
            stored = True
        g.depth -= 1
        g.port.enable_irq(state)
        if g.pending is not None and not g.depth:
            g.replay(g)   # a soft-mode ISR deferred while we held the section
        self.wake()
        return stored

    def isr(self, arg):
        """The interrupt handler a port calls (arg: its pin, timer or None). Sources with
        their own handler (hwsource) set self.isr to a bound method once, in __init__:
        taking a bound method allocates, so a port takes src.isr once, at install."""
        self.capture(ticks_us(), 0, 0)

    def trigger(self, a=0, b=0):
        """Software interrupt: pend an event with data words a, b (small ints), from
        code or from another ISR (any source can be pended, like NVIC's set-pending
        register; SoftSource is Source). ISR-safe: capture() masks. Returns True if
        stored, False if dropped or merged."""
        return self.capture(ticks_us(), a, b)

    # -- consumer side (main loop) ---------------------------------------------------------
    def take(self, ev):
        """Move the oldest event into ev (t_isr, seq, a, b, count). False when empty.
        Deliverable when HEAD != TAIL or MERGED != MERGED_SEEN."""
        c = self.ctl
        t = c[R_TAIL]
        s = self.buf
        m = c[R_MERGED]
        n = (m - c[R_MERGED_SEEN]) & COUNTER_MASK  # merged since the last take: charged here
        c[R_MERGED_SEEN] = m
        if t == c[R_HEAD]:
            # Empty, but the producer may have merged events after it saw the ring full
            # and before our last take freed a slot (capacity 1 makes this likely).
            # Deliver them as a count-only event stamped with the last slot's time
            # rather than leave them stranded until the next interrupt.
            if n == 0:
                return False
            i = (t - 1 if t else self.nslots - 1) * SLOT_WORDS
            ev.t_isr = s[i + SLOT_T]
            ev.seq = s[i + SLOT_SEQ]
            ev.a = ev.b = 0
            ev.count = n
            return True
        i = t * SLOT_WORDS
        ev.t_isr = s[i + SLOT_T]
        ev.seq = s[i + SLOT_SEQ]
        ev.a = s[i + SLOT_A]
        ev.b = s[i + SLOT_B]
        ev.count = n + 1
        t += 1
        if t == self.nslots:
            t = 0
        c[R_TAIL] = t  # free the slot only after it has been read
        c[R_TAKEN] = (c[R_TAKEN] + 1) & COUNTER_MASK
        return True


# A software interrupt source is a plain Source (trigger() above): one class less on the
# micro:bit's heap.
SoftSource = Source
