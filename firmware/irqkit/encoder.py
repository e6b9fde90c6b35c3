# Quadrature encoder source: two pins (A, B), an interrupt on both edges of each, one ISR
# that decodes the Gray-code state transition table and keeps the position. No step is
# lost while the ISR runs at least once per step: contact bounce on the changing pin only
# moves the state back and forth between two neighbours (+1 -1 +1 ...), which the table
# sums to the net step; an ISR that runs late reads the levels as they are then, and
# edges merged into one interrupt (a pin's pending bit) are covered by that read.
# A transition that skips a state (both pins changed since the last ISR: the ISR fell a
# whole step behind) has no direction: it is counted in `skips` and charged as two steps
# in the direction of the last real step (what the shaft did if it kept turning); the
# position is then exact only if it did.
#
# State s = A << 1 | B. Forward (A leads) is 00 -> 10 -> 11 -> 01 -> 00: 0 -> 2 -> 3 -> 1.
# The ISR allocates nothing: levels read through the port's pin objects (a method call),
# the table is bytes, counters are ints below 2**29. Each position change also pends an
# event (a = position, b = the change; POLICY_COALESCE by default: a fast spin merges
# notifications, never the position) for a task; read the position itself with
# position().
from irqkit.compat import const, COUNTER_MASK
from irqkit.clock import ticks_us
from irqkit.hwsource import HwSource
from irqkit.source import POLICY_COALESCE

# _T[old * 4 + new]: 0 no change, 1 forward, 2 reverse, 3 skipped a state
_T = b"\x00\x02\x01\x03\x01\x00\x03\x02\x02\x03\x00\x01\x03\x01\x02\x00"
_FWD = const(1)
_REV = const(2)


class EncoderSource(HwSource):
    kind = "encoder"

    def __init__(self, name, task, pin_a, pin_b, prio=0, capacity=4,
                 policy=POLICY_COALESCE, hard=True):
        HwSource.__init__(self, name, task, prio, capacity, policy)
        self.pin_a = pin_a
        self.pin_b = pin_b
        self.hard = hard
        self.pa = None
        self.pb = None
        self.state = 0
        self.pos = 0
        self.last_dir = 1
        self.edges = 0     # ISR entries (both pins)
        self.skips = 0     # transitions that skipped a state (charged as 2 steps)
        self.isr = self._edge

    def install(self, port):
        m = port.gpio_irq(self.pin_a, "both", self.isr, self.hard, self.prio)
        port.gpio_irq(self.pin_b, "both", self.isr, self.hard, self.prio)
        self.mode = m
        self.pa = port.pins[self.pin_a]
        self.pb = port.pins[self.pin_b]
        self.state = (1 if self.pa.value() else 0) * 2 + (1 if self.pb.value() else 0)

    def uninstall(self, port):
        port.gpio_irq(self.pin_a, "both", None, self.hard, self.prio)
        port.gpio_irq(self.pin_b, "both", None, self.hard, self.prio)

    def _edge(self, pin_obj):
        t = ticks_us()
        port = self.crit.port
        m = port.disable_irq()    # A's and B's ISRs share the state: one at a time
        self.edges = (self.edges + 1) & COUNTER_MASK
        s = (2 if self.pa.value() else 0) + (1 if self.pb.value() else 0)
        c = _T[self.state * 4 + s]
        self.state = s
        d = 0
        if c == _FWD:
            d = 1
        elif c == _REV:
            d = -1
        elif c:
            self.skips = (self.skips + 1) & COUNTER_MASK
            d = self.last_dir * 2
        if d:
            if c != 3:
                self.last_dir = d
            self.pos += d
        p = self.pos
        port.enable_irq(m)
        if d and not self.soft_busy(t, p, d):
            self.capture(t, p, d)

    def position(self):
        return self.pos

    def set_position(self, p=0):
        port = self.crit.port
        m = port.disable_irq()
        self.pos = p
        port.enable_irq(m)

    def stats(self):
        return {"position": self.pos, "edges": self.edges, "skips": self.skips}
