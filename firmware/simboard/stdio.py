# The board's stdin: on a board sys.stdin reads the console's receive buffer (USB CDC or
# the REPL UART's ring), which the RX interrupt fills. Here that buffer is the console
# UART's RX FIFO (simboard/peripherals.Uart), filled by the UART thread from the pty, so a
# program that polls sys.stdin (irqkit's MachinePort on a USB CDC board) reads what the
# console would, pollable with select.poll like a board's stream.
#
# MicroPython's sys module cannot be assigned to, so on the VM `install()` puts a copy of
# it with this stdin into sys.modules["sys"]; on CPython sys.stdin is simply replaced.
#
# Polling: the VM's select.poll on a Python stream object costs ~1.1 ms per call (it
# waits a tick), so ConsoleIn hands poll a real file descriptor instead (ioctl
# MP_STREAM_GET_FILENO): one end of a socket pair kept readable while the FIFO has bytes
# (a level, like the RX-not-empty flag). It may stay readable a moment after the FIFO
# emptied (readinto then returns None and clears it); it is never unreadable with bytes
# waiting, because the UART thread sets it after each batch it puts in the FIFO.
import sys
import io
import _thread

from simboard.runtime import (MP, socketpair, console_write, cooked, print_exc, format_exc,
                              rom_free)

MP_STREAM_POLL = 3
MP_STREAM_GET_FILENO = 10
POLLIN = 1


class RxLevel:
    def __init__(self, fifo):
        self.fifo = fifo
        self.rx, self.tx = socketpair()
        self.rx.setblocking(False)
        self.fd = self.rx.fileno()
        self.up = 0
        self.buf = bytearray(1)
        self._lock = _thread.allocate_lock()

    def set(self):
        self._lock.acquire()
        if not self.up:
            self.up = 1
            self.tx.send(b"\x01")
        self._lock.release()

    def clear_if_empty(self):
        self._lock.acquire()
        if self.up and not self.fifo.available():
            try:
                self.rx.readinto(self.buf) if MP else self.rx.recv_into(self.buf)
            except OSError:
                pass
            self.up = 0
        self._lock.release()


class ConsoleIn(io.IOBase):
    def __init__(self, fifo):
        self.fifo = fifo
        self.level = RxLevel(fifo)
        fifo.on_rx = self.level.set
        if fifo.available():
            self.level.set()

    def readinto(self, buf):
        n = self.fifo.readinto(buf)
        self.level.clear_if_empty()
        return n if n else None

    def read(self, n=-1):
        k = self.fifo.available()
        if n >= 0 and k > n:
            k = n
        b = bytearray(k)
        self.fifo.readinto(b)
        self.level.clear_if_empty()
        return bytes(b)

    def ioctl(self, req, arg):
        if req == MP_STREAM_GET_FILENO:
            return self.level.fd
        if req == MP_STREAM_POLL:
            return (arg & POLLIN) if self.fifo.available() else 0
        return -1

    # CPython's select.poll needs a file descriptor: none here (see install)
    def readable(self):
        return True


class _Stdin:
    def __init__(self, fifo):
        self.buffer = ConsoleIn(fifo)

    def read(self, n=-1):
        return self.buffer.read(n).decode()


class _Sys:
    """A stand-in for the sys module object (MicroPython cannot make module instances)."""


class CookedOut:
    """sys.stdout as a board's console gives it: text written with "\r\n" line ends
    (a board "cooks" the REPL's stdout), `.buffer` the raw byte stream (binary frames)."""

    def __init__(self, raw):
        self.buffer = raw

    def write(self, s):
        console_write(cooked(s))
        return len(s)

    def flush(self):
        pass


class RawOut:
    """The console's raw byte stream (sys.stdout.buffer): binary frames, uncooked."""

    def write(self, b):
        console_write(b)
        return len(b)

    def flush(self):
        pass


def _stand_in(mod, cls):
    s = cls()
    for k in dir(mod):
        if k[:2] != "__":
            setattr(s, k, getattr(mod, k))
    return s


class _Os:
    """A stand-in for the os module: ilistdir gives the size, as a board's VFS does."""


S_IFDIR = 0x4000
S_IFREG = 0x8000


def _join(path, name):
    if not path or path == ".":
        return name
    return path + name if path[-1:] == "/" else path + "/" + name


