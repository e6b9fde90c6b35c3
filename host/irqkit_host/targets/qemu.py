"""Boot the BBC micro:bit v1 (nRF51822, Cortex-M0) in QEMU with its UART on a pty.

The firmware is Debian's ``firmware-microbit-micropython`` (MicroPython 1.9.2, micro:bit 1.0.1);
the emulator is ``qemu-system-arm -M microbit``.  Install both with::

    apt-get install -y qemu-system-arm firmware-microbit-micropython

Usage::

    from irqkit_host.qemu import start_microbit
    with start_microbit() as mb:          # returns once the ">>> " prompt answers
        print(mb.port)                     # e.g. /dev/pts/3 -- mpremote, pyserial, irqkit ...

How it is wired (QEMU 7.2, checked 2026-11):

- ``-kernel firmware.hex`` does *not* work ("Could not load kernel"): the Cortex-M kernel
  loader only reads ELF and raw images.  QEMU's generic loader reads Intel HEX, so we boot
  with ``-device loader,file=firmware.hex``.
- The guest UART is QEMU's stdio chardev, and a small bridge thread copies it to a pty that
  this module owns (``.port``).  The bridge exists because QEMU's UART has no baud rate: it
  hands the guest bytes as fast as the RX interrupt takes them, and the micro:bit firmware
  keeps them in a 64-byte ring that silently drops bytes when the REPL falls behind (measured:
  about 1 in 20 raw-REPL commands of a few hundred bytes arrived corrupted with QEMU's own
  ``-serial pty``).  The bridge paces host->guest bytes at a real UART's rate (115200 baud by
  default), which is what a physical micro:bit's USB-serial chip does.  Pacing in host time
  is not enough on a loaded host (2 of 16 runs of the QEMU tests lost a byte, 2026-12): when
  QEMU's vCPU stalls, the paced bytes pile up in its stdin pipe and the guest then takes them
  at ISR speed.  So the bridge also writes the next 16-byte piece only once QEMU has read the
  last one (``FIONREAD`` on the pipe is 0): at most 16 + the UART model's 6-byte FIFO reach
  the guest in one go, well inside its 64-byte ring.  Guest->host is not paced.  Guest output is buffered in the pty
  while nobody has it open (like a USB CDC port would not be: clients should flush input
  first, as mpremote does).
- The flash filesystem lives in emulated RAM: every boot starts with an empty filesystem.
- The guest runs as fast as the host lets it (no ``-icount``), so µs timings inside it
  describe the emulator, not an nRF51 at 16 MHz.
"""
from __future__ import annotations

import argparse
import array
import atexit
import errno
import fcntl
import io
import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
import tokenize
import tty
import weakref
from collections import deque
from typing import Callable, Iterable

QEMU_BINARY = "qemu-system-arm"
APT_HINT = "apt-get install qemu-system-arm firmware-microbit-micropython"
#: Where Debian's package puts the hex; ``$IRQKIT_MICROBIT_HEX`` overrides it.
FIRMWARE_PATHS: tuple[str, ...] = (
    "/usr/share/firmware-microbit-micropython/firmware.hex",
)
FIRMWARE_ENV = "IRQKIT_MICROBIT_HEX"
QEMU_ENV = "IRQKIT_QEMU"
#: Default host->guest pacing: the micro:bit's console runs at 115200 baud (8N1 = 10 bits/byte).
DEFAULT_BAUD = 115200

_PROMPT = b">>> "


class QemuError(RuntimeError):
    """QEMU could not be started, or the guest did not come up."""


class QemuNotInstalled(QemuError):
    """``qemu-system-arm`` is not on PATH."""


class FirmwareNotFound(QemuError):
    """The micro:bit MicroPython hex is not installed."""


def find_qemu() -> str:
    """Path of ``qemu-system-arm`` (``$IRQKIT_QEMU`` overrides), or raise :class:`QemuNotInstalled`."""
    override = os.environ.get(QEMU_ENV)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise QemuNotInstalled(f"${QEMU_ENV}={override} is not an executable file")
    path = shutil.which(QEMU_BINARY)
    if path is None:
        raise QemuNotInstalled(f"{QEMU_BINARY} not installed: {APT_HINT}")
    return path


def find_microbit_firmware(candidates: Iterable[str] | None = None) -> str:
    """Path of the micro:bit MicroPython hex, or raise :class:`FirmwareNotFound`.

    ``$IRQKIT_MICROBIT_HEX`` wins when set; then ``candidates`` (default :data:`FIRMWARE_PATHS`).
    """
    override = os.environ.get(FIRMWARE_ENV)
    if override:
        if os.path.isfile(override):
            return override
        raise FirmwareNotFound(f"${FIRMWARE_ENV}={override} does not exist")
    for path in (FIRMWARE_PATHS if candidates is None else tuple(candidates)):
        if os.path.isfile(path):
            return path
    raise FirmwareNotFound(f"micro:bit MicroPython firmware not installed: {APT_HINT}")


