# The CircuitPython port.
#
# CircuitPython has no user interrupt handlers and no micropython.schedule. Its interrupt
# layer is the core's own event capture, done in C from real pin interrupts or from the
# background scan: keypad (debounced edges with supervisor.ticks_ms timestamps, scanned
# every `interval`), countio.Counter (edge counts), pulseio.PulseIn (pulse widths in us).
# irqkit maps those queues onto its scheduler like this:
#
# * The "ISR" is a drain. Each hardware queue is drained by a PolledSource subclass below
#   (KeysSource, CounterSource, PulseInSource) that the scheduler polls like any other
#   polled source; the drain is the ISR body: it moves the captured events into the
#   source's ring with Source.capture (timestamp + slot + wake). Priorities, masking,
#   FIFO order and statistics then work exactly as on MicroPython.
# * Timestamps are the hardware's where it has one: a keypad event's timestamp (ms, the
#   supervisor.ticks_ms clock) is converted to the scheduler's ticks_us clock by its age
#   (resolution 1 ms, so `res_us` = 1000 on those sources), so the ISR->task latency a
#   KeysSource reports includes the time the event waited in keypad's queue. The scan
#   interval comes before that timestamp and is invisible to it: it is exposed as
#   `scan_interval_us` and belongs to the latency budget. countio and PulseIn have no
#   timestamps: their events carry the drain time (a CounterSource's `res_us` is its
#   drain interval; PulseIn's widths themselves are 1 us).
# * The clock itself: CircuitPython has no time.ticks_us, so irqkit's ticks_us is
#   time.monotonic_ns() // 1000 (compat_host), whose real resolution is often one
#   32 768 Hz subtick (~30.5 us). The port measures it at start (tick_resolution_us) and
#   HELLO reports it (info tick_res_us). monotonic_ns() is a long int, so taking a
#   timestamp allocates here -- acceptable only because CircuitPython runs no Python
#   ISRs: every "ISR" above is a drain in the main loop, never a heap-locked context.
# * Losses are counted: keypad's `overflowed` flag (it drops the newest event and only
#   says "at least one") becomes one trigger + one overflow in the source's ring counters,
#   so triggers == delivered + overflow still holds (the overflow is a lower bound).
#   Ring overflow is counted by the ring as everywhere.
# * The generic port interface (gpio_irq, timer) is implemented too, so portable code
#   (the latency responder) runs unchanged: those register "vectors" with the port, and
#   the port services them in poll() -- from idle() when the scheduler has nothing to do,
#   or between tasks if you add port.service_source() to the scheduler. Their handlers
#   stamp the drain time (the generic GpioSource takes its own timestamp), so prefer
#   KeysSource when the edge time matters. Both report mode "polled".
# * Critical sections: microcontroller.disable_interrupts()/enable_interrupts() with a
#   nesting depth kept here (disable_irq returns the previous depth).
# * Link: usb_cdc.data when boot.py enabled it (usb_cdc.enable(console=True, data=True)),
#   else usb_cdc.console. On the console a 0x03 byte raises KeyboardInterrupt, and
#   irqkit's binary frames may contain one: use the data channel for measurements.
#
# Modules the board lacks are None here; the sources that need them raise
# NotImplementedError when added to a scheduler. Tests on CPython + Blinka substitute the
# modules Blinka does not have by replacing the module-level names below (the seam).
#
# Syntax: MicroPython 1.9 level like the rest of firmware/ (no f-strings, annotations or
# typing import); a type checker still checks the calls against circuitpython-stubs.
import sys

from irqkit.compat import ticks_us, ticks_diff, ticks_add, wrap, sleep_us
from irqkit.ring import POLICY_COUNT, POLICY_COALESCE, R_OVERFLOW, R_MERGED, ST_TRIGGERS
from irqkit.polled import PolledSource

try:
    import board
except (ImportError, NotImplementedError, RuntimeError):  # Blinka on an unknown host
    board = None  # type: ignore
