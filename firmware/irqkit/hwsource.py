# Hardware interrupt sources: GPIO edge, timer, UART RX. Each installs its ISR through the
# port when added to a scheduler; the ISR body is Source.capture (timestamp + ring slot).
# These are the sources a port may deliver in soft mode (micropython.schedule: esp32 pins,
# soft timers), so their ISR entries check HwSource.soft_busy first (see critical.py).
from irqkit.compat import ticks_us, ticks_diff, ticks_add, wrap, COUNTER_MASK
from irqkit.source import (Source, POLICY_COUNT, ST_TRIGGERS, ST_DEBOUNCED, R_DEFER_N,
                           R_DEFER_T, R_DEFER_A, R_DEFER_B, R_DEFERRED)


class HwSource(Source):
    """A source whose ISR a port calls, hard or soft."""
    parked = None   # next source on the Critical's parked list (soft_busy)

    def soft_busy(self, t, a, b):
        """For soft-mode ISR entries: True when a critical section (or a capture) is in
        progress on the main thread this scheduled handler interrupted; the event is
        then parked in ctl (the first one's data kept, the rest counted) and replayed
        by the outermost exit. False: go ahead and capture."""
        g = self.crit
        if self.mode != "soft" or not g.depth:
            return False
        c = self.ctl
        if not c[R_DEFER_N]:   # first parked event: keep its data, join the parked list
            c[R_DEFER_T] = t
            c[R_DEFER_A] = a
            c[R_DEFER_B] = b
            self.parked = g.pending
            g.pending = self
            g.replay = replay  # a plain function in an existing attribute: no allocation
        c[R_DEFER_N] += 1
        c[R_DEFERRED] = (c[R_DEFERRED] + 1) & COUNTER_MASK
        return True


    def isr(self, arg):
        t = ticks_us()
        if not self.soft_busy(t, 0, 0):
            self.capture(t, 0, 0)


class GpioSource(HwSource):
    """Edge on a pin. Debounce is by timestamps in the ISR (never a sleep): an edge less
    than debounce_us after the last accepted one is counted in `debounced` and ignored.
    Data word a = the pin level read in the ISR."""
    kind = "gpio"

    def __init__(self, name, task, pin, trigger="rising", debounce_us=0, prio=0,
                 capacity=8, policy=POLICY_COUNT, nmi=False, hard=True):
        HwSource.__init__(self, name, task, prio, capacity, policy, nmi)
        self.pin = pin
        self.edge = trigger       # not .trigger: that is Source.trigger(), a software pend
        self.debounce_us = debounce_us
        self.hard = hard
        self.last = ticks_add(ticks_us(), -0x20000000)  # "long ago"; set here so the ISR's store never grows the dict
        self.isr = self._edge

    def install(self, port):
        self.mode = port.gpio_irq(self.pin, self.edge, self.isr, self.hard, self.prio)

    def uninstall(self, port):
        port.gpio_irq_off(self.pin)

    def _edge(self, pin_obj):
        t = ticks_us()
        if self.debounce_us:
            # ticks wrap every 2**30 us: an edge more than half a period (~9 min) after
            # the last one shows a negative difference -- that is "long ago", accept it.
            d = ticks_diff(t, self.last)
            if 0 <= d < self.debounce_us:
                # counted as a trigger too (capture counts the accepted ones), masked:
                # trigger() from another context writes ST_TRIGGERS as well
                port = self.crit.port
                state = port.disable_irq()
                st = self.st
                st[ST_TRIGGERS] = wrap(st[ST_TRIGGERS] + 1)
                st[ST_DEBOUNCED] = wrap(st[ST_DEBOUNCED] + 1)
                port.enable_irq(state)
                return
        self.last = t
        level = pin_obj.value() if pin_obj is not None else 0
        if not self.soft_busy(t, level, 0):
            self.capture(t, level, 0)


class TimerSource(HwSource):
    """Periodic or one-shot timer. Data word a = tick number (30-bit, wraps)."""
    kind = "timer"

    def __init__(self, name, task, period_us, periodic=True, prio=0, capacity=8,
                 policy=POLICY_COUNT, nmi=False, hard=True):
        HwSource.__init__(self, name, task, prio, capacity, policy, nmi)
        self.period_us = period_us
        self.periodic = periodic
        self.hard = hard
        self.ticks = 0
        self.timer = None
        self.isr = self._tick

    def install(self, port):
        self.timer = port.timer(self.period_us, self.periodic, self.isr, self.hard, self.prio)
        self.mode = getattr(self.timer, "mode", "hard" if self.hard else "soft")

    def uninstall(self, port):
        if self.timer is not None:
            self.timer.deinit()
            self.timer = None

    def _tick(self, tim):
        t = ticks_us()
        n = wrap(self.ticks + 1)
        self.ticks = n
        if not self.soft_busy(t, n, 0):
            self.capture(t, n, 0)


class UartSource(HwSource):
    """UART RX interrupt: one event per interrupt (the port's RX IRQ may cover several
    bytes; the task reads them with port.serial_read)."""
    kind = "uart"

    def install(self, port):
        self.mode = port.uart_rx_irq(self.isr, self.prio) or "hard"  # HwSource.isr

    def uninstall(self, port):
        port.uart_rx_irq_off()


def replay(g):
    """Critical.exit's replay (g: the Critical; main loop, depth 0): capture the events
    soft-mode ISRs parked while a section was held, source by source along the parked
    list. The first parked event of a source keeps its timestamp and data; later ones
    are replayed with the same (their occurrence is what must not be lost)."""
    while g.pending is not None:
        s = g.pending
        g.pending = s.parked
        s.parked = None
        c = s.ctl
        n = c[R_DEFER_N]
        c[R_DEFER_N] = 0  # depth is 0: no soft ISR parks while we read these
        t = c[R_DEFER_T]
        a = c[R_DEFER_A]
        b = c[R_DEFER_B]
        while n:
            s.capture(t, a, b)
            n -= 1
