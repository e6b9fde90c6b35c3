# Storm guard (NAPI-style) for a GpioSource. The guard is itself a polled entry of the
# scheduler (kind "polled": step() calls poll(now), run() idles until its due time), so
# it needs no hook in sched.py or source.py.
#
# Interrupt mode: every window_us the guard reads the source's trigger count; more than
# budget events in one window -> the source's pin handler is replaced, through the port's
# gpio_irq(), by a count-only handler (one array increment: no timestamp, no ring slot,
# no wake -- the software image of a hardware pending counter), and the guard polls it
# every poll_us. Polled mode: each poll takes the count seen since the last one
# (seen_polled) and stamps it (last_poll_t, last_poll_n); a whole window with at most
# budget events -> the real ISR is installed again. Every transition is counted.
#
# Accounting, exact through transitions (the count-only handler is the only writer of
# cnt[C_SEEN], the main loop only reads it):
#   generated == triggers (delivered + overflow + pending + debounced) + seen_polled
from irqkit.compat import const, COUNTER_MASK
from irqkit.clock import ticks_us, ticks_diff, ticks_add, array
from irqkit.source import ST_TRIGGERS

C_SEEN = const(0)      # count-only handler: edges seen while polled

MODE_IRQ = "irq"
MODE_POLLED = "polled"


class StormGuard:
    kind = "polled"

    def __init__(self, src, budget, window_us, poll_us):
        self.src = src
        self.budget = budget
        self.window_us = window_us
        self.poll_us = poll_us
        self.mode = MODE_IRQ
        self.to_polled = 0     # transitions interrupt -> polling
        self.to_irq = 0        # transitions polling -> interrupt
        self.seen_polled = 0   # edges taken from the count while polled
        self.last_poll_t = 0
        self.last_poll_n = 0
        self.cnt = array("i", [0])
        self.taken = 0                    # cnt[C_SEEN] already added to seen_polled
        self.count_isr = self._count      # bound once: the handler allocates nothing
        self.port = None
        now = ticks_us()
        self.due = ticks_add(now, window_us)
        self.win_end = self.due
        self.win_base = 0
        self.win_n = 0

    def attach(self, sched):
        """Guard src (already added to sched). Returns the guard."""
        self.port = sched.port
        self.win_base = self.src.st[ST_TRIGGERS]
        sched.polled.append(self)
        return self

    def _count(self, pin_obj):
        c = self.cnt
        c[C_SEEN] = (c[C_SEEN] + 1) & COUNTER_MASK

    def _install(self, handler):
        s = self.src
        self.port.gpio_irq(s.pin, s.edge, handler, s.hard, s.prio)

    def _drain(self, now):
        n = (self.cnt[C_SEEN] - self.taken) & COUNTER_MASK
        if n:
            self.taken = (self.taken + n) & COUNTER_MASK
            self.seen_polled = (self.seen_polled + n) & COUNTER_MASK
            self.last_poll_t = now
            self.last_poll_n = n
        return n

    def poll(self, now):
        if ticks_diff(self.due, now) > 0:
            return
        if self.mode == MODE_IRQ:
            t = self.src.st[ST_TRIGGERS]
            n = (t - self.win_base) & COUNTER_MASK
            self.win_base = t
            self.due = ticks_add(now, self.window_us)
            if n > self.budget:
                self._install(self.count_isr)
                self.mode = MODE_POLLED
                self.src.mode = "polled"
                self.to_polled += 1
                self.win_n = 0
                self.win_end = ticks_add(now, self.window_us)
                self.due = ticks_add(now, self.poll_us)
            return
        self.win_n += self._drain(now)
        self.due = ticks_add(now, self.poll_us)
        if ticks_diff(self.win_end, now) > 0:
            return
        quiet = self.win_n <= self.budget
        self.win_n = 0
        self.win_end = ticks_add(now, self.window_us)
        if quiet:
            self._install(self.src.isr)
            self._drain(now)   # edges counted between the last poll and the switch
            self.mode = MODE_IRQ
            self.src.mode = "hard" if self.src.hard else "soft"
            self.to_irq += 1
            self.win_base = self.src.st[ST_TRIGGERS]
            self.due = ticks_add(now, self.window_us)

    def stats(self):
        return {"mode": self.mode, "to_polled": self.to_polled, "to_irq": self.to_irq,
                "seen_polled": self.seen_polled, "budget": self.budget,
                "window_us": self.window_us, "poll_us": self.poll_us}
