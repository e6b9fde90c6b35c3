# The simulator's "hardware": an interrupt controller, virtual GPIO pins, timers, a UART
# whose RX side is the console pty, and the threads that play the peripherals.
#
# Runs on the MicroPython unix VM (threads without a GIL; micropython.heap_lock() is
# per-thread, so a handler that allocates fails here exactly as in a hard ISR on a board)
# and on CPython (threads with a GIL; heap_lock is a no-op there).
#
# Model:
# - Every interrupt source is a Line: priority (higher number = more urgent), a pending bit
#   (events raised while the line cannot run coalesce into it, counted), enable bit.
# - Lines run one at a time ("one CPU"): whichever thread raises a line dispatches all
#   ready lines, highest priority first, while holding the controller lock. A running ISR is
#   not preempted by a higher-priority one (it runs next).
# - Global mask (disable_irq/enable_irq, PRIMASK-like): the main thread takes the controller
#   lock, so raised lines stay pending; enable_irq releases it and runs what is pending.
# - Level mask (set_basepri(p), BASEPRI-like): lines with priority < p stay pending.
# - NMI lines ignore every mask and run in the raising thread.
# - Handlers run with the heap locked; an exception (MemoryError: heap is locked, ...)
#   is reported on the console, counted, and disables the line, like a board does.
#
# No f-strings (keep the same syntax rules as the core).
import sys
import _thread

from simboard.clock import ticks_us, ticks_diff, ticks_add, heap_lock, heap_unlock, HEAP_LOCK_REAL

MP = sys.implementation.name == "micropython"

try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select
import socket
import os

if MP:
    import time as _time
    import struct

    def sleep_us(us):
        _time.sleep_us(us)

    def sleep_ms(ms):
        _time.sleep_ms(ms)

    def _sockaddr_un(path):
        return struct.pack("<H", socket.AF_UNIX) + path.encode() + b"\0"

    _stdin = sys.stdin.buffer
    _stdout = sys.stdout.buffer

    def console_write(data):
        _stdout.write(data)

    def print_exc(e):
        sys.print_exception(e)
else:
    import time as _time

    def sleep_us(us):
        _time.sleep(us / 1000000.0)

    def sleep_ms(ms):
        _time.sleep(ms / 1000.0)

    def _sockaddr_un(path):
        return path

    def console_write(data):
        data = memoryview(bytes(data))
        while len(data):
            n = os.write(1, data)
            data = data[n:]

    def print_exc(e):
        import traceback

        lines = traceback.format_exception(type(e), e, e.__traceback__)
        if isinstance(e, OSError) and e.errno:
            # print like MicroPython ("OSError: [Errno 2] ENOENT"): mpremote parses it
            import errno

            lines[-1] = "OSError: [Errno %d] %s\n" % (e.errno, errno.errorcode.get(e.errno, ""))
        console_write("".join(lines).replace("\n", "\r\n").encode())


def get_ident():
    return _thread.get_ident()


def run_dir():
    d = os.getenv("IRQKIT_SIM_RUN")
    return d or "/tmp"


_pair_no = [0]


def socketpair():
    """A connected pair of unix stream sockets (MicroPython has no socketpair())."""
    if not MP:
        return socket.socketpair()
    _pair_no[0] += 1
    path = "%s/w%d.sock" % (run_dir(), _pair_no[0])
    try:
        os.remove(path)
    except OSError:
        pass
    sa = _sockaddr_un(path)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        ls.bind(sa)
        ls.listen(1)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sa)
        s = ls.accept()[0]
    finally:
        ls.close()
        try:
            os.remove(path)
        except OSError:
            pass
    return s, c


