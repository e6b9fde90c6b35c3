"""A pty that stands for a UART: bytes copied to and from a pair of fds, host->guest paced.

QEMU's UART has no baud rate, and the micro:bit firmware keeps received bytes in a 64-byte
ring that silently drops them when the REPL falls behind; so the bridge paces host->guest
bytes at a real UART's rate and writes the next 16-byte piece only once QEMU has taken the
last (see :mod:`.qemu` for the measurements). Guest->host is not paced.
"""
from __future__ import annotations

import array
import errno
import fcntl
import os
import select
import termios
import threading
import time
import tty

#: Default host->guest pacing: the micro:bit's console runs at 115200 baud (8N1 = 10 bits/byte).
DEFAULT_BAUD = 115200


class PtyBridge:
    """Copies bytes between a pty (``.port``) and a pair of fds, pacing the pty->fd direction.

    ``baud=None`` disables pacing.  Bytes written by the guest while the pty's buffer is full
    (nobody reading) are dropped and counted in ``dropped``.
    """

    def __init__(self, to_guest: int, from_guest: int, baud: int | None = DEFAULT_BAUD, burst: int = 16) -> None:
        self._to_guest = to_guest
        self._from_guest = from_guest
        self.baud = baud
        self.burst = max(1, burst)
        self.dropped = 0
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation, until a client sets its own mode
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._host_to_guest, name="qemu-uart-rx", daemon=True),
            threading.Thread(target=self._guest_to_host, name="qemu-uart-tx", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _host_to_guest(self) -> None:
        byte_time = 10.0 / self.baud if self.baud else 0.0
        next_at = 0.0
        try:
            while True:
                ready, _, _ = select.select([self._master, self._wake_r], [], [])
                if self._wake_r in ready:
                    return
                try:
                    data = os.read(self._master, 4096)
                except BlockingIOError:
                    continue
                except OSError as exc:  # EIO: cannot happen while we hold the slave, but be safe
                    if exc.errno == errno.EIO:
                        time.sleep(0.05)
                        continue
                    raise
                for i in range(0, len(data), self.burst):
                    piece = data[i:i + self.burst]
                    if byte_time:
                        now = time.monotonic()
                        if next_at > now:
                            time.sleep(next_at - now)
                        else:
                            next_at = now
                        next_at += len(piece) * byte_time
                        # Pacing alone is not enough: when the host is loaded, QEMU's vCPU
                        # can stall while this thread keeps writing, and on resume the
                        # guest takes the backlog at ISR speed, past its 64-byte ring.
                        # So hold the next piece until QEMU has taken the last one: then
                        # at most this piece plus the UART model's 6-byte FIFO ever reach
                        # the guest in one go.
                        if not self._wait_taken(byte_time):
                            return
                    _write_all(self._to_guest, piece)
        except OSError:  # QEMU went away (EPIPE) or we are closing (EBADF)
            return

    def _wait_taken(self, byte_time: float) -> bool:
        """Wait until QEMU has read everything written to its stdin pipe (False: closing)."""
        while _unread(self._to_guest) > 0:
            if self._closed:
                return False
            time.sleep(byte_time)
        return not self._closed

    def _guest_to_host(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self._from_guest, self._wake_r], [], [])
                if self._wake_r in ready:
                    return
                data = os.read(self._from_guest, 4096)
                if not data:
                    return  # QEMU exited
                while data:
                    try:
                        n = os.write(self._master, data)
                    except BlockingIOError:  # pty full: nobody is reading, drop like a UART would
                        self.dropped += len(data)
                        break
                    data = data[n:]
        except OSError:
            return

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(2.0)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _unread(fd: int) -> int:
    """Bytes written to a pipe that its reader has not taken yet (FIONREAD)."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    return buf[0]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
