"""The bytes under a :class:`~.frames.Link`: one read of what is waiting, one write.

pyserial opens every port (paths, ``socket://``, ``rfc2217://``, labgrid's) and sets it
up. When the port is a local tty or pty, :class:`FdWire` then talks to its file
descriptor directly — ``os.write``, ``select.poll`` + ``os.read`` of what is waiting: a
PING's hot path is 3 syscalls instead of pyserial's select/ioctl/read per call and its
Python layers around them (``Serial.write`` ~26 us vs ~4 us for ``os.write`` here).
Other ports keep :class:`SerialWire` (pyserial's read/write). pyserial does not buffer
on POSIX, so the same port object stays usable through pyserial (mpremote's transport,
the REPL prompt at stop) before and after.

Both raise ``OSError`` (pyserial's ``SerialException`` is one) when the device is gone.
"""
from __future__ import annotations

import math
import os
import select
import time
from typing import Any

import serial

__all__ = ["FdWire", "SerialWire", "can_use_fd", "make_wire", "wait_readable"]

# Longest single blocking pyserial read. Reads return as soon as bytes arrive, so this
# only bounds how late a timeout is noticed; it is kept constant because changing a
# pyserial timeout reconfigures the port (flock + tcsetattr) every time.
POLL_S = 0.1
_READ_MAX = 65536
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL
# How long a read polls without sleeping before it blocks. A host that sleeps in poll()
# while the device works is woken later than one that is still running: on this 2-core VM
# a PING's reply reached a blocked host ~30-60 us after the device wrote it, a spinning one
# ~20 (tools/bench_ping.py, README "Harness overhead"). A reply normally comes well inside
# this; a longer wait (a timer's next tick, a slow board) then blocks as before.
SPIN_S = 0.0003


def wait_readable(poll: Any, timeout: float) -> list[tuple[int, int]]:
    """poll (a select.poll with the fd registered) until it has events or ``timeout`` s
    passed: polling without sleeping for the first SPIN_S, then blocking."""
    events: list[tuple[int, int]] = poll.poll(0)
    if events or timeout <= 0:
        return events
    spin = SPIN_S if timeout > SPIN_S else timeout
    end = time.perf_counter() + spin
    while time.perf_counter() < end:
        events = poll.poll(0)
        if events:
            return events
    if timeout > spin:
        events = poll.poll(math.ceil((timeout - spin) * 1000))
    return events


def can_use_fd(ser: Any) -> bool:
    """True for an open pyserial POSIX port on a local tty/pty (its fd can be used)."""
    fd = getattr(ser, "fd", None)
    if os.name != "posix" or not isinstance(ser, serial.Serial) or not isinstance(fd, int):
        return False
    try:
        return os.isatty(fd)
    except OSError:
        return False


class SerialWire:
    """pyserial's own read and write (any port pyserial opens)."""

    direct = False

    def __init__(self, ser: Any) -> None:
        self._ser = ser
        self._timeout: float | None = getattr(ser, "timeout", None)

    def write(self, data: bytes) -> None:
        self._ser.write(data)

    def read(self, timeout: float) -> bytes:
        """What is waiting, after waiting up to ``timeout`` (<= POLL_S) for the first byte."""
        t = POLL_S if timeout >= POLL_S else timeout
        ser = self._ser
        try:
            if self._timeout != t:
                ser.timeout = t
                self._timeout = t
            n = ser.in_waiting
            return bytes(ser.read(n if n > 0 else 1))
        except (TypeError, AttributeError) as e:
            # pyserial after the port was closed from another thread (fd is None)
            if getattr(ser, "is_open", True):
                raise
            raise OSError("port closed") from e

    def reset_input(self) -> None:
        self._ser.reset_input_buffer()


class FdWire:
    """The port's file descriptor (pyserial opened it non-blocking)."""

    direct = True

    def __init__(self, ser: Any) -> None:
        self._ser = ser
        self._fd: int = ser.fd
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def _check_open(self) -> None:
        if self._ser.fd != self._fd:   # closed (maybe from another thread): never reuse it
            raise OSError("port closed")

    def write(self, data: bytes) -> None:
        fd = self._fd
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            n = 0
        while n < len(data):     # the tty's buffer is full: wait until it drains
            self._check_open()
            _r, w, x = select.select([], [fd], [fd], POLL_S)
            if x:
                raise OSError("device disconnected")
            if w:
                try:
                    n += os.write(fd, data[n:])
                except BlockingIOError:
                    pass

    def read(self, timeout: float) -> bytes:
        """What is waiting, after waiting up to ``timeout`` s for the first byte (b"": none)."""
        events = wait_readable(self._poll, timeout)
        if not events:
            return b""
        try:
            data = os.read(self._fd, _READ_MAX)
        except BlockingIOError:
            data = None
        if data:
            return data
        self._check_open()
        if data is None and not events[0][1] & _GONE:
            return b""                     # woken without data (another reader took it)
        raise OSError("device disconnected")

    def reset_input(self) -> None:
        self._ser.reset_input_buffer()


def make_wire(ser: Any, direct: bool | None = None) -> SerialWire | FdWire:
    """FdWire where the port allows it (or ``direct`` says so), else SerialWire."""
    if direct is None:
        direct = can_use_fd(ser)
    elif direct and not can_use_fd(ser):
        raise ValueError("the port is not a local tty: its file descriptor cannot be used")
    return FdWire(ser) if direct else SerialWire(ser)
