"""Boot the BBC micro:bit v1 (nRF51822, Cortex-M0) in QEMU with its UART on a pty.

The firmware is Debian's ``firmware-microbit-micropython`` (MicroPython 1.9.2); the emulator
is ``qemu-system-arm -M microbit``.  Install both with::

    apt-get install -y qemu-system-arm firmware-microbit-micropython

Usage::

    from irqkit_host.qemu import start_microbit
    with start_microbit() as mb:          # waits for the ">>> " prompt
        print(mb.port)                     # e.g. /dev/pts/3 -- talk to it with mpremote/pyserial

Notes (QEMU 7.2):

- ``-kernel firmware.hex`` does *not* work ("Could not load kernel"): the Cortex-M kernel
  loader only understands ELF and raw images.  QEMU's generic loader does read Intel HEX,
  so we boot with ``-device loader,file=firmware.hex`` instead.
- The pty is the guest's UART0.  QEMU drops guest output while no process has the pty open,
  so anything printed at boot before the host connects is lost; :meth:`MicrobitQemu.wait_for_repl`
  pokes the REPL with CR/LF until it answers with a prompt.
- The guest runs as fast as the host lets it (no ``-icount``), so µs timings measured inside
  it describe the emulator, not an nRF51 at 16 MHz.
"""
from __future__ import annotations

import argparse
import atexit
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Iterable

QEMU_BINARY = "qemu-system-arm"
APT_HINT = "apt-get install qemu-system-arm firmware-microbit-micropython"
#: Where Debian's package puts the hex; ``IRQKIT_MICROBIT_HEX`` overrides it.
FIRMWARE_PATHS: tuple[str, ...] = (
    "/usr/share/firmware-microbit-micropython/firmware.hex",
)
FIRMWARE_ENV = "IRQKIT_MICROBIT_HEX"
QEMU_ENV = "IRQKIT_QEMU"

_PTY_RE = re.compile(rb"char device redirected to (/dev/pts/\d+)")
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


def qemu_available() -> str | None:
    """None when QEMU and the firmware are both installed, else the reason they are not."""
    try:
        find_qemu()
        find_microbit_firmware()
    except QemuError as exc:
        return str(exc)
    return None


def qemu_command(qemu: str, firmware: str) -> list[str]:
    """The command line that boots ``firmware`` with UART0 on a fresh pty."""
    return [
        qemu,
        "-M", "microbit",
        "-device", f"loader,file={firmware}",
        "-display", "none",
        "-monitor", "none",
        "-serial", "pty",
    ]


# Every live instance, so an interpreter exit (or a test that forgot its fixture) cannot leave
# a QEMU behind.  Kill-on-parent-death (PR_SET_PDEATHSIG) covers a SIGKILLed parent.
_LIVE: "weakref.WeakSet[MicrobitQemu]" = weakref.WeakSet()


@atexit.register
def _kill_all() -> None:
    for inst in list(_LIVE):
        inst.stop()


def _die_with_parent() -> None:  # runs in the child between fork and exec (Linux only)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # best effort: atexit / the context manager still clean up
        pass


