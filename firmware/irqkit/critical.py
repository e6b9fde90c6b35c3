# Critical sections over the port's disable_irq/enable_irq, nestable, and timed: the
# longest time interrupts were held off is the biggest single contributor to interrupt
# latency, so it is measured on every outermost exit and kept as `max_us`.
# (NMI handlers must not use them: an NMI can preempt a section that is in progress.)
#
# Use `with crit:` or the pair crit.enter() / crit.exit(). Calling a method directly
# (crit.enter()) does not allocate on MicroPython, so the pair is ISR-safe as it is;
# only *taking* crit.enter as a value would build a bound method.
from irqkit.compat import ticks_us, ticks_diff, COUNTER_MASK


class Critical:
    def __init__(self, port):
        self.port = port
        self.depth = 0
        self.state = 0       # what disable_irq returned at the outermost enter
        self.t0 = 0
        self.max_us = 0      # longest outermost critical section, us
        self.entries = 0     # outermost critical sections entered

    def enter(self):
        state = self.port.disable_irq()
        # Interrupts are off from here: the depth and timestamps below cannot race.
        if self.depth == 0:
            self.state = state
            self.t0 = ticks_us()
        self.depth += 1
        return self

    def exit(self, *exc_info):  # with: (type, value, traceback); called alone: none
        depth = self.depth - 1
        if depth < 0:
            raise RuntimeError("critical exit without enter")
        self.depth = depth
        if depth == 0:
            dt = ticks_diff(ticks_us(), self.t0)
            if dt > self.max_us:
                self.max_us = dt
            self.entries = (self.entries + 1) & COUNTER_MASK
            # Measure before re-enabling: a pending ISR runs the moment we enable.
            self.port.enable_irq(self.state)
        # Inner exits leave interrupts off: the outermost exit restores them.
        # (Returns None: an exception inside `with` propagates.)

    # The context manager is the same pair: two names, no extra functions or call level.
    __enter__ = enter
    __exit__ = exit
