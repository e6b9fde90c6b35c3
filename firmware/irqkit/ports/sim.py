# The simulator port: irqkit's port interface on the simulator board's hardware model
# (simboard/hw.py, the board's ROM): an interrupt controller run by hardware threads, virtual pins
# P0..P7 driven over the bench channel, timers, the console pty as the serial link.
#
# Handlers run as hard ISRs: in a hardware thread, one at a time, highest priority first,
# with micropython.heap_lock() held (per-thread on the unix VM: an allocating handler
# raises MemoryError, which the controller reports and answers by disabling that IRQ).
# On CPython the same code runs; heap_lock is a no-op there (HEAP_LOCK_REAL is False).
import sys

from irqkit.compat import ticks_us, HEAP_LOCK_REAL
from simboard import hw as sim_hw  # the board's ROM, like `machine`


class SimPort:
    name = "sim"
    ticks_hz = 1000000

    def __init__(self, hw=None):
        self.hw = hw if hw is not None else sim_hw.board()
        self.ctrl = self.hw.ctrl
        self.runtime = sys.implementation.name
        self.heap_lock_real = HEAP_LOCK_REAL
        self.ticks_us = ticks_us
        self._uart = self.hw.uart

    # -- masking ----------------------------------------------------------------------
    def disable_irq(self):
        return self.ctrl.disable_irq()

    def enable_irq(self, state):
        self.ctrl.enable_irq(state)

    def set_basepri(self, prio):
        """Controller-level BASEPRI: lines with priority < prio stay pending (None: off)."""
        self.ctrl.set_basepri(prio)

    # -- idle / wake ------------------------------------------------------------------
    def idle(self, timeout_us):
        self.hw.idle(timeout_us)

    def wake(self):
        self.hw.wake()

    # -- sources ------------------------------------------------------------------------
    def gpio_irq(self, pin, trigger, handler, hard=True, priority=None):
        self.hw.gpio_irq(pin, trigger, handler, priority)
        return "hard"

    def timer(self, period_us, periodic, handler, hard=True, priority=None):
        t = self.hw.timer(period_us, periodic, handler, priority)
        t.mode = "hard"
        return t

    def uart_rx_irq(self, handler, priority=None):
        self.hw.uart_rx_irq(handler, priority)
        return "hard"

    def soft_irq(self, handler, priority=None, line="SWI"):
        """Attach handler to a software-interrupt line (raised by the bench's `soft N RATE`
        or by pend(line))."""
        self.ctrl.attach(line, handler, None, priority)
        return "hard"

    def nmi_irq(self, handler):
        """Attach handler to the NMI line: it runs even while interrupts are disabled."""
        self.ctrl.attach("NMI", handler, None, 255, True)
        return "hard"

    def pend(self, line):
        """Set a line pending from code (like NVIC->ISPR)."""
        self.ctrl.pend(line)

    def detach(self, line):
        self.ctrl.detach(line)

    def kbd_intr(self, ch):
        """micropython.kbd_intr for the simulated console (-1: Ctrl-C is data)."""
        self.hw.kbd_intr(ch)

    def pin_write(self, pin, value):
        self.hw.pin_write(pin, value)

    def pin_read(self, pin):
        return self.hw.pin(pin).level

    # -- serial link (the console) --------------------------------------------------------
    def serial_read(self, buf):
        return self._uart.readinto(buf)

    def serial_any(self):
        return self._uart.available()

    def serial_write(self, data):
        sim_hw.console_write(data)

    # -- reporting ------------------------------------------------------------------------
    def state(self):
        return self.ctrl.state()

    def counters(self):
        """Port counters for report.stats (controller errors, UART drops)."""
        c = self.ctrl
        return {"irq_errors": c.errors, "uart_rx": self._uart.received,
                "uart_dropped": self._uart.dropped}