try:
    import digitalio
except (ImportError, NotImplementedError, RuntimeError):
    digitalio = None  # type: ignore
try:
    import keypad
except (ImportError, NotImplementedError, RuntimeError):
    keypad = None  # type: ignore
try:
    import countio
except ImportError:
    countio = None  # type: ignore
try:
    import pulseio
except (ImportError, NotImplementedError, RuntimeError):
    pulseio = None  # type: ignore
try:
    import supervisor
except ImportError:
    supervisor = None  # type: ignore
try:
    import microcontroller
except (ImportError, NotImplementedError, RuntimeError):
    microcontroller = None  # type: ignore
try:
    import usb_cdc
except ImportError:
    usb_cdc = None  # type: ignore

TICKS_MS_MASK = 0x1FFFFFFF   # supervisor.ticks_ms() and keypad timestamps wrap at 2**29
DRAIN_BUDGET = 32            # events moved per drain at most (bounded "ISR" work)


def _need(mod, name):
    if mod is None:
        raise NotImplementedError("no %s module on this board" % name)


def resolve_pin(pin):
    """A board pin from its name ("D5", or "board.D5") or a pin object as is."""
    if isinstance(pin, str):
        _need(board, "board")
        name = pin[6:] if pin.startswith("board.") else pin
        p = getattr(board, name, None)
        if p is None:
            raise ValueError("no pin board.%s" % name)
        return p
    return pin


def keypad_age_us(stamp_ms, now_ms):
    """How long ago (us) a keypad event stamped stamp_ms happened, given
    supervisor.ticks_ms() == now_ms; both wrap at 2**29. A stamp from the "future"
    (cannot happen with one clock) counts as age 0."""
    age = (now_ms - stamp_ms) & TICKS_MS_MASK
    if age >= 0x10000000:
        return 0
    return age * 1000


class KeysSource(PolledSource):
    """GPIO edges from keypad.Keys: debounced by keypad's scan, timestamped by keypad.

    pins: board pin names or pin objects; key k of the event is pins[k].
    trigger: "rising", "falling" or "both": the pin level after the edge, from keypad's
    pressed/released and value_when_pressed (True: pressed = high).
    interval_ms: keypad's scan interval (its debounce time, and part of the latency: an
    edge waits up to one interval before keypad sees and stamps it).
    poll_us: how often the scheduler drains the queue (default 1 ms, CircuitPython's
    tick; the wait in the queue is inside the reported latency, the scan is not).
    Event data: a = level after the edge (1 pressed), b = key number."""

    def __init__(self, name, task, pins, trigger="both", prio=0, capacity=8,
                 policy=POLICY_COUNT, interval_ms=20, poll_us=0, value_when_pressed=True,
                 pull=True, max_events=16):
        PolledSource.__init__(self, name, task, self._no_check, poll_us or 1000, prio,
                              capacity, policy)
        self.pins = pins
        self.edge = trigger       # not .trigger: that is Source.trigger(), a software pend
        self.interval_ms = interval_ms
        self.scan_interval_us = interval_ms * 1000
        self.value_when_pressed = value_when_pressed
        self.pull = pull
        self.max_events = max_events
        self.keys = None  # type: keypad.Keys | None
        self.kev = None  # type: keypad.Event | None
        self.stamped = False     # True: timestamps from keypad (ms); False: drain time
        self.res_us = self.interval_us
        self.hw_overflow = 0     # times keypad reported `overflowed` (>= 1 event lost each)
        self.want_rise = trigger != "falling"
        self.want_fall = trigger != "rising"

    def _no_check(self):
        return 0

    def install(self, port):
        _need(keypad, "keypad")
        pins = [resolve_pin(p) for p in self.pins]
        self.keys = keypad.Keys(pins, value_when_pressed=self.value_when_pressed,
                                pull=self.pull, interval=self.interval_ms / 1000,
                                max_events=self.max_events)
        self.kev = keypad.Event()
        # Blinka's keypad events carry no timestamp: fall back to the drain time, and say so.
        self.stamped = supervisor is not None and hasattr(self.kev, "timestamp")
        self.res_us = 1000 if self.stamped else self.interval_us

    def uninstall(self, port):
        if self.keys is not None:
            self.keys.deinit()
            self.keys = None

    def poll(self, now):
        left = ticks_diff(self.due, now)
        if left > 0:
            return left
        self.due = ticks_add(now, self.interval_us)
        self.drain()
        return self.interval_us

    def drain(self):
        """Move keypad's queued events into the ring. Returns how many were captured."""
        keys = self.keys
        kev = self.kev
        if keys is None or kev is None:
            return 0
        q = keys.events
        st = self.st
        t = ticks_us()
        now_ms = supervisor.ticks_ms() if self.stamped else 0
        n = 0
        while n < DRAIN_BUDGET and q.get_into(kev):
            level = 1 if kev.pressed == self.value_when_pressed else 0
            if not (self.want_rise if level else self.want_fall):
                continue
            n += 1   # capture() counts the trigger
            ts = t
            if self.stamped:
                ts = ticks_add(t, -keypad_age_us(kev.timestamp, now_ms))
            self.capture(ts, level, kev.key_number)
        if q.overflowed and not q:
            # keypad dropped at least one event (the newest); it cannot say how many.
            q.clear()
            self.hw_overflow += 1
            st[ST_TRIGGERS] = wrap(st[ST_TRIGGERS] + 1)
            ctl = self.ring.ctl
            ctl[R_OVERFLOW] = wrap(ctl[R_OVERFLOW] + 1)
        return n


