# The port interface: everything the portable core needs from a platform.
#
# A port is one object. The core only calls the methods below; a port that lacks a
# facility raises NotImplementedError from that method (never at import time).
# Handlers passed to a port are *hard ISRs* where the platform allows: they take one
# argument (the pin / timer / uart object, or None), must not allocate, must not block,
# and return quickly. Ports take bound methods once (in constructors), because creating a
# bound method allocates.
#
# Ticks are MicroPython's wrapping ticks (period 2**30): use ticks_diff, never subtract.


class Port:
    name = "base"          # "machine", "sim", "circuitpython", "inproc", ...
    runtime = "unknown"    # sys.implementation.name of the VM running the firmware
    ticks_hz = 1000000     # resolution of ticks_us() timestamps in Hz (keypad: 1000)

    # -- time ---------------------------------------------------------------------------
    def ticks_us(self):
        raise NotImplementedError

    # -- interrupt masking (PRIMASK-like) ---------------------------------------------
    def disable_irq(self):
        """Disable interrupts; return the previous state for enable_irq. Nestable."""
        raise NotImplementedError

    def enable_irq(self, state):
        raise NotImplementedError

    # -- idle / wake ----------------------------------------------------------------------
    def idle(self, timeout_us):
        """Sleep until wake() is called or an interrupt arrives, at most timeout_us
        (None: no limit). Must not spin. May return early (spurious wake-ups are fine)."""
        raise NotImplementedError

    def wake(self):
        """ISR-safe and allocation-free: make a pending or future idle() return."""
        raise NotImplementedError

    # -- interrupt sources ----------------------------------------------------------------
    def gpio_irq(self, pin, trigger, handler, hard=True, priority=None):
        """Call handler(pin_obj) on an edge of `pin` (board pin name or number).
        trigger: "rising" | "falling" | "both". Returns "hard" or "soft": the mode in force
        (a port falls back from hard to soft when the platform refuses hard)."""
        raise NotImplementedError

    def timer(self, period_us, periodic, handler, hard=True, priority=None):
        """Start a timer calling handler(timer_obj) every period_us (or once).
        Returns an object with deinit()."""
        raise NotImplementedError

    def uart_rx_irq(self, handler, priority=None):
        """Call handler(uart_obj) when bytes arrive on the console/link serial port."""
        raise NotImplementedError

    def gpio_irq_off(self, pin):
        """Detach the handler gpio_irq installed on `pin` (Pin.irq(handler=None))."""
        raise NotImplementedError

    def uart_rx_irq_off(self):
        """Detach the handler uart_rx_irq installed (the console gets its bytes again)."""
        raise NotImplementedError

    def pin_write(self, pin, value):
        """Drive an output pin (response pin for GPIO latency measurement)."""
        raise NotImplementedError

    # -- serial link ---------------------------------------------------------------------
    def serial_read(self, buf):
        """Non-blocking: copy waiting bytes into buf (bytearray); return how many (0: none)."""
        raise NotImplementedError

    def serial_any(self):
        """Number of bytes waiting (or a truthy value), for ports that poll the link."""
        raise NotImplementedError

    def serial_write(self, data):
        """Write all of data (bytes, bytearray or memoryview)."""
        raise NotImplementedError
