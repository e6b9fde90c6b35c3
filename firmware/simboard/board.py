# The whole virtual board: its controller, pads, timers, console UART and the hardware
# threads that play the peripherals (timer compares, the UART's RX side on the console
# pty, the bench channel). One per VM; `board()` returns it. The firmware's view of it is
# simboard.machine.
#
# No f-strings (keep the same syntax rules as the core).
import os
import _thread

from simboard.clock import ticks_us, ticks_diff, ticks_add
from simboard.runtime import (MP, NONBLOCK, select, sleep_us, sleep_ms, console_write, run_dir, Waker,
                              stdin_readinto)
from simboard.controller import Controller, _vm_schedule
from simboard.peripherals import Pad, TimerModel, Injection, Uart, EdgeTrain
from simboard.bench import BenchServer
from simboard.schedq import ScheduleQueue
from simboard import personality
from simboard import rxtrace

KBD_GRACE_MS = 500    # CPython: a busy program is interrupted after this long
KBD_RESET_MS = 2000   # MicroPython: a program Ctrl-C cannot reach is reset after this long
RETRY_US = 200        # a delivery the VM's full schedule queue refused is retried this soon
RX_CHUNK = 4096       # bytes the UART service moves from the pty per read (the FIFO's size)
# The launcher made the pty master non-blocking (IRQKIT_SIM_NONBLOCK=1): then one read
# takes everything waiting. Without it a read of more than one byte could block, so the
# service falls back to a poll + 1-byte read per byte.
BULK_RX = NONBLOCK
UART_RECHECK_MS = 1     # the UART thread's poll while the main program is busy (ms)
UART_PARK_MAX_MS = 16   # ... and its longest nap while the main program idles (ms)