class Waker:
    """Wait without spinning until notify() (from any thread) or a timeout.

    A socket pair: notify() writes one byte, wait() polls the read end. poll() counts in
    milliseconds, so waits shorter than 1 ms sleep in 100 us slices (still wakeable)."""

    def __init__(self, precise=False):
        self.precise = precise
        self.rx, self.tx = socketpair()
        self.rx.setblocking(False)
        self.tx.setblocking(False)
        self.poll = select.poll()
        self.poll.register(self.rx, select.POLLIN)
        self.buf = bytearray(64)
        self.one = b"\x01"
        self.waiting = 0
        self.flag = 0
        self.fd = None

    def notify(self):
        self.flag = 1
        if self.waiting:
            try:
                self.tx.send(self.one)
            except OSError:
                pass  # buffer full: a wake-up is already queued

    def _drain(self):
        try:
            if MP:
                self.rx.readinto(self.buf)
            else:
                self.rx.recv_into(self.buf)
        except OSError:
            pass

    def watch_fd(self, fd):
        """Also return from wait() when fd becomes readable (wait() then returns True)."""
        self.fd = fd
        self.poll.register(fd, select.POLLIN)
        self.fd_poll = select.poll()
        self.fd_poll.register(fd, select.POLLIN)

    def wait(self, timeout_us):
        """Return when notified or after timeout_us (None: no limit). Returns True when
        the watched fd is readable."""
        self.waiting = 1
        if self.flag:
            self.flag = 0
            self.waiting = 0
            return False
        fd_ready = False
        if timeout_us is None:
            ms = -1
        elif self.precise and timeout_us < 2000:
            # the timer thread: one precise sleep (a timer added meanwhile waits <= 2 ms)
            if timeout_us > 0:
                ev = self.poll.poll(0)
                if ev:
                    fd_ready = self._check(ev)
                else:
                    sleep_us(timeout_us)
            self.waiting = 0
            self.flag = 0
            return fd_ready
        elif timeout_us < 1000:
            # poll() counts in ms: sleep in short slices, still wakeable (<= 100 us late)
            left = timeout_us
            while True:
                ev = self.poll.poll(0)
                if ev:
                    fd_ready = self._check(ev)
                    break
                if left <= 0 or self.flag:
                    break
                step = 100 if left > 100 else left
                sleep_us(step)
                left -= step
            self.waiting = 0
            self.flag = 0
            return fd_ready
        else:
            ms = timeout_us // 1000  # rounded down: may return early, never late
        ev = self.poll.poll(ms)
        self.waiting = 0
        if ev:
            fd_ready = self._check(ev)
        self.flag = 0
        return fd_ready

    def _check(self, ev):
        fd_ready = False
        woken = False
        for obj, e in ev:
            if self.fd is not None and (obj is self.fd or obj == self.fd):
                if e & select.POLLIN:
                    fd_ready = True
            else:
                woken = True
        if woken:
            self._drain()
        return fd_ready


class Line:
    def __init__(self, num, name, prio, nmi):
        self.num = num
        self.name = name
        self.prio = prio
        self.nmi = nmi
        self.handler = None
        self.arg = None
        self.enabled = 1
        self.pending = 0
        self.raised = 0
        self.coalesced = 0
        self.runs = 0
        self.errors = 0