class CounterSource(PolledSource):
    """Edge counts from countio.Counter (counted in hardware, no timestamps). Each drain
    that finds new edges makes one event: a = edges since the last drain, and the event's
    count is that number (the extra edges are accounted as merged, like a pending bit
    with a count), so triggers == delivered + overflow holds edge by edge."""

    def __init__(self, name, task, pin, trigger="rising", prio=0, capacity=2,
                 policy=POLICY_COALESCE, interval_us=1000, pull=None):
        PolledSource.__init__(self, name, task, self._no_check, interval_us, prio,
                              capacity, policy)
        self.pin = pin
        self.edge = trigger       # not .trigger: that is Source.trigger(), a software pend
        self.pull = pull
        self.counter = None  # type: countio.Counter | None
        self.last = 0
        self.res_us = interval_us

    def _no_check(self):
        return 0

    def install(self, port):
        _need(countio, "countio")
        edges = {"rising": countio.Edge.RISE, "falling": countio.Edge.FALL,
                 "both": countio.Edge.RISE_AND_FALL}
        self.counter = countio.Counter(resolve_pin(self.pin), edge=edges[self.edge],
                                       pull=self.pull)
        self.last = self.counter.count

    def uninstall(self, port):
        if self.counter is not None:
            self.counter.deinit()
            self.counter = None

    def poll(self, now):
        left = ticks_diff(self.due, now)
        if left > 0:
            return left
        self.due = ticks_add(now, self.interval_us)
        self.drain()
        return self.interval_us

    def drain(self):
        counter = self.counter
        if counter is None:
            return 0
        c = counter.count
        d = c - self.last
        self.last = c
        if d <= 0:   # nothing new, or someone called counter.reset()
            return 0
        d = wrap(d)
        st = self.st
        st[ST_TRIGGERS] = wrap(st[ST_TRIGGERS] + d - 1)  # capture() counts one
        if d > 1:
            # We are this ring's producer: d-1 edges ride on the next event taken.
            ctl = self.ring.ctl
            ctl[R_MERGED] = wrap(ctl[R_MERGED] + d - 1)
        self.capture(ticks_us(), d, 0)
        return 1