class Hardware:
    """The whole virtual board. One per VM; `board()` returns it."""

    def __init__(self, console=True, bench_path=None, persona=None):
        self.persona = persona if persona is not None else personality.current()
        self.ctrl = Controller(self)
        self.schedq = ScheduleQueue(self, self.persona.schedule_depth)
        self.main_waker = Waker()
        self._timer_waker = Waker(precise=True)
        self.pin_names = self.persona.pin_names
        self.pins = {}
        for n in self.pin_names:
            self.pins[n] = Pad(self, n)
        self.timers = []
        self.injections = []
        self.trains = []
        self._trains_lock = _thread.allocate_lock()
        self._timer_no = 0
        self.uart = Uart(self)
        self.console = console
        self._uart_lock = _thread.allocate_lock()
        self._one = bytearray(1)
        self._rxbuf = bytearray(RX_CHUNK)
        self._rxmv = memoryview(self._rxbuf)
        self.rx_reads = 0     # reads of the pty that returned bytes (STATS: port.uart_reads)
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
        self.sigint_out = 0      # 1: a SIGINT was sent for the pending Ctrl-C (MicroPython)
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
            self.bench = BenchServer(self, bench_path)
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
            if rxtrace.on:
                rxtrace.stamp(rxtrace.WAKE)
            self._uart_service(True, True)

    def idle(self, timeout_us):
        if self.kbd_pending and not self.sigint_out:
            self._raise_kbd()
        self.wait(timeout_us)
        if self.kbd_pending and not self.sigint_out:
            self._raise_kbd()

    def _raise_kbd(self):
        # the Ctrl-C is consumed by the interrupt, as a board's console consumes it: it
        # does not stay in the RX buffer for the REPL (or a program that catches it)
        self.kbd_pending = 0
        self.uart.discard_through_last(self.kbd_char)
        raise KeyboardInterrupt

    # -- pads and timers (the machine module configures them) --------------------------------
    def pad(self, name):
        p = self.pins.get(str(name))
        if p is None:
            raise ValueError("no pin %s (pins: %s)" % (name, " ".join(self.pin_names)))
        return p

    def next_timer_no(self):
        self._timer_no += 1
        return self._timer_no

    def start_timer(self, period_us, periodic, line):
        t = TimerModel(self, line.name, period_us, periodic, line)
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

    def stimulate(self, pads, steps):
        """Queue a timed edge list (EdgeTrain) for the hardware thread; returns at once."""
        tr = EdgeTrain(pads, steps)
        with self._trains_lock:   # the hardware thread drives and replaces the list
            tr.due(ticks_us())   # the first edge now, from the caller (as `set` does): a reply
            more = tr.i < len(tr.steps)   # that follows it sees it on the wire
            if more:
                self.trains.append(tr)
        if more:
            self.timers_changed()

    def catch_up(self):
        """Drive the steps of running trains whose time has come, now, from the caller.
        The hardware thread drives them on time as far as the host lets it; when it is
        late (its wake-up can lag a 100 us pulse's end by hundreds of us), a bench command
        that looks at or drives a pad must still see the wire as an outside generator
        left it: else `pulse` would start from a level the pulse before it had not yet
        left, and pulse the wrong way (its rising edge then only at its end)."""
        if self.trains:
            self._run_trains(ticks_us(), None)

    def _run_trains(self, now, nxt):
        # the lock: the hardware thread and a bench command (catch_up, stimulate) never
        # drive the same train's steps at once (the VM's threads run in parallel)
        with self._trains_lock:
            for tr in self.trains:
                d = tr.due(now)
                if d is not None and (nxt is None or d < nxt):
                    nxt = d
            self.trains = [tr for tr in self.trains if tr.i < len(tr.steps)]
        return nxt

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
            if ctrl.retry:
                ctrl.retry = 0
                ctrl.kick()
                self.schedq.kick()
                if ctrl.retry and (nxt is None or nxt > RETRY_US):
                    nxt = RETRY_US
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
            if self.trains:
                nxt = self._run_trains(ticks_us(), nxt)
            if nxt is not None and nxt < 0:
                nxt = 0
            self._timer_waker.wait(nxt)

    def _any_active(self):
        for t in self.timers:
            if t.active:
                return True
        return False

    # -- UART (console) ---------------------------------------------------------------------
    def uart_attached(self, L):
        """machine.UART.irq attached the RX line: 0x03 is now data (see _kbd_active)."""
        if self.kbd_pending:
            # A 0x03 arrived while the program was starting, before it took over the
            # link (e.g. inside the harness's first frame): it is the program's data
            # (it is still in the FIFO, in order), not a Ctrl-C.
            self.kbd_pending = 0
        self.uart.line = L
        if self.uart.available():
            # level-triggered like a UART's RX-not-empty flag: bytes already waiting
            # raise the interrupt as soon as it is enabled
            self.ctrl.raise_line(L)

    def _uart_thread(self):
        # The UART's RX side while the main program is busy. While it idles it watches the
        # console itself (wait) and takes the interrupt on its own thread; then this thread
        # naps and looks again: waking it each time the main program leaves wait() cost
        # that program a socket send that wakes a sleeping thread (~18 us of every PING,
        # measured; the VM has no GIL, and on a 2-core host the woken thread also takes a
        # core the host side needs), and a nap of a fixed 1 ms beat against 1 kHz stimuli
        # (a pin train's edges coalesced more often).
        p = select.poll()
        p.register(0, select.POLLIN)
        idle = select.poll()      # nothing registered: a sleep that is a poll like the others
        waker = self.main_waker
        park = 1
        while self.running:
            if waker.waiting:
                # the main program idles (and watches the console): look again later, a
                # little later each time it still idles (few wake-ups on an idle board;
                # RX while it is busy waits at most UART_PARK_MAX_MS for this thread)
                idle.poll(park)
                if park < UART_PARK_MAX_MS:
                    park += park
                continue
            park = 1
            ev = p.poll(UART_RECHECK_MS)
            if not ev or waker.waiting:
                continue
            if ev[0][1] & (select.POLLHUP | select.POLLERR) and not ev[0][1] & select.POLLIN:
                sleep_ms(20)  # no terminal attached: do not spin
                continue
            got = self._uart_service(True)
            if got == -2:
                sleep_us(200)   # RX FIFO full: let the program drain it
            elif got < 0:
                sleep_ms(20)

    def _uart_service(self, block, main=False):
        """Move waiting console bytes into the RX FIFO and raise the UART line.
        Run by the UART thread, or by the main thread when it is idle and sees the bytes
        first (an interrupt taken on the idle CPU: one thread hop less). The lock makes
        sure only one of them reads fd 0; a read never blocks: the fd is non-blocking
        (bulk RX), or poll() said readable first. Returns the number of bytes (-1: end of file/error)."""
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
            if not (MP and BULK_RX) and not p.poll(0):
                return 0   # (a non-blocking read needs no poll: it returns None instead)
            if MP and BULK_RX:
                # everything waiting in one read (the fd is non-blocking), into the FIFO
                # by slice; the Ctrl-C scan only while Ctrl-C is live (not under the app)
                if space > RX_CHUNK:
                    space = RX_CHUNK
                try:
                    n = stdin_readinto(self._rxbuf, space)
                except OSError:
                    n = 0
                if n is None:       # EAGAIN: the other thread took them (or a spurious poll)
                    return 0
                if not n:
                    return -1       # end of file
                if main and rxtrace.on:
                    rxtrace.stamp(rxtrace.READ)
                got = n
                self.rx_reads += 1
                if self._kbd_active():
                    buf = self._rxbuf
                    kc = self.kbd_char
                    for i in range(n):
                        if buf[i] == kc:
                            kbd = 1
                            break
                uart.put_from(self._rxmv, n)  # kept in order: see uart_rx_irq and Console.run_code
            elif MP:
                one = self._one
                while space:
                    space -= 1
                    try:
                        n = stdin_readinto(one)
                    except OSError:
                        n = 0
                    if not n:
                        if not got:
                            got = -1
                        break
                    c = one[0]
                    got += 1
                    self.rx_reads += 1
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
                else:
                    self.rx_reads += 1
                for c in data:
                    got += 1
                    if c == self.kbd_char and self._kbd_active():
                        kbd = 1
                    uart.put(c)  # kept in order: see uart_rx_irq and Console.run_code
        finally:
            self._uart_lock.release()
        if got > 0:
            if uart.on_rx is not None:
                uart.on_rx()
            if main and rxtrace.on:
                rxtrace.stamp(rxtrace.FIFO)
            if kbd:
                self.keyboard_interrupt()
            L = uart.line
            if L is not None and L.handler is not None:
                self.ctrl.raise_line(L)
            if main and rxtrace.on:
                rxtrace.stamp(rxtrace.RAISED)
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
        its next idle() (the REPL, machine.idle and time.sleep* idle). A program that does
        not idle within KBD_GRACE_MS is interrupted anyway: on CPython by interrupt_main,
        on the MicroPython VM by SIGINT (the unix VM's own Ctrl-C, raised at the next
        bytecode branch). Only when that does not reach it either (the main thread is
        stuck in a C call) is the board reset, after KBD_RESET_MS, and the console says so."""
        self.kbd_pending = 1
        self.main_waker.notify()
        if not self._kbd_watch:
            self._kbd_watch = 1
            _thread.start_new_thread(self._kbd_later, ())

    def kbd_consumed(self):
        """The Ctrl-C's KeyboardInterrupt was raised (the console or the probe saw it)."""
        self.kbd_pending = 0
        self.sigint_out = 0

    def kbd_rearm(self):
        """A SIGINT's KeyboardInterrupt landed in ROM code (a handler delivery) and was
        caught there: the Ctrl-C is still owed to the program."""
        self.sigint_out = 0
        self.kbd_pending = 1

    def _kbd_waiting(self):
        return self.kbd_pending and self._kbd_active()

    def _probe(self, _):
        # a scheduled callback runs at a bytecode boundary, after the VM raised any
        # pending exception: the main thread is running bytecode and took the SIGINT
        if self.sigint_out:
            self.kbd_consumed()
            self.uart.discard_through_last(self.kbd_char)

    def _kbd_later(self):
        try:
            sleep_ms(KBD_GRACE_MS)
            if not self._kbd_waiting():
                return
            if not MP:
                self.kbd_pending = 0
                _thread.interrupt_main()
                return
            waited = KBD_GRACE_MS
            sent_at = 0
            while waited < KBD_RESET_MS:
                if not self._kbd_waiting():
                    return
                if not self.sigint_out:
                    self.sigint_out = 1
                    sent_at = waited
                    # a background kill: system() ignores SIGINT in the caller while the
                    # shell runs; the unix VM's handler raises KeyboardInterrupt in the
                    # main thread (a second SIGINT before it is raised would end the VM)
                    os.system("(sleep 0.02; kill -INT $PPID) &")
                elif waited - sent_at >= 300:
                    try:
                        _vm_schedule(self._probe, None)
                    except RuntimeError:
                        pass
                sleep_ms(20)
                waited += 20
            if self._kbd_waiting():
                # Last resort: the main thread does not run bytecode (a blocking C call),
                # so nothing can raise KeyboardInterrupt in it: reset the board (the
                # launcher restarts a VM ended by SIGUSR1 as a soft reset), so mpremote and
                # the REPL get the board back.
                console_write(b"\r\nirqkit-sim: Ctrl-C could not interrupt the program "
                              b"(blocked in a call); resetting the board\r\n")
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


def current():
    """The VM's Hardware if the board is up, else None (creates nothing)."""
    return _board[0]


def set_board(hw):
    _board[0] = hw