class Controller:
    def __init__(self, hw):
        self.hw = hw
        self.lines = []
        self.by_name = {}
        self._lock = _thread.allocate_lock()
        self._nmi_lock = _thread.allocate_lock()
        self._owner = 0          # ident of the thread holding the lock (ISR dispatch or critical)
        self._isr = 0            # 1 while a handler runs
        self.masked = 0          # 1 while the main program holds disable_irq()
        self.basepri = None      # lines with prio < basepri are held
        self.errors = 0
        self.last_error = ""
        self.wake_req = 0

    # -- configuration (not from ISRs) --------------------------------------------------
    def line(self, name, prio=1, nmi=False):
        L = self.by_name.get(name)
        if L is None:
            L = Line(len(self.lines), name, prio, nmi)
            self.lines.append(L)
            self.by_name[name] = L
        return L

    def attach(self, name, handler, arg=None, prio=None, nmi=False):
        L = self.line(name, 1 if prio is None else prio, nmi)
        if prio is not None:
            L.prio = prio
        L.nmi = nmi
        L.arg = arg
        L.handler = handler
        L.enabled = 1
        return L

    def detach(self, name):
        L = self.by_name.get(name)
        if L is not None:
            L.handler = None
            L.pending = 0

    def set_basepri(self, p):
        self.basepri = p
        self.dispatch()  # lowering the level may release pending lines

    def set_enabled(self, name, on):
        L = self.by_name[name]
        L.enabled = 1 if on else 0
        if on:
            self.dispatch()

    # -- raising ---------------------------------------------------------------------------
    def raise_line(self, L):
        """Pend a line and run what is ready (from any hardware thread)."""
        L.raised += 1
        if L.pending:
            L.coalesced += 1
        L.pending = 1
        if L.nmi:
            self._run_nmi(L)
            return
        self.dispatch()

    def pend(self, name):
        self.raise_line(self.by_name[name])

    def _ready(self, L):
        if not L.pending or not L.enabled or L.handler is None:
            return False
        bp = self.basepri
        return bp is None or L.prio >= bp

    def _any_ready(self):
        for L in self.lines:
            if self._ready(L):
                return True
        return False

    def dispatch(self):
        while True:
            if not self._lock.acquire(0):
                return  # the holder (ISR dispatcher or a critical section) runs it
            self._owner = get_ident()
            try:
                self._drain()
            finally:
                self._owner = 0
                self._lock.release()
            if self.wake_req:
                self.wake_req = 0
                self.hw.main_waker.notify()
            if not self._any_ready():
                return

    def _drain(self):
        while True:
            best = None
            for L in self.lines:
                if self._ready(L) and (best is None or L.prio > best.prio):
                    best = L
            if best is None:
                return
            best.pending = 0
            self._call(best)

    def _call(self, L):
        h = L.handler
        if h is None:
            return
        err = None
        self._isr = 1
        heap_lock()
        try:
            h(L.arg)
        except Exception as e:
            err = e
        heap_unlock()
        self._isr = 0
        L.runs += 1
        if err is not None:
            self._report(L, err)

    def _run_nmi(self, L):
        self._nmi_lock.acquire()
        try:
            while L.pending:
                L.pending = 0
                if L.enabled:
                    self._call(L)
        finally:
            self._nmi_lock.release()
        if self.wake_req:
            self.wake_req = 0
            self.hw.main_waker.notify()

    def _report(self, L, e):
        L.errors += 1
        L.enabled = 0
        self.errors += 1
        msg = "irq %s: %s: %s; irq disabled" % (L.name, type(e).__name__, e)
        self.last_error = msg
        self.hw.console_message(msg)

    # -- PRIMASK-like masking ----------------------------------------------------------------
    def disable_irq(self):
        me = get_ident()
        if self._owner == me:
            return 1  # nested, or called from an ISR (interrupts are already "off")
        self._lock.acquire()
        self._owner = me
        self.masked = 1
        return 0

    def enable_irq(self, state):
        if state:
            return
        self.masked = 0
        self._owner = 0
        self._lock.release()
        if self._any_ready():
            self.dispatch()

    def in_isr(self):
        return self._isr

    def state(self):
        pend = []
        lines = {}
        for L in self.lines:
            if L.pending:
                pend.append(L.name)
            lines[L.name] = {"prio": L.prio, "nmi": 1 if L.nmi else 0, "enabled": L.enabled,
                             "pending": L.pending, "raised": L.raised, "runs": L.runs,
                             "coalesced": L.coalesced, "errors": L.errors,
                             "attached": 0 if L.handler is None else 1}
        return {"masked": self.masked, "basepri": self.basepri, "pending": pend,
                "errors": self.errors, "last_error": self.last_error, "lines": lines,
                "heap_lock": "real" if HEAP_LOCK_REAL else "no-op (cpython)"}


KBD_GRACE_MS = 500    # CPython: a busy program is interrupted after this long
KBD_RESET_MS = 2000   # MicroPython: a program that never idles is reset after this long
UART_DEFER_US = 300   # UART thread backs off this long while the idle main loop reads

PIN_NAMES = ("P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7")
TRIGGERS = {"rising": 1, "falling": 2, "both": 3}


class Pin:
    def __init__(self, hw, name):
        self.hw = hw
        self.name = name
        self.level = 0
        self.output = 0
        self.trigger = 0
        self.line = None

    def value(self, *v):  # machine.Pin-like; allocation-free read from a handler
        if v:
            self.level = 1 if v[0] else 0
            return None
        return self.level

    def drive(self, v):
        """An external signal on an input pin (bench); edges raise the pin's IRQ line."""
        v = 1 if v else 0
        old = self.level
        self.level = v
        if old != v and self.line is not None:
            edge = 1 if v else 2
            if self.trigger & edge:
                self.hw.ctrl.raise_line(self.line)


