# Hardware interrupt sources: GPIO edge, timer, UART RX. Each installs its ISR through the
# port when added to a scheduler; the ISR body is Source.capture (timestamp + ring slot).
from irqkit.compat import ticks_us, ticks_diff, ticks_add, wrap
from irqkit.source import Source, POLICY_COUNT, ST_TRIGGERS, ST_DEBOUNCED


class GpioSource(Source):
    """Edge on a pin. Debounce is by timestamps in the ISR (never a sleep): an edge less
    than debounce_us after the last accepted one is counted in `debounced` and ignored.
    Data word a = the pin level read in the ISR."""
    kind = "gpio"

    def __init__(self, name, task, pin, trigger="rising", debounce_us=0, prio=0,
                 capacity=8, policy=POLICY_COUNT, nmi=False, hard=True):
        Source.__init__(self, name, task, prio, capacity, policy, nmi)
        self.pin = pin
        self.edge = trigger       # not .trigger: that is Source.trigger(), a software pend
        self.debounce_us = debounce_us
        self.hard = hard
        self.last = ticks_add(ticks_us(), -0x20000000)  # "long ago"; set here so the ISR's store never grows the dict
        self.isr = self._edge

    def install(self, port):
        self.mode = port.gpio_irq(self.pin, self.edge, self.isr, self.hard, self.prio)

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


class TimerSource(Source):
    """Periodic or one-shot timer. Data word a = tick number (30-bit, wraps)."""
    kind = "timer"

    def __init__(self, name, task, period_us, periodic=True, prio=0, capacity=8,
                 policy=POLICY_COUNT, nmi=False, hard=True):
        Source.__init__(self, name, task, prio, capacity, policy, nmi)
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


class UartSource(Source):
    """UART RX interrupt: one event per interrupt (the port's RX IRQ may cover several
    bytes; the task reads them with port.serial_read)."""
    kind = "uart"

    def install(self, port):
        self.mode = port.uart_rx_irq(self.isr, self.prio) or "hard"  # Source.isr
