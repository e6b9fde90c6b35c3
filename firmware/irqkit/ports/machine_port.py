# The MicroPython board port: machine.Pin.irq, machine.Timer, machine.disable_irq.
#
# Hard IRQs are asked for first; a port that refuses them (esp32: TypeError for hard=,
# older timers: no hard= at all) gets a soft IRQ instead and the mode in force is
# returned, so the harness can report it. Soft IRQs go through MicroPython's scheduler
# queue (4-8 deep) whose overflow is silent — irqkit's own rings and counters sit after
# it, but a burst that overflows *that* queue is invisible to everyone: prefer hard.
#
# The same file runs on every MicroPython board and on the simulator board (whose ROM
# provides `machine`), so what differs between ports is data in the board file
# (timer_id, timer_resolution_us, uart_id) or asked of `machine` itself, never a branch
# on the board's name.
import sys
import select

import machine

from irqkit.compat import ticks_us

def _no_schedule(f, arg):
    raise RuntimeError("no micropython.schedule")


_schedule = _no_schedule
try:
    import micropython
    _schedule = getattr(micropython, "schedule", _no_schedule)
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

    def __init__(self, timer_id=-1, uart=None, stream=None, uart_id=None, baudrate=115200,
                 timer_resolution_us=1):
        """timer_id: the machine.Timer id the board file names (-1: virtual timer).
        timer_resolution_us: what the port's machine.Timer counts in: 1 (rp2: us exact
        through period=/tick_hz=) or 1000 (extmod's soft timer: whole ms).
        uart / uart_id, baudrate: a machine.UART for the link (None: the USB/console stream).
        stream: the console stream (default sys.stdin/sys.stdout buffers)."""
        self.runtime = sys.implementation.name
        self.timer_id = timer_id
        self.timer_res = timer_resolution_us
        if uart is None and uart_id is not None:
            uart = machine.UART(uart_id, baudrate)
        self.uart = uart
        self.pins = {}
        self.ticks_us = ticks_us
        self._in = getattr(sys.stdin, "buffer", sys.stdin) if stream is None else stream
        self._out = getattr(sys.stdout, "buffer", sys.stdout) if stream is None else stream
        self._one = bytearray(1)
        self._poll = None
        self._ipoll = None
        self._sim_counters = getattr(machine, "sim_counters", None)   # simulator extra
        # PRIMASK: machine's own functions as the port's (port.disable_irq() -> state,
        # port.enable_irq(state)): every capture() calls both, inside the ISR, so no
        # Python method sits between the ISR and the C call (a frame less per interrupt)
        self.disable_irq = machine.disable_irq
        self.enable_irq = machine.enable_irq

    # -- PRIMASK: machine.disable_irq / enable_irq themselves, bound in __init__ -------------

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
        if not hasattr(T, "init"):
            return self._nrf_timer(T, period_us, periodic, handler, hard)
        if hasattr(T, "ONE_SHOT"):
            mode = T.PERIODIC if periodic else T.ONE_SHOT
        else:
            mode = T.PERIODIC if periodic else getattr(T, "ONESHOT")   # nrf spells it so
        res = self.timer_res
        if period_us <= 0 or period_us % res:
            # extmod's soft timer would silently round 1500 us down to 1 ms: refuse
            raise ValueError("this board's machine.Timer counts in %d us steps: "
                             "cannot run a %d us period" % (res, period_us))
        # period=/tick_hz= is exact integer arithmetic on every port that has tick_hz;
        # freq= is a float (single precision on rp2: 1 us short for many periods)
        kw = {"mode": mode, "period": period_us // res, "tick_hz": 1000000 // res,
              "callback": handler}
        try:
            t = T(self.timer_id)
        except ValueError as e:
            # e.g. mimxrt/stm32 take only the virtual timer -1: say which id, and why
            raise ValueError("machine.Timer(%r): %s (set the board file's timer_id)" % (
                self.timer_id, e))
        if hard:
            try:
                return _TimerHandle(self._start(T, t, kw, True), "hard")
            except (TypeError, ValueError):
                pass  # no hard timer callbacks on this port (version): fall back, say so
        return _TimerHandle(self._start(T, t, kw, False), "soft")

    def _start(self, T, t, kw, hard):
        if hard:
            kw["hard"] = True
        elif "hard" in kw:
            del kw["hard"]
        init = getattr(t, "init", None)
        if init is None:
            return T(self.timer_id, **kw)   # nrf: no init(); the constructor takes them
        init(**kw)
        return t

    def _nrf_timer(self, T, period_us, periodic, handler, hard):
        # The nrf port's own Timer (ports/nrf/modules/machine/timer.c): no init(), no
        # tick_hz=/hard=; the constructor takes period= in us (1 MHz, 24-bit compare),
        # mode= (ONESHOT/PERIODIC) and callback=, then start() runs it. The callback must
        # be a plain function (mp_obj_is_fun: a bound method or closure is a ValueError),
        # so a module-level trampoline finds the handler by its timer object. It is
        # called straight from the TIMERn interrupt: hard; soft goes through schedule.
        if period_us <= 0 or period_us > 0xFFFFFF:
            raise ValueError("this board's machine.Timer counts 24-bit us: "
                             "cannot run a %d us period" % period_us)
        mode = T.PERIODIC if periodic else T.ONESHOT
        try:
            t = T(self.timer_id, period=period_us, mode=mode, callback=_nrf_tick)
        except ValueError as e:
            raise ValueError("machine.Timer(%r): %s (set the board file's timer_id)" % (
                self.timer_id, e))
        soft = not hard
        if soft and _schedule is _no_schedule:
            raise ValueError("no micropython.schedule for a soft timer callback")
        _NRF_TIMERS[t] = (handler, soft)
        t.start()
        return _TimerHandle(t, "soft" if soft else "hard", True)

    def uart_rx_irq(self, handler, priority=None):
        u = self.uart
        if u is None or not hasattr(u, "irq"):
            raise NotImplementedError("no UART RX IRQ on this link (USB CDC): poll it")
        trig = getattr(u, "IRQ_RXIDLE", 0) or getattr(u, "IRQ_RX", 0)
        if not trig:
            # trigger 0 would attach a handler that never runs: poll instead
            raise NotImplementedError("this port's UART has no RX interrupt trigger: poll it")
        try:
            u.irq(handler=handler, trigger=trig, hard=True)
            return "hard"
        except (TypeError, ValueError):
            u.irq(handler=handler, trigger=trig)
            return "soft"

    def gpio_irq_off(self, pin):
        p = self.pins.get(pin)
        if p is not None:
            p.irq(handler=None)

    def uart_rx_irq_off(self):
        u = self.uart
        if u is not None and hasattr(u, "irq"):
            u.irq(handler=None)

    def pin_write(self, pin, value):
        p = self.pins.get(pin)
        if p is None:
            p = self.pins[pin] = machine.Pin(pin, machine.Pin.OUT)
        p.value(value)

    # -- serial link ---------------------------------------------------------------------------
    def _ready(self):
        if self._poll is None:   # first use, not from an ISR (the link's task)
            self._poll = select.poll()
            self._poll.register(self._in, select.POLLIN)
            # taken once: getattr returns a new bound method each time (an allocation)
            self._ipoll = getattr(self._poll, "ipoll", None)
        ipoll = self._ipoll
        if ipoll is None:   # CPython
            return bool(self._poll.poll(0))
        # ipoll reuses its result tuple: no allocation per call
        for _ in ipoll(0):
            return True
        return False

    def serial_read(self, buf):
        if self.uart is not None:
            return self.uart.readinto(buf) or 0
        # a console stream's readinto blocks until buf is full: one polled byte at a time,
        # into a preallocated byte (allocation-free)
        one = self._one
        n = 0
        lim = len(buf)
        while n < lim and self._ready():
            # a method call (LOAD_METHOD) allocates no bound method; stdin.buffer on a board
            if not self._in.readinto(one):  # type: ignore[misc]
                break
            buf[n] = one[0]
            n += 1
        return n

    def serial_any(self):
        if self.uart is not None:
            return self.uart.any()
        return 1 if self._ready() else 0

    def serial_write(self, data):
        (self.uart or self._out).write(data)

    # -- reporting -------------------------------------------------------------------------------
    def counters(self):
        """Port counters for STATS (port.*): the simulator board's controller and schedule
        queue totals (raises coalesced, also while masked; soft IRQs dropped); none on a board."""
        f = self._sim_counters
        return f() if f is not None else {}


# nrf timers: timer object -> (handler, soft); read by _nrf_tick in the ISR (a dict
# lookup by object identity and a tuple index: no allocation)
_NRF_TIMERS = {}  # type: dict


def _nrf_tick(t):
    e = _NRF_TIMERS.get(t)
    if e is not None:
        if e[1]:
            _schedule(e[0], t)
        else:
            e[0](t)


class _TimerHandle:
    def __init__(self, timer, mode, nrf=False):
        self.timer = timer
        self.mode = mode
        self.nrf = nrf

    def deinit(self):
        t = self.timer
        if self.nrf:
            t.stop()   # older nrf firmware has no deinit()
            _NRF_TIMERS.pop(t, None)
            if hasattr(t, "deinit"):
                t.deinit()
            return
        t.deinit()