def qemu_unavailable_reason() -> str | None:
    """None when QEMU and the firmware are both installed, else why not (for pytest skips)."""
    try:
        find_qemu()
        find_microbit_firmware()
    except QemuError as exc:
        return str(exc)
    return None


#: Older name, kept for callers: returns the reason, or None when available.
qemu_available = qemu_unavailable_reason


def qemu_command(qemu: str, firmware: str) -> list[str]:
    """The command line that boots ``firmware`` with UART0 on QEMU's stdin/stdout."""
    return [
        qemu,
        "-M", "microbit",
        "-device", f"loader,file={firmware}",
        "-display", "none",
        "-monitor", "none",
        "-nodefaults",
        "-chardev", "stdio,id=uart0,signal=off",
        "-serial", "chardev:uart0",
    ]


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


def microbit_fs_name(relpath: str) -> str:
    """The micro:bit filesystem name for a file of a package, so that imports still work.

    The micro:bit filesystem is flat (no directories, but ``/`` is allowed in a name) and
    1.9.2 cannot import packages (``irqkit/__init__.py`` is not found).  It can import
    *submodules of a module*, though: after loading ``irqkit.py`` it looks for
    ``irqkit.compat`` at ``irqkit.py/compat.py``.  So ``irqkit/__init__.py`` -> ``irqkit.py``,
    ``irqkit/ring.py`` -> ``irqkit.py/ring.py``, ``irqkit/ports/x.py`` ->
    ``irqkit.py/ports.py/x.py``, and ``from irqkit.ring import Ring`` works unchanged
    (checked on the QEMU micro:bit, two levels deep).  Relative imports are not supported.
    """
    rel = relpath.replace("\\", "/").strip("/")
    if not rel.endswith(".py"):
        raise ValueError(f"not a .py file: {relpath}")
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or any(not p for p in parts):
        raise ValueError(f"bad module path: {relpath}")
    return "/".join(p + ".py" for p in parts)


def strip_source(src: str) -> str:
    """Drop comments, docstrings and blank lines; indent one space per level.

    For boards that compile source on the device (the micro:bit runs 1.9.2 and cannot load
    .mpy).  The result has the same AST minus docstrings.  Measured on the QEMU micro:bit:
    compat.py 3159 -> ~1700 bytes of flash, and the heap compat+ring keep after import
    3616 -> 2816 bytes (docstrings are kept as interned strings by the 1.9.2 parser).
    """
    toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    lines: list[tuple[int, str]] = []
    depth = 0
    cur: list[tokenize.TokenInfo] = []
    for i, tok in enumerate(toks):
        if tok.type in (tokenize.COMMENT, tokenize.NL):
            continue
        if tok.type == tokenize.INDENT:
            depth += 1
            continue
        if tok.type == tokenize.DEDENT:
            depth -= 1
            continue
        if tok.type == tokenize.ENDMARKER:
            break
        if tok.type == tokenize.NEWLINE:
            if cur:
                lines.append((depth, _join_tokens(cur)))
            cur = []
            continue
        if tok.type == tokenize.STRING and not cur:  # a bare string statement: a docstring
            j = i + 1
            while toks[j].type in (tokenize.COMMENT, tokenize.NL):
                j += 1
            if toks[j].type == tokenize.NEWLINE:
                lines.append((depth, "pass"))
                toks[j] = toks[j]._replace(type=tokenize.NL)  # the statement is done
                continue
        cur.append(tok)
    out = []
    for k, (d, text) in enumerate(lines):  # keep a docstring's 'pass' only if the block is empty
        if text == "pass" and k + 1 < len(lines) and lines[k + 1][0] >= d:
            continue
        out.append(" " * d + text)
    return "\n".join(out) + "\n"


def _join_tokens(toks: list[tokenize.TokenInfo]) -> str:
    words = (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)
    text = ""
    prev: tokenize.TokenInfo | None = None
    for tok in toks:
        if prev is not None and prev.type in words and tok.type in words:
            text += " "
        text += tok.string
        prev = tok
    return text


# Every live instance, so an interpreter exit (or a test that forgot its fixture) cannot leave
# a QEMU behind.  Kill-on-parent-death (PR_SET_PDEATHSIG) covers a SIGKILLed parent.
_LIVE: "weakref.WeakSet[MicrobitQemu]" = weakref.WeakSet()


@atexit.register
def _kill_all() -> None:
    for inst in list(_LIVE):
        inst.stop()


def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl, resolved in the parent: the forked child must not import or allocate much."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except Exception:
        return None


_PRCTL = _load_prctl()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


