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

from simboard.runtime import MP, socketpair
from simboard import runtime

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


def install(fifo):
    if MP:
        stdin = _Stdin(fifo)
        s = _Sys()
        for k in dir(sys):
            if k[:2] != "__":
                setattr(s, k, getattr(sys, k))
        s.stdin = stdin
        if runtime.NONBLOCK:
            # output must wait for room on the non-blocking pty (runtime.ConsoleOut): the
            # VM's own stdout would drop what a full pty does not take
            s.stdout = runtime.ConsoleText(runtime.console_out)
            import builtins
            builtins.print = runtime.safe_print
        sys.modules["sys"] = s
    # CPython: leave sys.stdin alone (its select.poll cannot poll a Python object);
    # the CPython runtime's console link is the console UART (see README)
