# The simulator's peripherals, as the hardware sees them: GPIO pads, timer compares,
# injected interrupt trains, and the console UART's RX FIFO. The firmware reaches them
# through simboard.machine (MicroPython's machine API); the bench drives them from outside.
#
# No f-strings (keep the same syntax rules as the core).
from array import array

from simboard.clock import ticks_us, ticks_add, ticks_diff

PACE_GAP_US = 20         # paced trains (EdgeTrain) pace gaps at least this long
PACE_HOLD_MAX_US = 50000  # ... waiting at most this long for a pending interrupt
PACE_RETRY_US = 50
RISE_LOG = 1024   # rising-edge timestamps a pad keeps (bench ground truth for latency)
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
        # edges on the wire, whatever the IRQ does: the bench's ground truth, and the
        # count a pulse-counter unit (esp32 PCNT, machine.Counter) on this pad would read
        self.rises = 0
        self.falls = 0
        # log_rises(): ticks_us of rising edge k at rise_t[k % RISE_LOG], when the
        # stimulus drove it, so a benchmark can time edge -> task for any path
        self.rise_t = None

    def log_rises(self):
        """Start keeping rising-edge timestamps (RISE_LOG of them, a ring). Returns it."""
        if self.rise_t is None:
            self.rise_t = array("i", [0] * RISE_LOG)
        return self.rise_t

    def drive(self, v):
        """An external signal on an input pin (bench); edges raise the pin's IRQ line."""
        v = 1 if v else 0
        old = self.level
        self.level = v
        if old != v:
            if v:
                if self.rise_t is not None:
                    self.rise_t[self.rises % RISE_LOG] = ticks_us()
                self.rises += 1
            else:
                self.falls += 1
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
    bursts, pulse trains and quadrature are all built from these.

    paced (bench quad): the simulated CPU and this generator share one timeline. On a
    board the CPU is never descheduled; here the host may leave the VM's threads without
    CPU for milliseconds, and a generator that catches up afterwards bunches steps
    microseconds apart, which no turning shaft does. So a paced step (a gap of
    PACE_GAP_US or more before it; a bounce burst's 1 us edges still come as a burst)
    waits while an interrupt the train raised is still pending at the controller (at most
    PACE_HOLD_MAX_US: a firmware that never takes it does not stall the bench), and a
    step driven late shifts the rest of the list by its lateness. The total shift is
    counted (EdgeTrain.slip_us, bench `state`). Unpaced trains (pulse, bounce, train)
    catch up instead, as an outside signal generator does."""

    slip_us = 0        # total shift of every paced train so far (class-wide)

    def __init__(self, pads, steps, paced=None):
        self.pads = pads          # steps index into pads: (offset_us, pad_index, level)
        if not isinstance(steps, Steps):   # a plain list of tuples (e.g. a pulse)
            st = Steps(len(steps))
            for off, k, v in steps:
                st.add(off, k, v)
            steps = st
        self.steps = steps
        # a paced Steps list asks for pacing itself (bench quad), so Hardware.stimulate
        # needs no flag
        self.paced = getattr(steps, "paced", False) if paced is None else paced
        self.i = 0
        self.start = ticks_us()
        self.driven = 0
        self.hold_since = None

    def _held(self):
        for p in self.pads:
            L = p.line
            if L is not None and L.pending and L.enabled and L.handler is not None:
                return True
        return False

    def due(self, now):
        """Drive every step whose time has come; return us until the next, or None.
        Reads the step arrays directly: no tuple per edge (allocation means GC pauses on
        the VM, and this runs for every edge of a 100 000-edge storm)."""
        st = self.steps
        offs = st.off
        kv = st.kv
        n = st.n
        while self.i < n:
            i = self.i
            off = offs[i]
            d = ticks_diff(ticks_add(self.start, off), now)
            if d > 0:
                return d
            if self.paced and i and off - offs[i - 1] >= PACE_GAP_US:
                if self._held():
                    if self.hold_since is None:
                        self.hold_since = now
                    if ticks_diff(now, self.hold_since) < PACE_HOLD_MAX_US:
                        return PACE_RETRY_US
                self.hold_since = None
                if d < 0:
                    self.start = ticks_add(self.start, -d)
                    EdgeTrain.slip_us += -d
            c = kv[i]
            self.pads[c >> 1].drive(c & 1)
            self.driven += 1
            self.i = i + 1
        return None


class Steps:
    """A compact EdgeTrain step list: offsets in an array, pad and level in a bytearray
    (5 bytes a step, no object per step: on the VM a 100 000-step list of tuples took
    ~8 s of allocation and GC to build, longer than the bench client waits for a reply).
    Indexing gives (offset_us, pad_index, level).
    paced: see EdgeTrain."""

    def __init__(self, capacity, paced=False):
        self.off = array("i", range(capacity))   # overwritten by add
        self.kv = bytearray(capacity)
        self.n = 0
        self.paced = paced

    def add(self, off, k, v):
        """Append one step (no tuple: building a 100 000-step list of tuples took the VM
        8 s of allocation and GC)."""
        i = self.n
        self.off[i] = off
        self.kv[i] = (k << 1) | (1 if v else 0)
        self.n = i + 1

    def __len__(self):
        return self.n

    def append(self, step):
        self.add(step[0], step[1], step[2])

    def __getitem__(self, i):
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError("step index out of range")
        c = self.kv[i]
        return (self.off[i], c >> 1, c & 1)


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
