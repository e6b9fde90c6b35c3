# Critical sections over the port's disable_irq/enable_irq: nestable and timed. The
# longest time interrupts were held off is the biggest single contributor to interrupt
# latency, so it is measured on every outermost exit and kept as max_us.
#
# Soft-IRQ ports (esp32 pins, soft timers): machine.disable_irq does not stop scheduled
# callbacks, which run between any two bytecodes of the main program. So the section's
# depth is also a flag irqkit's soft-mode ISR entries check (Source.soft_busy): inside a
# section they park their event in the source's ctl instead of touching the ring, and the
# outermost exit replays the parked events (replay()). Nothing is lost; each deferral is
# counted in ctl[R_DEFERRED] and in deferred here.
#
# NMI-like sources (nmi=True) are only exempt from masking at dispatch; their ISRs, like
# every other, are held off by a critical section (see the README: what NMI means).
#
# Use `with crit:` or the pair crit.enter() / crit.exit(). Neither allocates: calling a
# method directly builds no bound method, and exit takes the three arguments `with`
# passes as named parameters (`*exc_info` would build a tuple: MemoryError in a hard ISR).
from irqkit.compat import COUNTER_MASK
from irqkit.clock import ticks_us, ticks_diff


class Critical:
    def __init__(self, port):
        self.port = port
        self.depth = 0       # sections (and captures) in progress
        self.state = 0       # what disable_irq returned at the outermost enter
        self.t0 = 0
        self.max_us = 0      # longest outermost critical section, us
        self.entries = 0     # outermost critical sections entered
        self.pending = None  # the last source a soft-mode ISR parked an event on (a list
                             # through src.parked), replayed on the way out
        self.replay = None   # ... with this function(crit), set by the ISR that parked it

    def enter(self):
        state = self.port.disable_irq()
        # Interrupts are off from here: the depth and timestamps below cannot race.
        if self.depth == 0:
            self.state = state
            self.t0 = ticks_us()
        self.depth += 1
        return self

    def exit(self, t=None, v=None, tb=None):  # `with` passes type, value, traceback
        depth = self.depth - 1
        if depth < 0:
            raise RuntimeError("critical exit without enter")
        if depth:
            self.depth = depth
            return  # inner exits leave interrupts off: the outermost one restores them
        dt = ticks_diff(ticks_us(), self.t0)
        if dt > self.max_us:
            self.max_us = dt
        self.entries = (self.entries + 1) & COUNTER_MASK
        self.depth = 0
        # Measured before re-enabling: a pending ISR runs the moment we enable.
        self.port.enable_irq(self.state)
        if self.pending is not None:
            self.replay(self)
        # (Returns None: an exception inside `with` propagates.)

    # The context manager is the same pair: two names, no extra functions or call level.
    __enter__ = enter
    __exit__ = exit
