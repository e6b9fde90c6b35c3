# Critical sections over the port's disable_irq/enable_irq, nestable, and timed: the
# longest time interrupts were held off is the biggest single contributor to interrupt
# latency, so it is measured on every outermost exit and kept as `max_us`.
# (NMI handlers must not use them: an NMI can preempt a section that is in progress.)
from irqkit.compat import ticks_us, ticks_diff, wrap


class Critical:
    def __init__(self, port):
        self._disable = port.disable_irq
        self._enable = port.enable_irq
        self.depth = 0
        self.state = 0       # what disable_irq returned at the outermost enter
        self.t0 = 0
        self.max_us = 0      # longest outermost critical section, us
        self.entries = 0     # outermost critical sections entered
        self.enter = self._enter  # bound once: the pair is used from ISRs too
        self.exit = self._exit

    def _enter(self):
        state = self._disable()
        # Interrupts are off from here: the depth and timestamps below cannot race.
        if self.depth == 0:
            self.state = state
            self.t0 = ticks_us()
        self.depth += 1

    def _exit(self):
        depth = self.depth - 1
        if depth < 0:
            raise RuntimeError("critical exit without enter")
        self.depth = depth
        if depth == 0:
            dt = ticks_diff(ticks_us(), self.t0)
            if dt > self.max_us:
                self.max_us = dt
            self.entries = wrap(self.entries + 1)
            # Measure before re-enabling: a pending ISR runs the moment we enable.
            self._enable(self.state)
        # Inner exits leave interrupts off: the outermost exit restores them.

    def __enter__(self):
        self._enter()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._exit()
        return False
