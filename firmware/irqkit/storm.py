# Storm guard (NAPI-style) for a GpioSource. The guard is itself a polled entry of the
# scheduler (kind "polled": step() calls poll(now), run() idles until its due time), so
# it needs no hook in sched.py or source.py.
#
# Interrupt mode: every window_us the guard reads the source's trigger count; more than
# budget events in one window -> the pin's interrupt is switched off through the port
# (gpio_irq(pin, edge, None): Pin.irq(handler=None)) and the scheduler polls the source
# every poll_us instead. A whole window with at most budget edges -> the source's ISR is
# installed again. Every transition is counted (to_polled, to_irq).
#
# What a poll can see (seen_polled; each poll is stamped: last_poll_t, last_poll_n):
# - with an edge counter (counter=: a callable returning a free-running count of the
#   edges the source triggers on -- machine.Counter(...).value on esp32/mimxrt, a
#   countio.Counter's count on CircuitPython, a PCNT/PIO counter): every edge, exactly;
# - without one, the pin level sampled each poll: a level change matching the trigger
#   counts as one edge. An interval holding more than one edge shows at most one (an even
#   number shows none): seen_polled is then a lower bound, and stats() says so
#   ("exact": False). That is all a polled level can tell; use a counter where the port
#   has one.
#
# Accounting with a counter (exact, every term counted; the counter's edges since attach):
#   counted == triggers (delivered + overflow + pending + debounced)
#              + merged_irq (edges the counter saw in interrupt mode that never entered
#                the ISR: the pin's pending bit merging edges, a pending edge dropped
#                when the handler was detached)
#              + seen_polled
# Counter and trigger count are read together with interrupts masked; an edge landing
# between a switch's snapshot and the port taking the handler off is charged to one
# side of the switch and taken back from it at the next snapshot, so the sum stays exact.
from irqkit.compat import const, COUNTER_MASK
from irqkit.clock import ticks_us, ticks_diff, ticks_add
from irqkit.source import ST_TRIGGERS

MODE_IRQ = "irq"
MODE_POLLED = "polled"

_RISING = const(1)
_FALLING = const(2)


class StormGuard:
    kind = "polled"

    def __init__(self, src, budget, window_us, poll_us, counter=None):
        self.src = src
        self.budget = budget
        self.window_us = window_us
        self.poll_us = poll_us
        self.counter = counter
        self.mode = MODE_IRQ
        self.to_polled = 0     # transitions interrupt -> polling
        self.to_irq = 0        # transitions polling -> interrupt
        self.seen_polled = 0   # edges seen by polls while the interrupt was off
        self.merged_irq = 0    # counter only: edges in interrupt mode the ISR never saw
        self.polls = 0         # polls made while polled
        self.last_poll_t = 0
        self.last_poll_n = 0
        self.port = None
        self.pin = None        # the port's pin object (level sampling)
        e = src.edge
        self.edges = _RISING | _FALLING if e == "both" else (_RISING if e == "rising"
                                                               else _FALLING)
        self.level = 0
        self.c_last = 0        # counter value at the last snapshot
        self.t_last = 0        # source's trigger count at the last snapshot
        self.c_base = 0        # counter value at attach
        now = ticks_us()
        self.due = ticks_add(now, window_us)
        self.win_end = self.due
        self.win_base = 0
        self.win_n = 0

    def attach(self, sched):
        """Guard src (already added to sched). Returns the guard."""
        self.port = sched.port
        pins = getattr(self.port, "pins", None)
        self.pin = pins.get(self.src.pin) if pins is not None else None
        if self.counter is None and self.pin is None:
            raise NotImplementedError("no pin object to sample and no counter given")
        state = self.port.disable_irq()
        self._snap()
        self.c_base = self.c_last
        self.port.enable_irq(state)
        self.win_base = self.t_last
        sched.polled.append(self)
        return self

    def _snap(self):
        """Read the counter and the trigger count (call with interrupts masked); return
        the counter edges beyond the ISR entries since the last snapshot."""
        t = self.src.st[ST_TRIGGERS]
        if self.counter is None:
            self.t_last = t
            return 0
        c = self.counter()
        n = ((c - self.c_last) & COUNTER_MASK) - ((t - self.t_last) & COUNTER_MASK)
        self.c_last = c
        self.t_last = t
        return n

    def _sample(self):
        """Level sampling: 1 if the level changed in a direction the source triggers on."""
        v = 1 if self.pin.value() else 0
        old = self.level
        self.level = v
        if v == old:
            return 0
        return 1 if self.edges & (_RISING if v else _FALLING) else 0

    def _install(self, handler):
        s = self.src
        return self.port.gpio_irq(s.pin, s.edge, handler, s.hard, s.prio)

    def poll(self, now):
        if ticks_diff(self.due, now) > 0:
            return
        port = self.port
        if self.mode == MODE_IRQ:
            state = port.disable_irq()
            m = self._snap()
            self.merged_irq += m
            # edges in this window: ISR entries, plus (with a counter) those merged at the pin
            n = ((self.t_last - self.win_base) & COUNTER_MASK) + m
            self.win_base = self.t_last
            self.due = ticks_add(now, self.window_us)
            if n <= self.budget:
                port.enable_irq(state)
                return
            self._install(None)          # the interrupt off: Pin.irq(handler=None)
            if self.pin is not None:
                self.level = 1 if self.pin.value() else 0
            port.enable_irq(state)
            self.mode = MODE_POLLED
            self.src.mode = MODE_POLLED
            self.to_polled += 1
            self.win_n = 0
            self.win_end = ticks_add(now, self.window_us)
            self.due = ticks_add(now, self.poll_us)
            return
        state = port.disable_irq()
        n = self._snap() if self.counter is not None else self._sample()
        if self.counter is None:
            self.t_last = self.src.st[ST_TRIGGERS]
        port.enable_irq(state)
        self.polls += 1
        if n:
            self.seen_polled += n
            self.last_poll_t = now
            self.last_poll_n = n
        self.win_n += n
        self.due = ticks_add(now, self.poll_us)
        if ticks_diff(self.win_end, now) > 0:
            return
        quiet = self.win_n <= self.budget
        self.win_n = 0
        self.win_end = ticks_add(now, self.window_us)
        if quiet:
            state = port.disable_irq()
            self.seen_polled += self._snap()   # edges since the last poll
            mode = self._install(self.src.isr)
            port.enable_irq(state)
            self.mode = MODE_IRQ
            self.src.mode = mode or ("hard" if self.src.hard else "soft")
            self.to_irq += 1
            self.win_base = self.t_last
            self.due = ticks_add(now, self.window_us)

    def counted(self):
        """Counter only: the edges the counter saw since attach (None without one)."""
        if self.counter is None:
            return None
        return (self.counter() - self.c_base) & COUNTER_MASK

    def stats(self):
        return {"mode": self.mode, "to_polled": self.to_polled, "to_irq": self.to_irq,
                "seen_polled": self.seen_polled, "merged_irq": self.merged_irq,
                "polls": self.polls, "exact": self.counter is not None,
                "last_poll_t": self.last_poll_t, "last_poll_n": self.last_poll_n,
                "budget": self.budget, "window_us": self.window_us,
                "poll_us": self.poll_us}
