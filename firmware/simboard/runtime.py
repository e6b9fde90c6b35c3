# Runtime shims: what differs between the MicroPython unix VM and CPython, which both run
# the simulator's ROM — sleeping, writing to the console, printing a traceback like a
# board, socket pairs (MicroPython has no socketpair()) and the Waker the idle main
# program and the hardware threads sleep on.
#
# No f-strings (keep the same syntax rules as the core).
import sys
import _thread

MP = sys.implementation.name == "micropython"

try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select
import socket
import os
import io

from simboard import rxtrace

# The launcher made the pty master (fd 0 and 1: one open file) non-blocking, so the UART
# service can read all that waits in one call (simboard/board.py); output then has to
# wait for room itself (console_write below, which every console writer uses).
NONBLOCK = MP and os.getenv("IRQKIT_SIM_NONBLOCK") == "1"

if MP:
    import time as _time
    import struct

    def sleep_us(us):
        _time.sleep_us(us)

    def sleep_ms(ms):
        _time.sleep_ms(ms)

    def sockaddr_un(path):
        return struct.pack("<H", socket.AF_UNIX) + path.encode() + b"\0"

    _stdin = sys.stdin.buffer
    _stdout = sys.stdout.buffer

    _out_poll = select.poll()
    _out_poll.register(1, select.POLLOUT)

    def console_write(data):
        # the pty master may be non-blocking (the launcher's bulk-RX setting, shared by
        # fd 0 and fd 1): a full pty returns a short write or None; wait and go on, so no
        # byte is dropped (a blocking fd never takes the loop)
        if rxtrace.on:
            rxtrace.stamp(rxtrace.TX0)
        n = _stdout.write(data)
        if n is None or n < len(data):
            _write_rest(data, n or 0)
        if rxtrace.on:
            rxtrace.stamp(rxtrace.TX1)

    def _write_rest(data, n):
        mv = memoryview(data)
        k = len(mv)
        while n < k:
            _out_poll.poll(100)
            w = _stdout.write(mv[n:])
            if w:
                n += w

    def stdin_readinto(buf, n=-1):
        if n < 0:
            return _stdin.readinto(buf)
        return _stdin.readinto(buf, n)

    def format_exc(e):
        buf = io.StringIO()
        sys.print_exception(e, buf)
        return buf.getvalue()
else:
    import time as _time
    import traceback
    import errno

    def sleep_us(us):
        _time.sleep(us / 1000000.0)

    def sleep_ms(ms):
        _time.sleep(ms / 1000.0)

    def sockaddr_un(path):
        return path

    def stdin_readinto(buf):
        data = os.read(0, len(buf))
        buf[:len(data)] = data
        return len(data)

    def console_write(data):
        data = memoryview(bytes(data))
        while len(data):
            n = os.write(1, data)
            data = data[n:]

    def format_exc(e):
        lines = traceback.format_exception(type(e), e, e.__traceback__)
        if isinstance(e, OSError) and e.errno:
            # print like MicroPython ("OSError: [Errno 2] ENOENT"): mpremote parses it
            lines[-1] = "OSError: [Errno %d] %s\n" % (e.errno, errno.errorcode.get(e.errno, ""))
        return "".join(lines)


ROM_FILE = "/simboard/"


def rom_free(text):
    """A traceback without the ROM's frames: on a board the console, machine and the
    interrupt controller are C code, which a traceback never shows. A frame is its
    '  File "...", line N, in f' line and (CPython) the indented source lines under it."""
    out = []
    skip = False
    for ln in text.split("\n"):
        if ln.startswith('  File "'):
            skip = ROM_FILE in ln.split('"')[1]
            if skip:
                continue
        elif skip and ln.startswith("    "):
            continue
        else:
            skip = False
        out.append(ln)
    return "\n".join(out)


def cooked(text):
    """Text as a board's console sends it: every "\n" as "\r\n" (the REPL's stdout is
    "cooked" on a board: mp_hal_stdout_tx_strn_cooked)."""
    if isinstance(text, str):
        text = text.encode()
    return text.replace(b"\n", b"\r\n")


def print_exc(e, write=None):
    """Print a traceback like a board: no ROM frames, "\r\n" line ends."""
    (write or console_write)(cooked(rom_free(format_exc(e))))


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
    sa = sockaddr_un(path)
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
