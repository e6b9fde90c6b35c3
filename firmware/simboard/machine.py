# `machine` on the simulator board: MicroPython's own API (Pin + irq, Timer, UART,
# disable_irq/enable_irq, idle, unique_id, freq, soft_reset) over the simulated hardware,
# shaped by the board personality (simboard/personality.py, from the board file).
# The console installs it as sys.modules["machine"], so `import machine` in user code and
# in irqkit's MachinePort gets this module, exactly as on a board.
#
# Semantics checked against MicroPython's source (ports/rp2/machine_pin.c,
# machine_timer.c, extmod/machine_timer.c, shared/runtime/mpirq.c, py/scheduler.c):
# - hard=True: the handler runs in the (simulated) ISR, heap and scheduler locked; an
#   exception prints "Uncaught exception in IRQ callback handler" + traceback and the IRQ is
#   disabled (trigger 0, handler dropped).
# - hard=False: the ISR only schedules the handler (micropython.schedule queue of the
#   port's depth); a full queue drops it silently.
# - Timer ids, period arithmetic and hard= support follow the personality's timer model.
#
# Sim-only extras (documented, not MicroPython API): sim_counters(), sim_state().
# No f-strings (keep the same syntax rules as the core).
from array import array
from binascii import unhexlify as _unhexlify
from os import getenv as _getenv

from simboard import board as _board
from simboard import personality as _personality
from simboard.peripherals import EDGE_RISING, EDGE_FALLING

IDLE_TICK_US = 1000   # idle() returns at the next interrupt, SysTick (1 ms) at the latest
_NOT_GIVEN = object()


def _hw():
    return _board.board()


def _persona():
    return _hw().persona


def _no_hard(hard, supported):
    if hard is not _NOT_GIVEN and not supported:
        # the port's argument parser does not know hard= (esp32)
        raise TypeError("unexpected keyword argument 'hard'")
    return False if hard is _NOT_GIVEN else bool(hard)


class _IRQ:
    """The irq object Pin.irq / UART.irq return (mpirq.c's irq type)."""

    def __init__(self, owner):
        self._owner = owner

    def flags(self):
        return self._owner._irq_flags

    def trigger(self, new=None):
        old = self._owner._irq_trigger
        if new is not None:
            self._owner._set_trigger(new)
        return old


class _IrqSource:
    """What Pin, Timer and UART share: one controller line whose handler is either the
    user's (hard) or the firmware's "schedule the user's handler" (soft)."""

    def _irq_init(self):
        self._handler = None
        self._hard = False
        self._line = None
        self._irq_flags = 0
        self._irq_trigger = 0
        self._irq_obj = _IRQ(self)
        self._schedule_cb = self._schedule   # bound once: the ISR path must not allocate

    def _attach(self, name, handler, hard, prio):
        hw = _hw()
        self._handler = handler
        self._hard = hard
        if handler is None:
            hw.ctrl.detach(name)
            self._line = None
            return None
        if hard:
            L = hw.ctrl.attach(name, handler, self, prio)
        else:
            L = hw.ctrl.attach(name, self._schedule_cb, self, prio, native=True)
        L.on_error = self._on_error
        self._line = L
        return L

    def _schedule(self, arg):
        # mpirq.c's soft path: mp_sched_schedule(handler, parent); a full queue drops it
        _hw().schedq.push(self._handler, self)

    def _on_error(self):
        self._handler = None
        self._set_trigger(0)

    def _set_trigger(self, t):
        self._irq_trigger = t


