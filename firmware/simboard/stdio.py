# The board's stdin: on a board sys.stdin reads the console's receive buffer (USB CDC or
# the REPL UART's ring), which the RX interrupt fills. Here that buffer is the console
# UART's RX FIFO (simboard/peripherals.Uart), filled by the UART thread from the pty, so a
# program that polls sys.stdin (irqkit's MachinePort on a USB CDC board) reads what the
# console would, pollable with select.poll like a board's stream.
#
# MicroPython's sys module cannot be assigned to, so on the VM `install()` puts a copy of
# it with this stdin into sys.modules["sys"]; on CPython sys.stdin is simply replaced.
import sys
import io

from simboard.runtime import MP

MP_STREAM_POLL = 3
POLLIN = 1


class ConsoleIn(io.IOBase):
    def __init__(self, fifo):
        self.fifo = fifo

    def readinto(self, buf):
        n = self.fifo.readinto(buf)
        return n if n else None

    def read(self, n=-1):
        k = self.fifo.available()
        if n >= 0 and k > n:
            k = n
        b = bytearray(k)
        self.fifo.readinto(b)
        return bytes(b)

    def ioctl(self, req, arg):
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
    stdin = _Stdin(fifo)
    if MP:
        s = _Sys()
        for k in dir(sys):
            if k[:2] != "__":
                setattr(s, k, getattr(sys, k))
        s.stdin = stdin
        sys.modules["sys"] = s
    # CPython: leave sys.stdin alone (its select.poll cannot poll a Python object);
    # the CPython runtime's console link is the console UART (see README)