def _ilistdir_mp(vm_os):
    def ilistdir(path="."):
        for e in vm_os.ilistdir(path):
            size = 0
            if e[1] == S_IFREG:
                try:
                    size = vm_os.stat(_join(path, e[0]))[6]
                except OSError:
                    pass
            yield (e[0], e[1], e[2], size)
    return ilistdir


def _ilistdir_cpython(path="."):
    import os
    for e in os.scandir(path):
        st = e.stat(follow_symlinks=False)
        d = e.is_dir()
        yield (e.name, S_IFDIR if d else S_IFREG, e.inode(), 0 if d else st.st_size)


class _Time:
    """A stand-in for the time module: sleep/sleep_ms idle the board (handlers run,
    Ctrl-C raises KeyboardInterrupt) as mp_hal_delay_ms does on a board."""


def _sleeps(vm_time):
    from simboard import board as _board
    ticks_ms = vm_time.ticks_ms
    ticks_us = vm_time.ticks_us
    ticks_add = vm_time.ticks_add
    ticks_diff = vm_time.ticks_diff
    vm_sleep_us = vm_time.sleep_us

    def sleep_ms(ms):
        hw = _board.board()
        end = ticks_add(ticks_ms(), int(ms))
        while True:
            left = ticks_diff(end, ticks_ms())
            if left <= 0:
                hw.idle(0)   # a Ctrl-C that came meanwhile is raised here
                return
            hw.idle(left * 1000)

    def sleep_us(us):
        if us >= 2000:
            hw = _board.board()
            end = ticks_add(ticks_us(), int(us))
            while True:
                left = ticks_diff(end, ticks_us())
                if left <= 0:
                    break
                hw.idle(left)
        else:
            vm_sleep_us(us)
            hw = _board.board()
            if hw.kbd_pending:
                hw.idle(0)

    def sleep(s):
        sleep_ms(int(s * 1000))

    return sleep, sleep_ms, sleep_us


def install(fifo):
    """What user code gets as sys, os, time and print on this board."""
    if MP:
        import builtins
        import os
        import time
        s = _stand_in(sys, _Sys)
        s.stdin = _Stdin(fifo)
        # every writer goes through console_write, which waits for room on the launcher's
        # non-blocking pty (the VM's own stdout would drop what a full pty does not take)
        out = CookedOut(RawOut())
        s.stdout = out
        s.stderr = out

        def print_exception(e, file=None):
            if file is None or file is out:
                print_exc(e)
            else:
                file.write(rom_free(format_exc(e)))
        s.print_exception = print_exception
        sys.modules["sys"] = s

        vm_print = builtins.print

        def cooked_print(*args, sep=" ", end="\n", file=None):
            if file is not None and file is not out:
                vm_print(*args, sep=sep, end=end, file=file)
                return
            try:
                buf = io.StringIO()
            except MemoryError:   # heap locked (a print in a hard handler): as it is
                vm_print(*args, sep=sep, end=end)
                return
            vm_print(*args, sep=sep, end=end, file=buf)
            console_write(cooked(buf.getvalue()))
        builtins.print = cooked_print

        def repl_print(v):
            # what "single" mode (the REPL) calls with an expression's value: the VM's
            # own prints a bare "\n"
            if v is not None:
                console_write(cooked(repr(v) + "\n"))
        builtins.__repl_print__ = repl_print

        o = _stand_in(os, _Os)
        o.ilistdir = _ilistdir_mp(os)
        sys.modules["os"] = sys.modules["uos"] = o

        t = _stand_in(time, _Time)
        t.sleep, t.sleep_ms, t.sleep_us = _sleeps(time)
        sys.modules["time"] = sys.modules["utime"] = t
    else:
        # CPython: leave sys.stdin alone (its select.poll cannot poll a Python object);
        # the CPython runtime's console link is the console UART (see README).
        import os
        sys.stdout = CookedOut(sys.stdout.buffer)   # stderr stays the launcher's log
        os.ilistdir = _ilistdir_cpython
        import time
        from simboard import clock
        t = _stand_in(time, _Time)
        t.ticks_us = clock.ticks_us
        t.ticks_ms = lambda: (time.perf_counter_ns() // 1000000) & clock.TICKS_MASK
        t.ticks_add = clock.ticks_add
        t.ticks_diff = clock.ticks_diff
        t.sleep_us = lambda us: time.sleep(us / 1000000.0)
        _, t.sleep_ms, t.sleep_us = _sleeps(t)
        sys.modules["time"] = sys.modules["utime"] = t   # sleep() stays CPython's
