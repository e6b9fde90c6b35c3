# Interrupt sources: what an ISR feeds. Each source is its own event ring (its pending
# events) with a priority, a mask bit and its statistics. The port calls the source's ISR
# from the real interrupt (hard where the platform allows); it timestamps, stores a slot
# and wakes the main loop — nothing else, and nothing that allocates.
#
# The ring: fixed capacity, single producer (an ISR) / single consumer (the main loop).
# Each slot holds four small ints: ISR timestamp (ticks_us), sequence number, and two
# data words, in one preallocated array (buf), so capture() never allocates.
# Why it is safe without a lock: the producer only ever writes `head` and the consumer
# only ever writes `tail`. The producer fills the slot *first* and publishes it by
# advancing head *last*; the consumer reads the slot *first* and frees it by advancing
# tail *last*. Each index is one aligned word in an array, so a reader sees either the
# old or the new value, never a mix. (Cortex-M is single-core and in-order; x86 keeps
# stores in order too, which is what the simulator's hardware thread relies on.)
# One slot is kept empty so that head == tail means empty without a shared count.
# Overflow policies when the ring is full (ring.POLICY_*):
#   0 POLICY_COUNT    drop the newest event, count it in `overflow`.
#   1 POLICY_COALESCE merge the newest into the pending ones, like a hardware pending
#                     bit: the event delivered next carries count = 1 + merged. Nothing
#                     is lost, only timestamps are.
#
# Kept small on purpose: the 1.9.2 micro:bit compiles it into a ~9 KB heap, where every
# function, class, module-level name (const()s too, even underscore ones) and identifier
# costs heap for good. So the word indices are plain numbers here, named in ring.py
# (R_* for ctl, ST_* for st, which readers such as report.py import), and:
#   ctl: 0 head (producer), 1 tail (consumer), 2 put, 3 overflow, 4 merged, 5 high-water
#        mark (producer), 6 taken, 7 merged already handed out (consumer)
#   st:  0 triggers, 1 debounced, 2 errors, 3 max latency us, 4 delivered, 5..28 the
#        log2 latency histogram
#   0x1FFFFFFF is compat.COUNTER_MASK: counters wrap at 2**29 (small ints on a board).
# ISR paths stay shallow too: ~5 nested Python calls fit that stack (trigger -> capture
# -> the port's wake is 3).
from irqkit.clock import ticks_us, ticks_diff, ticks_add, array


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
    nmi = False        # NMI-like: ignores every mask

    def __init__(self, name, task, prio=0, capacity=8, policy=0, nmi=False):
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
        self.buf = array("i", range(n * 4))
        self.ctl = array("i", range(8))
        self.st = array("i", range(29))
        for a in (self.buf, self.ctl, self.st):
            for i in range(len(a)):
                a[i] = 0
        self.seq = None           # the scheduler's shared sequence counter (array)
        self.wake = None          # the port's wake(); both set by Scheduler.add

    # -- producer side (ISR): no allocation, no exceptions ---------------------------------
    def capture(self, t, a, b):
        """Record one event at time t with data words a, b (small ints): stamp the next
        sequence number, store it in the ring, wake the main loop. ISR-safe. Returns True
        if stored, False if dropped or merged. Call it only after Scheduler.add (which
        hands the source its seq and wake)."""
        s = self.seq
        n = s[0]
        s[0] = (n + 1) & 0x1FFFFFFF
        c = self.ctl
        h = c[0]
        i = h + 1
        if i == self.nslots:
            i = 0
        if i == c[1]:
            i = 4 if self.policy else 3  # merged (POLICY_COALESCE) or overflow
            c[i] = (c[i] + 1) & 0x1FFFFFFF
            self.wake()
            return False
        h *= 4
        s = self.buf
        s[h] = t
        s[h + 1] = n
        s[h + 2] = a
        s[h + 3] = b
        c[0] = i  # publish: the slot is complete before head moves
        c[2] = (c[2] + 1) & 0x1FFFFFFF
        i -= c[1]
        if i < 0:
            i += self.nslots
        if i > c[5]:
            c[5] = i
        self.wake()
        return True

    def isr(self, arg):
        """The interrupt handler a port calls (arg: its pin, timer or None). Sources with
        their own handler (hwsource) set self.isr to a bound method once, in __init__:
        taking a bound method allocates, so a port takes src.isr once, at install."""
        s = self.st
        s[0] = (s[0] + 1) & 0x1FFFFFFF
        self.capture(ticks_us(), 0, 0)

    def trigger(self, a=0, b=0):
        """Software interrupt: pend an event with data words a, b (small ints), from
        code or from another ISR (any source can be pended, like NVIC's set-pending
        register; SoftSource is Source). ISR-safe."""
        s = self.st
        s[0] = (s[0] + 1) & 0x1FFFFFFF
        self.capture(ticks_us(), a, b)

    # -- consumer side (main loop) ---------------------------------------------------------
    def take(self, ev):
        """Move the oldest event into ev (t_isr, seq, a, b, count). False when empty.
        Deliverable (ring.Ring.ready()) when ctl[0] != ctl[1] or ctl[4] != ctl[7]."""
        c = self.ctl
        t = c[1]
        s = self.buf
        m = c[4]
        n = (m - c[7]) & 0x1FFFFFFF  # merged since the last take: charged to this event
        c[7] = m
        if t == c[0]:
            # Empty, but the producer may have merged events after it saw the ring full
            # and before our last take freed a slot (capacity 1 makes this likely).
            # Deliver them as a count-only event stamped with the last slot's time
            # rather than leave them stranded until the next interrupt.
            if n == 0:
                return False
            i = (t - 1 if t else self.nslots - 1) * 4
            ev.t_isr = s[i]
            ev.seq = s[i + 1]
            ev.a = ev.b = 0
            ev.count = n
            return True
        i = t * 4
        ev.t_isr = s[i]
        ev.seq = s[i + 1]
        ev.a = s[i + 2]
        ev.b = s[i + 3]
        ev.count = n + 1
        t += 1
        if t == self.nslots:
            t = 0
        c[1] = t  # free the slot only after it has been read
        c[6] = (c[6] + 1) & 0x1FFFFFFF
        return True


# A software interrupt source is a plain Source (trigger() above): one class less on the
# micro:bit's heap.
SoftSource = Source


class PolledSource(Source):
    """A check function the scheduler calls every interval_us; a truthy result becomes an
    event (data word a = the result if it is an int). For devices where polling beats an
    interrupt, or ports without one. The check runs in the main loop, so it may allocate."""
    kind = "polled"
    mode = "polled"

    def __init__(self, name, task, check, interval_us, prio=0, capacity=8, policy=0):
        Source.__init__(self, name, task, prio, capacity, policy)
        self.check = check
        self.interval_us = interval_us
        self.due = ticks_us()

    def poll(self, now):
        """Run the check if due; returns us until the next check is due."""
        n = ticks_diff(self.due, now)
        if n > 0:
            return n
        self.due = ticks_add(now, self.interval_us)
        n = self.check()
        if n:
            s = self.st
            s[0] = (s[0] + 1) & 0x1FFFFFFF
            self.capture(now, n & 0x1FFFFFFF if isinstance(n, int) else 1, 0)
        return self.interval_us