class PulseInSource(PolledSource):
    """Pulse widths (us, <= 65535) from pulseio.PulseIn. One event per pulse: a = width.
    PulseIn has no timestamps (events carry the drain time) and overwrites its oldest
    entry when full without a flag: a drain that finds it full counts `hw_full`
    (pulses may have been lost; how many is unknown)."""

    def __init__(self, name, task, pin, maxlen=16, idle_state=False, prio=0, capacity=8,
                 policy=POLICY_COUNT, interval_us=5000):
        PolledSource.__init__(self, name, task, self._no_check, interval_us, prio,
                              capacity, policy)
        self.pin = pin
        self.maxlen = maxlen
        self.idle_state = idle_state
        self.pulses = None  # type: pulseio.PulseIn | None
        self.hw_full = 0
        self.res_us = 1

    def _no_check(self):
        return 0

    def install(self, port):
        _need(pulseio, "pulseio")
        self.pulses = pulseio.PulseIn(resolve_pin(self.pin), maxlen=self.maxlen,
                                      idle_state=self.idle_state)

    def uninstall(self, port):
        if self.pulses is not None:
            self.pulses.deinit()
            self.pulses = None

    def poll(self, now):
        left = ticks_diff(self.due, now)
        if left > 0:
            return left
        self.due = ticks_add(now, self.interval_us)
        self.drain()
        return self.interval_us

    def drain(self):
        p = self.pulses
        if p is None:
            return 0
        if len(p) >= self.maxlen:
            self.hw_full += 1
        st = self.st
        t = ticks_us()
        n = 0
        while n < DRAIN_BUDGET and len(p):
            w = p.popleft()
            n += 1
            self.capture(t, w, 0)   # counts the trigger
        return n


# -- the generic port interface ----------------------------------------------------------

class _PinView:
    """What a generic GPIO handler gets: value() is the level after the edge."""

    def __init__(self, name):
        self.name = name
        self.level = 0

    def value(self):
        return self.level


class _KeysVector:
    """gpio_irq's keypad queue, drained by CircuitPythonPort.poll()."""

    def __init__(self, port, pin, trigger, handler):
        _need(keypad, "keypad")
        self.port = port
        self.handler = handler
        self.want_rise = trigger != "falling"
        self.want_fall = trigger != "rising"
        self.keys = keypad.Keys([resolve_pin(pin)], value_when_pressed=True,
                                pull=port.pull, interval=port.interval_ms / 1000,
                                max_events=port.max_events)
        self.kev = keypad.Event()
        self.view = _PinView(pin)

    def service(self, now):
        q = self.keys.events
        kev = self.kev
        view = self.view
        n = 0
        while n < DRAIN_BUDGET and q.get_into(kev):
            level = 1 if kev.pressed else 0   # value_when_pressed=True: pressed = high
            if not (self.want_rise if level else self.want_fall):
                continue
            n += 1
            view.level = level
            self.handler(view)
        if q.overflowed and not q:
            q.clear()
            self.port.keypad_overflow += 1
        return n

    def deinit(self):
        self.keys.deinit()


class _PolledTimer:
    """A timer on the scheduler's clock, fired from CircuitPythonPort.poll(). Periodic
    timers keep their phase; periods that passed while nobody polled are skipped and
    counted in `missed` (and in the port's timer_missed)."""

    def __init__(self, port, period_us, periodic, handler):
        self.port = port
        self.period_us = period_us
        self.periodic = periodic
        self.handler = handler
        self.mode = "polled"
        self.due = ticks_add(ticks_us(), period_us)
        self.missed = 0
        self.late_max_us = 0     # longest due -> fired delay
        self.active = True

    def service(self, now):
        if not self.active:
            return 0
        late = ticks_diff(now, self.due)
        if late < 0:
            return 0
        if late > self.late_max_us:
            self.late_max_us = late
        if self.periodic:
            k = late // self.period_us
            if k:
                self.missed += k
                self.port.timer_missed += k
            self.due = ticks_add(self.due, (k + 1) * self.period_us)
        else:
            self.deinit()
        self.handler(self)
        return 1

    def deinit(self):
        # Leave the vector table alone (poll() may be walking it): poll() drops us later.
        self.active = False
        self.port.dirty = True


