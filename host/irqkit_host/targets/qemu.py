"""Boot the BBC micro:bit v1 (nRF51822, Cortex-M0) in QEMU with its UART on a pty.

The firmware is Debian's ``firmware-microbit-micropython`` (MicroPython 1.9.2, micro:bit 1.0.1);
the emulator is ``qemu-system-arm -M microbit``.  Install both with::

    apt-get install -y qemu-system-arm firmware-microbit-micropython

Usage::

    from irqkit_host.targets.qemu import start_microbit
    with start_microbit() as mb:          # returns once the ">>> " prompt answers
        print(mb.port)                     # e.g. /dev/pts/3 -- mpremote, pyserial, irqkit ...

How it is wired (QEMU 7.2, checked 2026-11):

- ``-kernel firmware.hex`` does *not* work ("Could not load kernel"): the Cortex-M kernel
  loader only reads ELF and raw images.  QEMU's generic loader reads Intel HEX, so we boot
  with ``-device loader,file=firmware.hex``.
- The guest UART is QEMU's stdio chardev, and a small bridge thread (:mod:`.ptybridge`) copies it to a pty that
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

import atexit
import os
import shutil
import signal
import subprocess
import time
import weakref
from typing import Iterable

import serial

from ..errors import FirmwareNotFound, QemuError, QemuNotInstalled
from .process import ManagedProcess
from .ptybridge import DEFAULT_BAUD, PtyBridge

QEMU_BINARY = "qemu-system-arm"
APT_HINT = "apt-get install qemu-system-arm firmware-microbit-micropython"
#: Where Debian's package puts the hex; ``$IRQKIT_MICROBIT_HEX`` overrides it.
FIRMWARE_PATHS: tuple[str, ...] = (
    "/usr/share/firmware-microbit-micropython/firmware.hex",
)
FIRMWARE_ENV = "IRQKIT_MICROBIT_HEX"
QEMU_ENV = "IRQKIT_QEMU"

_PROMPT = b">>> "


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


# Every live instance, so an interpreter exit (or a test that forgot its fixture) cannot leave
# a QEMU behind.  Kill-on-parent-death (PR_SET_PDEATHSIG) covers a SIGKILLed parent.
_LIVE: "weakref.WeakSet[MicrobitQemu]" = weakref.WeakSet()


@atexit.register
def _kill_all() -> None:
    for inst in list(_LIVE):
        inst.stop()


class MicrobitQemu(ManagedProcess):
    """A running ``qemu-system-arm -M microbit``.  Use as a context manager, or call :meth:`stop`.

    Launches ``command`` itself (a :class:`ManagedProcess`: SIGKILL when the launcher dies)
    and bridges QEMU's stdio UART to a pty (``.port``) paced at ``baud``.
    """

    parent_death_signal = signal.SIGKILL
    tail_lines = 40
    #: No bench channel on this target (``irqkit sim`` and measure look for one).
    bench: str | None = None
    title = "QEMU micro:bit"
    frozen = False   # Debian's firmware has no irqkit: deploy it
    runtime = "micropython"

    def __init__(self, command: list[str], firmware: str, baud: int | None = DEFAULT_BAUD) -> None:
        super().__init__()
        self.command = command
        self.firmware = firmware
        #: Seconds from launch until the REPL answered (None if :meth:`wait_for_repl` was not run).
        self.boot_seconds: float | None = None
        self._started = time.monotonic()
        try:
            proc = self._launch(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            raise QemuError(f"cannot run {command[0]}: {exc}") from exc
        assert proc.stdin is not None and proc.stdout is not None
        self.proc: subprocess.Popen[bytes] = proc
        try:
            self.bridge = PtyBridge(proc.stdin.fileno(), proc.stdout.fileno(), baud=baud)
        except BaseException:
            self._terminate(timeout=0)
            raise
        self.port = self.bridge.port
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
    def serving(self) -> bool:
        return self.running

    def banner(self) -> list[str]:
        """What ``irqkit sim --board microbit-v1`` prints after ``port:``."""
        return [f"board: microbit-v1 (qemu-system-arm -M microbit, MicroPython 1.9.2), "
                f"REPL up in {self.boot_seconds or 0.0:.2f} s"]

    def farewell(self) -> str:
        return ""

    def exit_reason(self) -> str:
        return f"qemu exited with status {self.proc.returncode}: {self.output_tail() or '(no output)'}"

    def stop(self, timeout: float = 5.0) -> None:
        """Kill QEMU (SIGTERM, then SIGKILL), reap it and close the pty.  Safe to call twice."""
        proc = self.proc
        self._terminate(timeout)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.bridge.close()
        _LIVE.discard(self)

    # -- guest -----------------------------------------------------------------------------
    def wait_for_repl(self, timeout: float = 30.0) -> float:
        """Poke the UART until MicroPython prints its ``>>> `` prompt; return seconds since launch.

        The pty is closed again afterwards so that mpremote/pyserial can open it exclusively.
        """
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
    inst = MicrobitQemu(command, hex_path, baud=baud)
    if wait_repl:
        try:
            inst.wait_for_repl(timeout)
        except BaseException:
            inst.stop()
            raise
    return inst