class Pin(_IrqSource):
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, id, mode=-1, pull=-1, value=None):
        name = _persona().pin_name(id)
        self._id = id
        self._pad = _hw().pad(name)
        self._irq_init()
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        pad = self._pad
        if mode != -1:
            pad.output = 1 if mode in (Pin.OUT, Pin.OPEN_DRAIN) else 0
        if pull == Pin.PULL_UP and not pad.output:
            pad.level = 1       # nothing drives the wire yet: the pull-up holds it high
        elif pull == Pin.PULL_DOWN and not pad.output:
            pad.level = 0
        if value is not None:
            self.value(value)

    def value(self, x=None):
        if x is None:
            return self._pad.level
        self._pad.level = 1 if x else 0
        return None

    def __call__(self, x=None):
        return self.value(x)

    def on(self):
        self._pad.level = 1

    def off(self):
        self._pad.level = 0

    high = on
    low = off

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, hard=_NOT_GIVEN):
        hard = _no_hard(hard, _persona().pin_hard)
        pad = self._pad
        edges = 0
        if trigger & Pin.IRQ_RISING:
            edges |= EDGE_RISING
        if trigger & Pin.IRQ_FALLING:
            edges |= EDGE_FALLING
        self._irq_trigger = trigger
        L = self._attach(pad.name, handler, hard, _persona().prio_gpio)
        pad.trigger = edges if L is not None else 0
        pad.line = L
        return self._irq_obj

    def _set_trigger(self, t):
        self._irq_trigger = t
        if not t:
            self._pad.trigger = 0

    def __repr__(self):
        return "Pin(%s)" % (self._id,)


def _f32(x):
    # single-precision float, as rp2's mp_float_t
    return array("f", [x])[0]


class _MachineTimer(_IrqSource):
    """MicroPython's common machine.Timer (rp2, extmod soft timer, esp32): init(), ONE_SHOT."""
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, *args, **kw):
        p = _persona()
        if id not in p.timer_ids:
            raise ValueError("Timer doesn't exist")
        self._id = id
        self._model = None
        self._irq_init()
        self._no = _hw().next_timer_no()
        if args or kw:
            self.init(*args, **kw)

    def init(self, mode=PERIODIC, freq=-1, period=-1, tick_hz=1000, callback=None,
             hard=_NOT_GIVEN):
        p = _persona()
        hard = _no_hard(hard, p.timer_hard)
        period_us = _period_us(p.timer_model, freq, period, tick_hz)
        self.deinit()
        self._period_us = period_us
        name = "T%d" % self._no
        L = self._attach(name, callback, hard, p.prio_timer)
        if L is not None:
            self._model = _hw().start_timer(period_us, mode == _MachineTimer.PERIODIC, L)

    def deinit(self):
        if self._model is not None:
            self._model.deinit()
            self._model = None

    def _on_error(self):
        self._handler = None
        self.deinit()

    def __repr__(self):
        return "Timer(mode=%s, period=%d us)" % ("?", getattr(self, "_period_us", 0))


def _is_function(f):
    """mp_obj_is_fun: the object's type is named "function" (a bound method is
    "bound_method", a closure "closure"; CPython calls a closure a function too)."""
    return type(f).__name__ == "function" and not getattr(f, "__closure__", None)


class _NrfTimer(_IrqSource):
    """The nrf port's own machine.Timer (ports/nrf/modules/machine/timer.c): the constructor
    takes id, period= (us, 1 MHz, 24-bit compare), mode=, callback= and configures;
    start()/stop() run it; no init(), no freq=/tick_hz=/hard=; ONESHOT, not ONE_SHOT. The
    callback is called from the TIMERn interrupt (hard)."""
    ONESHOT = 0
    PERIODIC = 1
    _KW = ("period", "mode", "callback")

    def __init__(self, id=-1, *args, **kw):
        if args:
            raise TypeError("extra positional arguments given")   # period= etc. are kw-only
        for k in kw:
            if k not in _NrfTimer._KW:
                raise TypeError("extra keyword arguments given")    # mp_arg_parse_all
        p = _persona()
        if id not in p.timer_ids:
            raise ValueError("Timer doesn't exist")
        cb = kw.get("callback")
        if cb is not None and p.timer_callback == "function" and not _is_function(cb):
            raise ValueError("callback must be a function")
        self._id = id
        self._model = None
        self._irq_init()
        self._no = _hw().next_timer_no()
        # CC[0] = period at 1 MHz, BITMODE 24: the compare sees the low 24 bits
        self._period_us = (kw.get("period", 1000000) & 0xFFFFFF) or 0x1000000
        self._periodic = kw.get("mode", _NrfTimer.PERIODIC) != _NrfTimer.ONESHOT
        self._cb = cb

    def start(self):
        if self._model is not None:
            return
        name = "T%d" % self._no
        L = self._attach(name, self._cb, _persona().timer_hard, _persona().prio_timer)
        if L is not None:
            self._model = _hw().start_timer(self._period_us, self._periodic, L)

    def stop(self):
        if self._model is not None:
            self._model.deinit()
            self._model = None

    def deinit(self):
        self.stop()

    def _on_error(self):
        self._cb = None
        self.stop()

    def __repr__(self):
        return "Timer(%d)" % self._id