class Timer:
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
        self.head = 0   # written by the UART thread
        self.tail = 0   # read by the main program
        self.dropped = 0
        self.received = 0
        self.line = None

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

    def readinto(self, buf):
        n = 0
        lim = len(buf)
        t = self.tail
        h = self.head
        while n < lim and t != h:
            buf[n] = self.fifo[t]
            t = (t + 1) % self.SIZE
            n += 1
        self.tail = t
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


class Hardware:
    """The whole virtual board. One per VM; `board()` returns it."""

    def __init__(self, console=True, bench_path=None):
        self.ctrl = Controller(self)
        self.main_waker = Waker()
        self._timer_waker = Waker(precise=True)
        self.pins = {}
        for n in PIN_NAMES:
            self.pins[n] = Pin(self, n)
        self.timers = []
        self.injections = []
        self._timer_no = 0
        self.uart = Uart(self)
        self.console = console
        self._uart_lock = _thread.allocate_lock()
        self._one = bytearray(1)
        if console:
            self.main_waker.watch_fd(0)
            carry = run_dir() + "/rx-carry"
            try:
                with open(carry, "rb") as f:
                    for c in f.read():
                        self.uart.put(c)
                os.remove(carry)
            except OSError:
                pass
        self.kbd_char = 3
        self.kbd_pending = 0
        self._kbd_watch = 0
        self.user_running = 0
        self.running = 1
        self.bench = None
        self._msgs = []
        self._msg_lock = _thread.allocate_lock()
        # the NMI line exists from the start so the bench can raise it
        self.ctrl.line("NMI", 255, True)
        self.ctrl.line("SWI", 1)
        _thread.start_new_thread(self._timer_thread, ())
        if console:
            _thread.start_new_thread(self._uart_thread, ())
        if bench_path:
            from simboard import bench as sim_bench
            self.bench = sim_bench.BenchServer(self, bench_path)
            _thread.start_new_thread(self.bench.serve, ())

    # -- messages to the console (ISR errors): written by the main program or the uart thread
    def console_message(self, msg):
        # called right after a failed handler, with the heap unlocked again
        line = ("\r\n" + msg + "\r\n").encode()
        if self.console:
            try:
                console_write(line)
            except Exception:
                pass

    # -- wake -----------------------------------------------------------------------------
    def wake(self):
        """ISR-safe: inside a handler only a flag is set; the dispatcher sends the wake-up
        once the handler returned (sending allocates nothing, but keep ISRs minimal)."""
        if self.ctrl._isr:
            self.ctrl.wake_req = 1
        else:
            self.main_waker.notify()

    def wait(self, timeout_us):
        """Sleep until woken, console bytes arrive, or timeout_us passes. The main
        program watches the console too while it idles: whichever thread sees bytes first
        takes the RX interrupt; the other waits for it on the UART lock (then finds the
        bytes gone), so the task is not delayed by a second wake-up."""
        if self.main_waker.wait(timeout_us):
            self._uart_service(True)

    def idle(self, timeout_us):
        if self.kbd_pending:
            self.kbd_pending = 0
            raise KeyboardInterrupt
        self.wait(timeout_us)
        if self.kbd_pending:
            self.kbd_pending = 0
            raise KeyboardInterrupt

    # -- GPIO -----------------------------------------------------------------------------
    def pin(self, name):
        if isinstance(name, int):
            name = "P%d" % name
        p = self.pins.get(name)
        if p is None:
            raise ValueError("no pin %s (pins: %s)" % (name, " ".join(PIN_NAMES)))
        return p

    def gpio_irq(self, name, trigger, handler, priority=None):
        p = self.pin(name)
        if trigger not in TRIGGERS:
            raise ValueError("trigger must be rising, falling or both")
        p.trigger = TRIGGERS[trigger]
        p.output = 0
        p.line = self.ctrl.attach(p.name, handler, p, priority)
        return p

    def pin_write(self, name, value):
        p = self.pin(name)
        p.output = 1
        p.level = 1 if value else 0

    # -- timers ---------------------------------------------------------------------------
    def timer(self, period_us, periodic, handler, priority=None):
        if period_us <= 0:
            raise ValueError("period_us must be > 0")
        self._timer_no += 1
        name = "T%d" % self._timer_no
        L = self.ctrl.attach(name, handler, None, priority)
        t = Timer(self, name, period_us, periodic, L)
        L.arg = t
        self.timers.append(t)
        self.timers_changed()
        return t

    def timers_changed(self):
        self._timer_waker.notify()

    def inject(self, line_name, n, rate_hz):
        L = self.ctrl.by_name.get(line_name)
        if L is None:
            raise ValueError("no line %s" % line_name)
        self.injections.append(Injection(L, n, max(1, 1000000 // rate_hz)))
        self.timers_changed()

    def _timer_thread(self):
        ctrl = self.ctrl
        while self.running:
            now = ticks_us()
            nxt = None
            for t in self.timers:
                if not t.active:
                    continue
                d = ticks_diff(t.deadline, now)
                if d <= 0:
                    t.fired += 1
                    if t.periodic:
                        t.deadline = ticks_add(t.deadline, t.period_us)
                        if ticks_diff(t.deadline, now) <= 0:  # fell behind: skip, like a board
                            t.deadline = ticks_add(now, t.period_us)
                    else:
                        t.active = 0
                    ctrl.raise_line(t.line)
                    now = ticks_us()
                    d = ticks_diff(t.deadline, now)
                if t.active and (nxt is None or d < nxt):
                    nxt = d
            if self.timers and not self._any_active():
                self.timers = [t for t in self.timers if t.active]
            for j in self.injections:
                d = ticks_diff(j.deadline, now)
                if d <= 0 and j.left > 0:
                    j.left -= 1
                    j.deadline = ticks_add(j.deadline, j.period_us)
                    ctrl.raise_line(j.line)
                    now = ticks_us()
                    d = ticks_diff(j.deadline, now)
                if j.left > 0 and (nxt is None or d < nxt):
                    nxt = d
            if self.injections:
                self.injections = [j for j in self.injections if j.left > 0]
            if nxt is not None and nxt < 0:
                nxt = 0
            self._timer_waker.wait(nxt)

    def _any_active(self):
        for t in self.timers:
            if t.active:
                return True
        return False

    # -- UART (console) ---------------------------------------------------------------------
    def uart_rx_irq(self, handler, priority=None):
        if self.kbd_pending:
            # A 0x03 arrived while the program was starting, before it took over the
            # link (e.g. inside the harness's first frame): it is the program's data
            # (it is still in the FIFO, in order), not a Ctrl-C.
            self.kbd_pending = 0
        self.uart.line = L = self.ctrl.attach("UART", handler, self.uart, priority)
        if self.uart.available():
            # level-triggered like a UART's RX-not-empty flag: bytes already waiting
            # raise the interrupt as soon as it is enabled
            self.ctrl.raise_line(L)
        return self.uart

    def _uart_thread(self):
        p = select.poll()
        p.register(0, select.POLLIN)
        while self.running:
            ev = p.poll(-1)
            if not ev:
                continue
            if ev[0][1] & (select.POLLHUP | select.POLLERR) and not ev[0][1] & select.POLLIN:
                sleep_ms(20)  # no terminal attached: do not spin
                continue
            if self.main_waker.waiting:
                # the main program idles and watches the console too: it takes this
                # interrupt itself; stay out of its way (look again shortly, in case it
                # left idle() without reading)
                sleep_us(UART_DEFER_US)
                continue
            # blocking: if the main thread is servicing the UART right now, wait for it,
            # then look again (the bytes are probably gone already)
            got = self._uart_service(True)
            if got == -2:
                sleep_us(200)   # RX FIFO full: let the program drain it
            elif got < 0:
                sleep_ms(20)

    def _uart_service(self, block):
        """Move waiting console bytes into the RX FIFO and raise the UART line.
        Run by the UART thread, or by the main thread when it is idle and sees the bytes
        first (an interrupt taken on the idle CPU: one thread hop less). The lock makes
        sure only one of them reads fd 0; reads happen only after poll() said readable,
        so they never block. Returns the number of bytes (-1: end of file/error)."""
        if not self._uart_lock.acquire(1 if block else 0):
            return 0
        got = 0
        kbd = 0
        uart = self.uart
        p = self.main_waker.fd_poll  # fd 0 only; used under the lock
        try:
            # Flow control, as USB CDC has: with the FIFO full the bytes stay in the pty
            # (whose writer then blocks) instead of being dropped.
            space = uart.space()
            if not space:
                return -2
            if not p.poll(0):
                return 0
            if MP:
                one = self._one
                while space:
                    space -= 1
                    try:
                        n = _stdin.readinto(one)
                    except OSError:
                        n = 0
                    if not n:
                        if not got:
                            got = -1
                        break
                    c = one[0]
                    got += 1
                    if c == self.kbd_char and self._kbd_active():
                        kbd = 1
                    uart.put(c)  # kept in order: see uart_rx_irq and Console.run_code
                    if not p.poll(0):
                        break
            else:
                try:
                    data = os.read(0, space if space < 4096 else 4096)
                except OSError:
                    data = b""
                if not data:
                    got = -1
                for c in data:
                    got += 1
                    if c == self.kbd_char and self._kbd_active():
                        kbd = 1
                    uart.put(c)  # kept in order: see uart_rx_irq and Console.run_code
        finally:
            self._uart_lock.release()
        if got > 0:
            if kbd:
                self.keyboard_interrupt()
            L = uart.line
            if L is not None and L.handler is not None:
                self.ctrl.raise_line(L)
            self.main_waker.notify()
        return got

    def _kbd_active(self):
        # Ctrl-C interrupts user code, unless that code owns the serial link (a UART RX
        # handler is attached: 0x03 is then data, e.g. inside binary frames; the app
        # applies its own break rule) or turned it off with kbd_intr(-1).
        if not self.user_running or self.kbd_char < 0:
            return False
        L = self.uart.line
        return L is None or L.handler is None

    def kbd_intr(self, ch):
        """Like micropython.kbd_intr for the simulated console: -1 turns Ctrl-C off."""
        self.kbd_char = ch

    def keyboard_interrupt(self):
        """Ctrl-C while user code runs: KeyboardInterrupt is raised in the main program at
        its next idle() (the REPL and SimPort.idle check it). On CPython a program that
        does not idle within KBD_GRACE_MS is interrupted anyway (interrupt_main)."""
        self.kbd_pending = 1
        self.main_waker.notify()
        if not self._kbd_watch:
            self._kbd_watch = 1
            _thread.start_new_thread(self._kbd_later, ())

    def _kbd_later(self):
        try:
            sleep_ms(KBD_GRACE_MS)
            if not MP and self.kbd_pending and self._kbd_active():
                self.kbd_pending = 0
                _thread.interrupt_main()
                return
            sleep_ms(KBD_RESET_MS - KBD_GRACE_MS)
            if self.kbd_pending and self._kbd_active():
                # The program never idles, so the VM cannot raise KeyboardInterrupt in it:
                # reset the board instead (the launcher restarts a VM ended by SIGUSR1
                # as a soft reset), so mpremote and the REPL get the board back.
                console_write(b"\r\nirqkit-sim: the program does not idle; Ctrl-C resets the board\r\n")
                # what the host sent after the Ctrl-C (mpremote: "\r\x01") goes to the
                # next VM, as it would stay in a board's USB buffer across the reset
                u = self.uart
                u.discard_through_last(self.kbd_char)
                rest = bytearray()
                while True:
                    c = u.getc()
                    if c < 0:
                        break
                    rest.append(c)
                try:
                    with open(run_dir() + "/rx-carry", "wb") as f:
                        f.write(rest)
                except OSError:
                    pass
                os.system("kill -USR1 %s" % ("$PPID" if MP else str(os.getpid())))
        finally:
            self._kbd_watch = 0

    def stop(self):
        self.running = 0
        self._timer_waker.notify()
        if self.bench is not None:
            self.bench.close()


_board = [None]


def board():
    """The VM's Hardware (created by the board program at boot, or on first use)."""
    if _board[0] is None:
        _board[0] = Hardware(console=False)
    return _board[0]


def set_board(hw):
    _board[0] = hw