class MicrobitQemu:
    """A running ``qemu-system-arm -M microbit``.  Use as a context manager, or call :meth:`stop`."""

    def __init__(self, proc: subprocess.Popen[bytes], port: str, command: list[str], firmware: str) -> None:
        self.proc = proc
        self.port = port
        self.command = command
        self.firmware = firmware
        #: Seconds from launch until the REPL answered (None if :meth:`wait_for_repl` was not run).
        self.boot_seconds: float | None = None
        self._started = time.monotonic()
        self._output_tail: deque[str] = deque(maxlen=40)
        self._drain = threading.Thread(target=self._drain_output, name=f"qemu-output-{proc.pid}", daemon=True)
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
        """Kill QEMU (SIGTERM, then SIGKILL) and reap it.  Safe to call more than once."""
        proc = self.proc
        if proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
                try:
                    os.killpg(proc.pid, sig)  # own session: its process group is its pid
                except ProcessLookupError:
                    break
                except PermissionError:
                    proc.send_signal(sig)
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            proc.wait()
        _LIVE.discard(self)

    def output_tail(self) -> str:
        """The last lines QEMU wrote to stdout/stderr (for error messages)."""
        return "\n".join(self._output_tail)

    def _drain_output(self) -> None:
        stream = self.proc.stdout
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            self._output_tail.append(raw.decode(errors="replace").rstrip())

    # -- guest -----------------------------------------------------------------------------
    def wait_for_repl(self, timeout: float = 30.0) -> float:
        """Poke the UART until MicroPython prints its ``>>> `` prompt; return seconds since launch.

        The pty is closed again afterwards so that mpremote/pyserial can open it exclusively.
        """
        import serial  # pyserial: a project dependency, imported here so find_* work without it

        deadline = time.monotonic() + timeout
        seen = b""
        with serial.Serial(self.port, 115200, timeout=0.1) as ser:
            next_poke = 0.0
            while True:
                if not self.running:
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
                   wait_repl: bool = True, extra_args: Iterable[str] = ()) -> MicrobitQemu:
    """Boot MicroPython for the micro:bit in QEMU; return once its REPL answers on ``.port``.

    Raises :class:`QemuNotInstalled` / :class:`FirmwareNotFound` with the apt line to run, or
    :class:`QemuError` if QEMU dies or the prompt does not appear within ``timeout`` seconds.
    The QEMU process is killed by :meth:`MicrobitQemu.stop`, the context manager, at interpreter
    exit, and (Linux) when the thread that started it dies.
    """
    qemu_path = qemu or find_qemu()
    hex_path = firmware or find_microbit_firmware()
    if not os.path.isfile(hex_path):
        raise FirmwareNotFound(f"firmware not found: {hex_path}")
    command = qemu_command(qemu_path, hex_path) + list(extra_args)
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # QEMU prints the pty name on stdout, errors on stderr
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    except OSError as exc:
        raise QemuError(f"cannot run {qemu_path}: {exc}") from exc

    # QEMU announces the pty on stdout before the guest starts ("char device redirected to
    # /dev/pts/N (label serial0)").  Read raw bytes with select so a silent QEMU cannot hang us.
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    head = b""
    port: str | None = None
    try:
        while port is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QemuError(f"qemu did not report its pty within {timeout:.0f} s: {head.decode(errors='replace')}")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not ready:
                if proc.poll() is not None:
                    raise QemuError(f"qemu exited with status {proc.returncode}: {head.decode(errors='replace').strip()}")
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                proc.wait(5)
                raise QemuError(f"qemu exited with status {proc.returncode}: {head.decode(errors='replace').strip()}")
            head += chunk
            m = _PTY_RE.search(head)
            if m and b"\n" in head[m.end():]:
                port = m.group(1).decode()
    except BaseException:
        _kill(proc)
        raise

    inst = MicrobitQemu(proc, port, command, hex_path)
    for line in head.decode(errors="replace").splitlines():
        inst._output_tail.append(line)
    if wait_repl:
        try:
            inst.wait_for_repl(max(1.0, deadline - time.monotonic()))
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
    try:
        inst = start_microbit(timeout=float(getattr(args, "timeout", None) or 30.0))
    except QemuError as exc:
        from .cli import CliError

        raise CliError(str(exc)) from None
    with inst:
        print(f"port: {inst.port}", flush=True)
        print(f"board: microbit-v1 (qemu-system-arm -M microbit, MicroPython 1.9.2), "
              f"REPL up in {inst.boot_seconds:.2f} s", flush=True)
        try:
            while inst.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        if not inst.running and inst.proc.returncode not in (0, -signal.SIGTERM):
            from .cli import CliError

            raise CliError(f"qemu exited with status {inst.proc.returncode}: {inst.output_tail()}")
    return 0
