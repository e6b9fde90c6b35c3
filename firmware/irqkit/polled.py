# A polled source: a check function the scheduler calls every interval_us, for devices
# where polling beats an interrupt (the seed's 4.4 us vs 7.6 us point) and for ports
# without one (CircuitPython's hardware event queues are drained this way). A module of
# its own: the scheduler needs only Source.kind == "polled", and a small board that polls
# nothing does not pay for it.
from irqkit.compat import COUNTER_MASK
from irqkit.clock import ticks_us, ticks_diff, ticks_add
from irqkit.source import Source, POLICY_COUNT


class PolledSource(Source):
    """A check function the scheduler calls every interval_us; a truthy result becomes an
    event (data word a = the result if it is an int). For devices where polling beats an
    interrupt, or ports without one. The check runs in the main loop, so it may allocate."""
    kind = "polled"
    mode = "polled"

    def __init__(self, name, task, check, interval_us, prio=0, capacity=8, policy=POLICY_COUNT):
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
            self.capture(now, n & COUNTER_MASK if isinstance(n, int) else 1, 0)
        return self.interval_us