class MicrobitQemu:
    """A running ``qemu-system-arm -M microbit``.  Use as a context manager, or call :meth:`stop`."""

    def __init__(self, proc: subprocess.Popen[bytes], bridge: PtyBridge, command: list[str], firmware: str) -> None:
        self.proc = proc
        self.bridge = bridge
        self.port = bridge.port
        self.command = command
        self.firmware = firmware
        #: Seconds from launch until the REPL answered (None if :meth:`wait_for_repl` was not run).
        self.boot_seconds: float | None = None
        self._started = time.monotonic()
        self._output_tail: deque[str] = deque(maxlen=40)
        self._drain = threading.Thread(target=self._drain_stderr, name=f"qemu-stderr-{proc.pid}", daemon=True)
        self._drain.start()
        _LIVE.add(self)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "MicrobitQemu":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Kill QEMU (SIGTERM, then SIGKILL), reap it and close the pty.  Safe to call twice."""
        proc = self.proc
        if proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)  # own session: its process group id is its pid
                except ProcessLookupError:
                    break
                except PermissionError:
                    proc.send_signal(sig)
                try:
                    proc.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.bridge.close()
        _LIVE.discard(self)

    def output_tail(self) -> str:
        """The last lines QEMU wrote to stderr (for error messages)."""
        return "\n".join(self._output_tail)

    def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        if stream is None:
            return
        try:
            for raw in iter(stream.readline, b""):
                self._output_tail.append(raw.decode(errors="replace").rstrip())
        except (OSError, ValueError):
            return

    # -- guest -----------------------------------------------------------------------------
    def wait_for_repl(self, timeout: float = 30.0) -> float:
        """Poke the UART until MicroPython prints its ``>>> `` prompt; return seconds since launch.

        The pty is closed again afterwards so that mpremote/pyserial can open it exclusively.
        """
        import serial  # type: ignore[import-untyped]  # pyserial; imported here so find_* work without it

        deadline = time.monotonic() + timeout
        seen = b""
        with serial.Serial(self.port, 115200, timeout=0.1) as ser:
            next_poke = 0.0
            while True:
                if not self.running:
                    time.sleep(0.1)  # let the stderr drain catch up
                    raise QemuError(f"qemu exited with status {self.proc.returncode} before the REPL came up: "
                                    f"{self.output_tail() or '(no output)'}")
                now = time.monotonic()
                if now >= deadline:
                    raise QemuError(f"no MicroPython prompt on {self.port} within {timeout:.0f} s "
                                    f"(got {seen[-200:]!r})")
                if now >= next_poke:
                    # Ctrl-C interrupts a running main.py; CR LF asks for a fresh prompt.
                    ser.write(b"\x03\r\n")
                    next_poke = now + 0.5
                chunk = ser.read(256)
                if chunk:
                    seen += chunk
                    if _PROMPT in seen:
                        break
            time.sleep(0.05)
            ser.reset_input_buffer()
        self.boot_seconds = time.monotonic() - self._started
        return self.boot_seconds


def start_microbit(timeout: float = 30.0, *, firmware: str | None = None, qemu: str | None = None,
                   baud: int | None = DEFAULT_BAUD, wait_repl: bool = True,
                   extra_args: Iterable[str] = ()) -> MicrobitQemu:
    """Boot MicroPython for the micro:bit in QEMU; return once its REPL answers on ``.port``.

    ``baud`` paces bytes sent to the guest (None: as fast as QEMU takes them, which loses
    bytes).  Raises :class:`QemuNotInstalled` / :class:`FirmwareNotFound` with the apt line to
    run, or :class:`QemuError` if QEMU dies or the prompt does not appear within ``timeout``.
    QEMU is killed by :meth:`MicrobitQemu.stop`, by the context manager, at interpreter exit,
    and (Linux) when the thread that started it dies.
    """
    qemu_path = qemu or find_qemu()
    hex_path = firmware or find_microbit_firmware()
    if not os.path.isfile(hex_path):
        raise FirmwareNotFound(f"firmware not found: {hex_path}")
    command = qemu_command(qemu_path, hex_path) + list(extra_args)
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
    except OSError as exc:
        raise QemuError(f"cannot run {qemu_path}: {exc}") from exc
    assert proc.stdin is not None and proc.stdout is not None
    try:
        bridge = PtyBridge(proc.stdin.fileno(), proc.stdout.fileno(), baud=baud)
    except BaseException:
        _kill(proc)
        raise
    inst = MicrobitQemu(proc, bridge, command, hex_path)
    if wait_repl:
        try:
            inst.wait_for_repl(timeout)
        except BaseException:
            inst.stop()
            raise
    return inst


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def run(args: argparse.Namespace) -> int:
    """Serve a QEMU micro:bit until interrupted, printing ``port: /dev/pts/N`` (for ``irqkit sim``)."""
    from .cli import CliError

    try:
        inst = start_microbit(timeout=float(getattr(args, "timeout", None) or 30.0))
    except QemuError as exc:
        raise CliError(str(exc)) from None
    if threading.current_thread() is threading.main_thread():
        # `kill PID` should stop QEMU too: turn SIGTERM into a normal exit through `with`.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    with inst:
        print(f"port: {inst.port}", flush=True)
        print(f"board: microbit-v1 (qemu-system-arm -M microbit, MicroPython 1.9.2), "
              f"REPL up in {inst.boot_seconds:.2f} s", flush=True)
        try:
            while inst.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        raise CliError(f"qemu exited with status {inst.proc.returncode}: {inst.output_tail() or '(no output)'}")
