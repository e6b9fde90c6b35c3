# The MicroPython board port: machine.Pin.irq, machine.Timer, machine.disable_irq.
#
# Hard IRQs are asked for first; a port that refuses them (esp32: TypeError for hard=,
# older timers: no hard= at all) gets a soft IRQ instead and the mode in force is
# returned, so the harness can report it. Soft IRQs go through MicroPython's scheduler
# queue (4-8 deep) whose overflow is silent — irqkit's own rings and counters sit after
# it, but a burst that overflows *that* queue is invisible to everyone: prefer hard.
import sys

import machine

from irqkit.compat import ticks_us

try:
    import micropython
    # One traceback's worth of memory for exceptions raised in hard ISRs.
    micropython.alloc_emergency_exception_buf(100)
except (ImportError, AttributeError):
    pass

_TRIGGERS = {"rising": "IRQ_RISING", "falling": "IRQ_FALLING"}


def _pin_trigger(name):
    Pin = machine.Pin
    if name == "both":
        return Pin.IRQ_RISING | Pin.IRQ_FALLING
    return getattr(Pin, _TRIGGERS[name])


class MachinePort:
    name = "machine"
    ticks_hz = 1000000

    def __init__(self, timer_id=-1, uart=None, stream=None):
        """timer_id: the machine.Timer id the board file names (-1: virtual timer).
        uart: a machine.UART for the link (None: the USB/console stream).
        stream: the console stream (default sys.stdin/sys.stdout buffers)."""
        self.runtime = sys.implementation.name
        self.timer_id = timer_id
        self.uart = uart
        self.pins = {}
        self.ticks_us = ticks_us
        self._in = getattr(sys.stdin, "buffer", sys.stdin) if stream is None else stream
        self._out = getattr(sys.stdout, "buffer", sys.stdout) if stream is None else stream
        self._poll = None

    # -- PRIMASK ----------------------------------------------------------------------------
    def disable_irq(self):
        return machine.disable_irq()

    def enable_irq(self, state):
        machine.enable_irq(state)

    # -- idle: WFI. Any interrupt wakes it (SysTick at the latest, 1 ms), so an event that
    # lands between the scheduler's "nothing pending" check and this call waits at most
    # one tick: wake() has nothing to do.
    def idle(self, timeout_us):
        machine.idle()

    def wake(self):
        pass

    # -- sources -----------------------------------------------------------------------------
    def gpio_irq(self, pin, trigger, handler, hard=True, priority=None):
        p = machine.Pin(pin, machine.Pin.IN)
        self.pins[pin] = p
        trig = _pin_trigger(trigger)
        if hard:
            try:
                p.irq(handler=handler, trigger=trig, hard=True)
                return "hard"
            except (TypeError, ValueError):
                pass  # this port has no hard pin IRQs: fall back, and say so
        p.irq(handler=handler, trigger=trig)
        return "soft"

    def timer(self, period_us, periodic, handler, hard=True, priority=None):
        T = machine.Timer
        mode = T.PERIODIC if periodic else T.ONE_SHOT
        # integer Hz where exact: not every port takes a float freq
        freq = 1000000 // period_us if 1000000 % period_us == 0 else 1000000 / period_us
        t = T(self.timer_id)
        if hard:
            try:
                t.init(mode=mode, freq=freq, callback=handler, hard=True)
                return _TimerHandle(t, "hard")
            except (TypeError, ValueError):
                pass
        t.init(mode=mode, freq=freq, callback=handler)
        return _TimerHandle(t, "soft")

    def uart_rx_irq(self, handler, priority=None):
        u = self.uart
        if u is None or not hasattr(u, "irq"):
            raise NotImplementedError("no UART RX IRQ on this link (USB CDC): poll it")
        trig = getattr(u, "IRQ_RXIDLE", 0) or getattr(u, "IRQ_RX", 0)
        try:
            u.irq(handler=handler, trigger=trig, hard=True)
            return "hard"
        except (TypeError, ValueError):
            u.irq(handler=handler, trigger=trig)
            return "soft"

    def pin_write(self, pin, value):
        p = self.pins.get(pin)
        if p is None:
            p = self.pins[pin] = machine.Pin(pin, machine.Pin.OUT)
        p.value(value)

    # -- serial link ---------------------------------------------------------------------------
    def serial_read(self, buf):
        if self.uart is not None:
            return self.uart.readinto(buf) or 0
        if self._poll is None:
            import select
            self._poll = select.poll()
            self._poll.register(self._in, select.POLLIN)
        n = 0
        while n < len(buf) and self._poll.poll(0):
            b = self._in.read(1)
            if not b:
                break
            buf[n] = b[0]
            n += 1
        return n

    def serial_any(self):
        if self.uart is not None:
            return self.uart.any()
        if self._poll is None:
            import select
            self._poll = select.poll()
            self._poll.register(self._in, select.POLLIN)
        return len(self._poll.poll(0))

    def serial_write(self, data):
        (self.uart or self._out).write(data)


class _TimerHandle:
    def __init__(self, timer, mode):
        self.timer = timer
        self.mode = mode

    def deinit(self):
        self.timer.deinit()
