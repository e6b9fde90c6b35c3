# The simulator's peripherals, as the hardware sees them: GPIO pads, timer compares,
# injected interrupt trains, and the console UART's RX FIFO. The firmware reaches them
# through simboard.machine (MicroPython's machine API); the bench drives them from outside.
#
# No f-strings (keep the same syntax rules as the core).
from simboard.clock import ticks_us, ticks_add, ticks_diff

EDGE_RISING = 1
EDGE_FALLING = 2
TRIGGERS = {"rising": EDGE_RISING, "falling": EDGE_FALLING, "both": EDGE_RISING | EDGE_FALLING}


class Pad:
    """A GPIO pad: the level on the wire, who drives it, and its edge detector.
    machine.Pin is the firmware's view of it; the bench drives input pads."""

    def __init__(self, hw, name):
        self.hw = hw
        self.name = name
        self.level = 0
        self.output = 0
        self.trigger = 0   # EDGE_RISING | EDGE_FALLING
        self.line = None

    def drive(self, v):
        """An external signal on an input pin (bench); edges raise the pin's IRQ line."""
        v = 1 if v else 0
        old = self.level
        self.level = v
        if old != v and self.line is not None:
            edge = EDGE_RISING if v else EDGE_FALLING
            if self.trigger & edge:
                self.hw.ctrl.raise_line(self.line)


class TimerModel:
    """A counter and its compare: raises its line every period_us (or once)."""

    def __init__(self, hw, name, period_us, periodic, line):
        self.hw = hw
        self.name = name
        self.period_us = period_us
        self.periodic = periodic
        self.line = line
        self.deadline = ticks_add(ticks_us(), period_us)
        self.active = 1
        self.fired = 0

    def deinit(self):
        self.active = 0
        self.hw.timers_changed()


class EdgeTrain:
    """Timed stimulus on a pad, run by the hardware thread's clock (not the bench loop):
    a list of (offset_us from the start, level) steps driven in order. Pulses, bounce
    bursts, pulse trains and quadrature are all built from these."""

    def __init__(self, pads, steps):
        self.pads = pads          # steps index into pads: (offset_us, pad_index, level)
        self.steps = steps
        self.i = 0
        self.start = ticks_us()
        self.driven = 0

    def due(self, now):
        """Drive every step whose time has come; return us until the next, or None."""
        while self.i < len(self.steps):
            off, k, v = self.steps[self.i]
            d = ticks_diff(ticks_add(self.start, off), now)
            if d > 0:
                return d
            self.pads[k].drive(v)
            self.driven += 1
            self.i += 1
        return None


class Injection:
    def __init__(self, line, n, period_us):
        self.line = line
        self.left = n
        self.period_us = period_us
        self.deadline = ticks_us()


class Uart:
    """RX FIFO filled by the UART thread from the console (fd 0)."""

    SIZE = 4096

    def __init__(self, hw):
        self.hw = hw
        self.fifo = bytearray(self.SIZE)
        self._mv = memoryview(self.fifo)
        self.head = 0   # written by the UART thread
        self.tail = 0   # read by the main program
        self.dropped = 0
        self.received = 0
        self.line = None
        self.on_rx = None   # called after a batch of bytes arrived (stdio's RX level)

    def available(self):
        return (self.head - self.tail) % self.SIZE

    def space(self):
        return (self.tail - self.head - 1) % self.SIZE

    def put(self, b):
        nxt = (self.head + 1) % self.SIZE
        if nxt == self.tail:
            self.dropped += 1
            return
        self.fifo[self.head] = b
        self.head = nxt
        self.received += 1

    def put_from(self, mv, n):
        """Append mv[0:n] (a memoryview) by slice; the caller checked space() >= n.
        One writer (the UART lock's holder): head moves once, after the bytes are in."""
        h = self.head
        k = self.SIZE - h
        if k > n:
            k = n
        self.fifo[h:h + k] = mv[0:k]
        if k < n:
            self.fifo[0:n - k] = mv[k:n]
        self.head = (h + n) % self.SIZE
        self.received += n

    def readinto(self, buf):
        """Move waiting bytes into buf (bytearray or memoryview) by slice: at most two
        copies (the FIFO wraps once), no per-byte loop."""
        t = self.tail
        h = self.head
        n = (h - t) % self.SIZE
        lim = len(buf)
        if n > lim:
            n = lim
        if not n:
            return 0
        k = self.SIZE - t
        if k > n:
            k = n
        try:
            buf[0:k] = self._mv[t:t + k]
            if k < n:
                buf[k:n] = self._mv[0:n - k]
        except MemoryError:
            # the heap is locked (a caller proving its own path allocation-free, as a
            # board's C readinto is): slices allocate on the VM, so copy byte by byte
            fifo = self.fifo
            for i in range(n):
                buf[i] = fifo[t]
                t = (t + 1) % self.SIZE
        self.tail = (self.tail + n) % self.SIZE
        return n

    def discard_through_last(self, c):
        """Drop waiting bytes up to and including the last c (a consumed Ctrl-C)."""
        t = self.tail
        last = -1
        while t != self.head:
            if self.fifo[t] == c:
                last = t
            t = (t + 1) % self.SIZE
        if last >= 0:
            self.tail = (last + 1) % self.SIZE

    def getc(self):
        if self.tail == self.head:
            return -1
        c = self.fifo[self.tail]
        self.tail = (self.tail + 1) % self.SIZE
        return c
