# A debounced button: the pin's level counts once it has been steady for settle_us.
#
# GpioSource(debounce_us=) ignores edges for a while after an accepted one: that takes the
# first edge of a press but not the bounce of its release (a release chatters through
# rising edges too), so a rising-edge button counts releases as presses. This source
# waits for the contact to settle instead: its ISR (both edges) only stamps the edge and
# moves the settle deadline -- no ring slot, no allocation -- and the scheduler polls it
# (kind "polled") when the deadline passes: a steady level different from the last
# steady one is an event (a = the level, t_isr = the first edge of that burst). Every
# edge is counted (edges); presses and releases are counted apart.
from irqkit.compat import COUNTER_MASK
from irqkit.clock import ticks_us, ticks_diff, ticks_add
from irqkit.hwsource import HwSource
from irqkit.source import POLICY_COUNT

IDLE_US = 1000000   # no burst in progress: due "later" (the scheduler idles up to 100 ms)


class DebouncedPin(HwSource):
    kind = "polled"

    def __init__(self, name, task, pin, settle_us=5000, active=1, prio=0, capacity=8,
                 policy=POLICY_COUNT, hard=True):
        HwSource.__init__(self, name, task, prio, capacity, policy)
        self.pin = pin
        self.settle_us = settle_us
        self.active = active   # the level a press drives (1: pressed = high)
        self.hard = hard
        self.p = None
        self.steady = 1 - active
        self.edges = 0
        self.presses = 0
        self.releases = 0
        self.busy = False      # a burst in progress (set by the ISR, cleared by poll)
        self.t_first = 0       # first edge of the burst in progress
        now = ticks_us()
        self.due = ticks_add(now, IDLE_US)
        self.isr = self._edge

    def install(self, port):
        self.mode = port.gpio_irq(self.pin, "both", self.isr, self.hard, self.prio)
        self.p = port.pins[self.pin]
        self.steady = 1 if self.p.value() else 0

    def uninstall(self, port):
        port.gpio_irq(self.pin, "both", None, self.hard, self.prio)

    def _edge(self, pin_obj):
        t = ticks_us()
        port = self.crit.port
        m = port.disable_irq()
        self.edges = (self.edges + 1) & COUNTER_MASK
        if not self.busy:
            self.busy = True
            self.t_first = t
        self.due = ticks_add(t, self.settle_us)
        port.enable_irq(m)
        self.wake()

    def poll(self, now):
        """Main loop: once the line has been quiet for settle_us, report a new level."""
        if ticks_diff(self.due, now) > 0:
            return
        port = self.crit.port
        m = port.disable_irq()
        if not self.busy:
            self.due = ticks_add(now, IDLE_US)
            port.enable_irq(m)
            return
        if ticks_diff(self.due, ticks_us()) > 0:   # an edge moved the deadline meanwhile
            port.enable_irq(m)
            return
        self.busy = False
        t = self.t_first
        self.due = ticks_add(now, IDLE_US)
        v = 1 if self.p.value() else 0   # read with the ISR held off: the settled level
        port.enable_irq(m)
        if v == self.steady:
            return            # it bounced and came back: no change
        self.steady = v
        if v == self.active:
            self.presses += 1
        else:
            self.releases += 1
        self.capture(t, v, 0)

    def stats(self):
        return {"edges": self.edges, "presses": self.presses, "releases": self.releases,
                "steady": self.steady}
