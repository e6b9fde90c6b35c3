# In-process port: no hardware. Tests (and the CPython fallback) play the hardware by
# calling fire()/edge()/tick() — from another thread if they like. disable_irq is a lock
# that fire() also takes, so an "ISR" never runs inside a critical section, as on a CPU.
from irqkit.compat import ticks_us, sleep_us


try:
    import _thread
except ImportError:
    _thread = None

class _NoLock:
    def acquire(self):
        return True

    def release(self):
        pass


class _Pin:
    def __init__(self, name):
        self.name = name
        self.level = 0

    def value(self):
        return self.level


class _Timer:
    def __init__(self, port, period_us, periodic, handler):
        self.port = port
        self.period_us = period_us
        self.periodic = periodic
        self.handler = handler
        self.mode = "hard"

    def deinit(self):
        if self in self.port.timers:
            self.port.timers.remove(self)


class InprocPort:
    name = "inproc"
    ticks_hz = 1000000

    def __init__(self):
        import sys
        self.runtime = sys.implementation.name
        self.lock = _thread.allocate_lock() if _thread else _NoLock()
        self.owner = None
        self.depth = 0
        self.woken = False
        self.wakes = 0
        self.pins = {}
        self.pin_handlers = {}
        self.timers = []
        self.uart_handler = None
        self.rx = bytearray()
        self.tx = bytearray()
        self.ticks_us = ticks_us

    # PRIMASK as a re-entrant lock: nested disable_irq from the same thread only counts.
    def _me(self):
        return _thread.get_ident() if _thread else 0

    def disable_irq(self):
        me = self._me()
        if self.owner == me:
            self.depth += 1
            return 1
        self.lock.acquire()
        self.owner = me
        self.depth = 1
        return 0

    def enable_irq(self, state):
        if state:
            self.depth -= 1
            return
        self.depth = 0
        self.owner = None
        self.lock.release()

    def fire(self, handler, arg=None):
        """Run handler(arg) as an ISR: waits while interrupts are disabled."""
        state = self.disable_irq()
        try:
            handler(arg)
        finally:
            self.enable_irq(state)

    def idle(self, timeout_us):
        # A test port: short sleeps until woken or the budget runs out.
        left = 1000000 if timeout_us is None else timeout_us
        while not self.woken and left > 0:
            step = 200 if left > 200 else left
            sleep_us(step)
            left -= step
        self.woken = False

    def wake(self):
        self.woken = True

    def gpio_irq(self, pin, trigger, handler, hard=True, priority=None):
        if pin not in self.pins:
            self.pins[pin] = _Pin(pin)
        self.pin_handlers[pin] = (trigger, handler)
        return "hard" if hard else "soft"

    def edge(self, pin, level):
        """Drive a pin; run its handler when the edge matches the trigger."""
        p = self.pins[pin]
        old = p.level
        p.level = level
        if old == level or pin not in self.pin_handlers:
            return
        trig, handler = self.pin_handlers[pin]
        if trig == "both" or (trig == "rising") == (level == 1):
            self.fire(handler, p)

    def timer(self, period_us, periodic, handler, hard=True, priority=None):
        t = _Timer(self, period_us, periodic, handler)
        self.timers.append(t)
        return t

    def tick(self, t):
        self.fire(t.handler, t)
        if not t.periodic:
            t.deinit()

    def uart_rx_irq(self, handler, priority=None):
        self.uart_handler = handler
        return "hard"

    def gpio_irq_off(self, pin):
        self.pin_handlers.pop(pin, None)

    def uart_rx_irq_off(self):
        self.uart_handler = None

    def receive(self, data):
        self.rx.extend(data)
        if self.uart_handler:
            self.fire(self.uart_handler, None)

    def serial_read(self, buf):
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def serial_any(self):
        return len(self.rx)

    def serial_write(self, data):
        self.tx.extend(data)

    def pin_write(self, pin, value):
        if pin not in self.pins:
            self.pins[pin] = _Pin(pin)
        self.pins[pin].level = value