def tick_resolution_us(clock=ticks_us, steps=8, spins=100000):
    """The smallest step clock() (ticks_us) really makes, in us, measured: CircuitPython's
    ticks_us is computed from time.monotonic_ns(), whose real resolution on many boards is
    one 32 768 Hz subtick (~30.5 us), not 1 us. The minimum over `steps` observed changes
    (a loop faster than the clock sees each step; a slower loop only makes it an upper
    bound). 0 if the clock did not move within `spins` reads. Main loop only (allocates)."""
    best = 0
    n = 0
    i = 0
    last = clock()
    while n < steps and i < spins:
        t = clock()
        d = ticks_diff(t, last)
        if d > 0:
            if best == 0 or d < best:
                best = d
            n += 1
            last = t
        i += 1
    return best


class CircuitPythonPort:
    name = "circuitpython"
    ticks_hz = 1000000   # unit of every timestamp (ticks_us); resolutions are per source

    def __init__(self, link=None, interval_ms=20, max_events=16, pull=True,
                 idle_slice_us=1000):
        """link: a stream with in_waiting/readinto/write (default usb_cdc.data, else
        usb_cdc.console). interval_ms, max_events, pull: keypad settings for gpio_irq."""
        self.runtime = sys.implementation.name
        self.ticks_us = ticks_us
        # the real resolution of every timestamp this port takes (HELLO info tick_res_us)
        self.tick_res_us = tick_resolution_us()
        self.interval_ms = interval_ms
        self.scan_interval_us = interval_ms * 1000
        self.max_events = max_events
        self.pull = pull
        self.idle_slice_us = idle_slice_us
        self.vectors = []          # _KeysVector / _PolledTimer, serviced by poll()
        self.dirty = False         # a timer was stopped: poll() prunes the table
        self.pins = {}
        self.depth = 0             # disable_irq nesting
        self.woken = False
        self.keypad_overflow = 0   # gpio_irq queues that reported overflowed
        self.timer_missed = 0      # periodic timer periods skipped
        self.irq_control = microcontroller is not None and \
            hasattr(microcontroller, "disable_interrupts")
        self.link = link
        if link is None and usb_cdc is not None:
            self.link = usb_cdc.data or usb_cdc.console
            if self.link is not None:
                self.link.timeout = 0

    def counters(self):
        """Port-level counters (not tied to one source)."""
        return {"keypad_overflow": self.keypad_overflow, "timer_missed": self.timer_missed}

    def info(self):
        """What the harness should know about this port's timing."""
        return {"gpio": "keypad", "scan_interval_us": self.scan_interval_us,
                "tick_res_us": self.tick_res_us,
                "irq_control": "microcontroller" if self.irq_control else "none",
                "link": "none" if self.link is None else
                ("data" if usb_cdc is not None and self.link is usb_cdc.data else "console")}

    # -- PRIMASK ----------------------------------------------------------------------------
    def disable_irq(self):
        d = self.depth
        if d == 0 and self.irq_control:
            microcontroller.disable_interrupts()
        self.depth = d + 1
        return d

    def enable_irq(self, state):
        self.depth = state
        if state == 0 and self.irq_control:
            microcontroller.enable_interrupts()

    # -- the "interrupt controller" -----------------------------------------------------------
    def poll(self):
        """Service every vector once: drain gpio_irq queues, fire due timers.
        Returns how many handlers ran."""
        now = ticks_us()
        n = 0
        for v in self.vectors:
            n += v.service(now)
        if self.dirty:
            self.dirty = False
            self.vectors = [v for v in self.vectors if getattr(v, "active", True)]
        return n

    def service_source(self, prio=0, interval_us=1000):
        """A PolledSource that runs poll() between tasks: add it to the scheduler when the
        generic sources must be serviced while other tasks keep it busy."""
        return PolledSource("cp.poll", _drop, self._poll0, interval_us, prio, 1)

    def _poll0(self):
        self.poll()
        return 0

    def _next_due(self, now, limit):
        """us until the next timer is due (0: due now), at most limit."""
        d = limit
        for v in self.vectors:
            if isinstance(v, _PolledTimer) and v.active:
                left = ticks_diff(v.due, now)
                if left < d:
                    d = left if left > 0 else 0
        return d

    def idle(self, timeout_us):
        """Sleep in slices of idle_slice_us (CircuitPython runs its background tasks --
        USB, keypad scanning -- while sleeping), servicing the vectors after each one,
        until one of them ran a handler, wake() was called or timeout_us passed."""
        left = self.idle_slice_us if timeout_us is None else timeout_us
        while not (self.poll() or self.woken) and left > 0:
            d = self._next_due(ticks_us(), left if left < self.idle_slice_us
                               else self.idle_slice_us)
            if d > 0:
                sleep_us(d)
                left -= d
        self.woken = False

    def wake(self):
        self.woken = True

    # -- sources --------------------------------------------------------------------------------
    def gpio_irq(self, pin, trigger, handler, hard=True, priority=None):
        self.vectors.append(_KeysVector(self, pin, trigger, handler))
        return "polled"

    def gpio_source(self, name, task, pin, trigger="rising", prio=0, capacity=8,
                    policy=POLICY_COUNT):
        """The GPIO source to prefer on this port over a generic GpioSource: a KeysSource
        with this port's keypad settings, so events carry keypad's own timestamps.
        Same event data as GpioSource (a = level after the edge)."""
        return KeysSource(name, task, [pin], trigger=trigger, prio=prio, capacity=capacity,
                          policy=policy, interval_ms=self.interval_ms, pull=self.pull,
                          max_events=self.max_events)

    def timer(self, period_us, periodic, handler, hard=True, priority=None):
        t = _PolledTimer(self, period_us, periodic, handler)
        self.vectors.append(t)
        return t

    def uart_rx_irq(self, handler, priority=None):
        raise NotImplementedError("CircuitPython has no UART RX interrupt: poll the link")

    def gpio_irq_off(self, pin):
        for v in self.vectors:
            if isinstance(v, _KeysVector) and v.view.name == pin:
                v.deinit()
                self.vectors.remove(v)
                return

    def uart_rx_irq_off(self):
        pass   # uart_rx_irq never installs one here

    def pin_write(self, pin, value):
        d = self.pins.get(pin)
        if d is None:
            _need(digitalio, "digitalio")
            d = digitalio.DigitalInOut(resolve_pin(pin))
            d.switch_to_output(value=bool(value))
            self.pins[pin] = d
        else:
            d.value = bool(value)

    def deinit(self):
        """Release keypad scanners, timers and pins. (On Blinka keypad's deinit joins a
        thread that never ends: do not call this there.)"""
        for v in self.vectors:
            v.deinit()
        self.vectors = []
        self.dirty = False
        for name in self.pins:
            self.pins[name].deinit()
        self.pins = {}

    # -- serial link ------------------------------------------------------------------------------
    def _link(self):
        link = self.link
        if link is None:
            raise NotImplementedError("no serial link (usb_cdc disabled)")
        return link

    def serial_read(self, buf):
        link = self._link()
        n = link.in_waiting
        if not n:
            return 0
        if n > len(buf):
            n = len(buf)
        return link.readinto(memoryview(buf)[:n]) or 0

    def serial_any(self):
        return self._link().in_waiting

    def serial_write(self, data):
        self._link().write(data)


def _drop(ev):
    pass