# The personality's Timer class (data: the board file's sim.timer.api)
Timer = _NrfTimer if _personality.current().timer_api == "nrf" else _MachineTimer


def _period_us(model, freq, period, tick_hz):
    """The period the port's timer really runs at, in us."""
    if model == "rp2_us":
        if freq != -1:
            # rp2: delta_us = (uint64_t)(MICROSECOND_RATE / freq) in single precision
            return int(_f32(1000000.0) / _f32(freq))
        return period * 1000000 // tick_hz
    if model == "extmod_ms":
        # extmod soft timer: delta_ms, whole milliseconds, at least 1
        if freq != -1:
            ms = int(1000 / freq) if freq >= 0.001 else 1000000
        else:
            ms = period * 1000 // tick_hz
        return (ms if ms >= 1 else 1) * 1000
    # "hw_us": a hardware timer counting us; period in ms (esp32 has no tick_hz)
    if freq != -1:
        return int(1000000 / freq)
    return period * 1000


class UART(_IrqSource):
    IRQ_RXIDLE = 16

    def __init__(self, id, baudrate=115200, **kw):
        if id != _persona().console_uart:
            raise ValueError("UART(%d) doesn't exist" % id)
        self._id = id
        self._baud = baudrate
        self._fifo = _hw().uart
        self._irq_init()

    def init(self, baudrate=115200, **kw):
        self._baud = baudrate

    def any(self):
        return self._fifo.available()

    def readinto(self, buf, nbytes=-1):
        n = self._fifo.readinto(buf if nbytes < 0 else memoryview(buf)[:nbytes])
        return n if n else None

    def read(self, nbytes=-1):
        n = self._fifo.available()
        if nbytes >= 0 and n > nbytes:
            n = nbytes
        if not n:
            return None
        b = bytearray(n)
        self._fifo.readinto(b)
        return bytes(b)

    def write(self, buf):
        _board.console_write(buf)
        return len(buf)

    def irq(self, handler=None, trigger=IRQ_RXIDLE, hard=_NOT_GIVEN):
        hard = _no_hard(hard, _persona().uart_hard)
        self._irq_trigger = trigger
        L = self._attach("UART", handler if trigger else None, hard, _persona().prio_uart)
        if L is not None:
            _hw().uart_attached(L)
        else:
            _hw().uart.line = None
        return self._irq_obj

    def __repr__(self):
        return "UART(%d, baudrate=%d)" % (self._id, self._baud)


def disable_irq():
    return _board.board().ctrl.disable_irq()


def enable_irq(state=0):
    _board.board().ctrl.enable_irq(state)


def idle():
    _hw().idle(IDLE_TICK_US)


def unique_id():
    # each simulator instance its own: the launcher passes a random one (IRQKIT_SIM_UID, hex)
    uid = _getenv("IRQKIT_SIM_UID")
    if uid:
        return _unhexlify(uid)
    h = 0
    for c in _persona().name:
        h = (h * 131 + ord(c)) & 0xFFFFFFFF
    return bytes([(h >> s) & 0xFF for s in (24, 16, 8, 0)]) + b"\x1b\x5e\x00\x01"


def freq(*args):
    return _persona().clock_hz


def soft_reset():
    # the console turns SystemExit into a soft reset (a fresh VM), as a board does
    raise SystemExit


def reset():
    soft_reset()


# -- sim-only extras (not MicroPython API) --------------------------------------------------
def sim_counters():
    """Controller and schedule-queue totals (MachinePort reports them as STATS port.*)."""
    hw = _hw()
    d = hw.ctrl.counters()
    q = hw.schedq.counters()
    d["sched_dropped"] = q["dropped"]
    d["sched_hwm"] = q["hwm"]
    d["uart_rx"] = hw.uart.received
    d["uart_dropped"] = hw.uart.dropped
    d["uart_reads"] = hw.rx_reads   # pty reads that returned bytes (bulk: ~1 per frame)
    return d


def sim_state():
    return _hw().ctrl.state()
