# The simulator board's console: the program the launcher runs in the VM.
#
# The unix VM's own REPL has no raw REPL, so this module plays a board's console on the
# pty: boot.py/main.py from flash (the working directory), the friendly REPL (">>> ",
# Ctrl-C, Ctrl-D soft reboot, Ctrl-E paste mode) and the raw REPL with raw-paste mode that
# mpremote uses. A soft reset ends the VM process with a status the launcher reads
# (EXIT_SOFT / EXIT_SOFT_RAW) and the launcher starts a fresh VM on the same pty.
#
# Console input arrives through the simulated UART (the board's RX FIFO); output goes straight
# to the pty (fd 1). Runs on the MicroPython VM and on CPython.
import sys
import os

from simboard.runtime import MP, console_write, print_exc, cooked
from simboard import board as sim_board
from simboard import machine as sim_machine
from simboard import upy as sim_micropython
from simboard import stdio
from simboard.exitstatus import EXIT_SOFT, EXIT_SOFT_RAW

RAW_PASTE_WINDOW = 256



def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class SoftReset(Exception):
    raw = False


class SoftResetRaw(SoftReset):
    raw = True


class Console:
    TYPE_HELP = "\r\nType \"help()\" for more information.\r\n"

    def __init__(self, hw):
        self.hw = hw
        self.uart = hw.uart
        self.globals = {"__name__": "__main__"}
        if MP:
            self.banner = "MicroPython %s on %s; irqkit-sim %s (unix VM)" % (
                ".".join([str(x) for x in sys.implementation.version[:3]]), sys.platform,
                hw.persona.name)
        else:
            self.banner = "CPython %s; irqkit-sim %s (cpython runtime: heap_lock is a no-op)" % (
                sys.version.split()[0], hw.persona.name)

    # -- io -----------------------------------------------------------------------------
    def write(self, s):
        if isinstance(s, str):
            s = s.encode()
        console_write(s)

    def getc(self):
        while True:
            c = self.uart.getc()
            if c >= 0:
                return c
            self.hw.wait(None)

    # -- running user code ----------------------------------------------------------------
    def _print_exc(self, e):
        print_exc(e)

    def run_code(self, src, filename, mode="exec"):
        """Compile and run; print the traceback like a board. Returns the exception or None."""
        hw = self.hw
        hw.kbd_consumed()   # a stale Ctrl-C is not this program's
        hw.user_running = 1
        err = None
        try:
            try:
                self._run(src, filename, mode)
            finally:
                hw.user_running = 0
                hw.kbd_pending = 0
        except SystemExit:
            raise SoftReset()
        except BaseException as e:  # KeyboardInterrupt included
            err = e
            if isinstance(e, KeyboardInterrupt):
                hw.kbd_consumed()
                self.uart.discard_through_last(hw.kbd_char)  # the Ctrl-C was consumed
        return err

    def _run(self, src, filename, mode):
        exec(compile(src, filename, mode), self.globals)

    def run_file(self, name):
        if not _exists(name):
            return
        try:
            with open(name) as f:
                src = f.read()
        except OSError as e:
            self.write("%s: %s\r\n" % (name, e))
            return
        err = self.run_code(src, name)
        if err is not None:
            self._print_exc(err)

    # -- raw REPL -----------------------------------------------------------------------
    def raw_repl(self):
        """Returns when the host leaves with Ctrl-B; raises SoftReset on Ctrl-D at an
        empty prompt."""
        self.write(b"raw REPL; CTRL-B to exit\r\n")
        while True:
            self.write(b">")
            line = bytearray()
            while True:
                c = self.getc()
                if c == 1:  # Ctrl-A: raw-paste request (Ctrl-E 'A' Ctrl-A) or re-banner
                    if line == b"\x05A":
                        self._raw_paste()
                        line = None
                        break
                    self.write(b"raw REPL; CTRL-B to exit\r\n")
                    line = bytearray()
                    self.write(b">")
                elif c == 2:  # Ctrl-B: friendly REPL
                    self.write(b"\r\n")
                    return
                elif c == 3:  # Ctrl-C: clear the line
                    line = bytearray()
                elif c == 4:  # Ctrl-D: run, or soft reset on an empty line
                    if not line:
                        raise SoftResetRaw()
                    self.write(b"OK")
                    self._raw_exec(bytes(line))
                    line = None
                    break
                else:
                    line.append(c)

    def _raw_exec(self, src):
        try:
            text = src.decode()
        except UnicodeError:
            text = None
        if text is None:
            self.write(b"\x04")
            self.write(b"UnicodeError: source is not UTF-8\r\n\x04")
            return
        err = self.run_code(text, "<stdin>")
        self.write(b"\x04")
        if err is not None:
            self._print_exc(err)
        self.write(b"\x04")

    def _raw_paste(self):
        w = RAW_PASTE_WINDOW
        self.write(b"R\x01" + bytes([w & 0xFF, w >> 8]) + b"\x01")
        data = bytearray()
        since = 0
        while True:
            c = self.getc()
            if c == 4:
                self.write(b"\x04")
                break
            if c == 3:  # abort
                self.write(b"\x04")
                return
            data.append(c)
            since += 1
            if since >= w:
                since = 0
                self.write(b"\x01")
        self._raw_exec(bytes(data))

    # -- friendly REPL ------------------------------------------------------------------
    def friendly_repl(self):
        """Returns "raw" when the host asks for the raw REPL; raises SoftReset on Ctrl-D."""
        self.write(self.banner + self.TYPE_HELP)
        lines = []
        line = bytearray()
        self.write(b">>> ")
        while True:
            c = self.getc()
            if c == 1:
                self.write(b"\r\n")
                return "raw"
            if c == 2:
                self.write("\r\n" + self.banner + self.TYPE_HELP + ">>> ")
                lines = []
                line = bytearray()
            elif c == 3:
                self.write(b"\r\nKeyboardInterrupt\r\n>>> ")
                lines = []
                line = bytearray()
            elif c == 4:
                if not line and not lines:
                    self.write(b"\r\n")
                    raise SoftReset()
            elif c == 5:
                self._paste_mode()
                lines = []
                line = bytearray()
                self.write(b">>> ")
            elif c == 8 or c == 127:
                if line:
                    line = line[:-1]
                    self.write(b"\x08 \x08")
            elif c == 27:  # escape sequence (arrow keys): ignore it
                c2 = self.getc()
                if c2 == 91:
                    while True:
                        c3 = self.getc()
                        if 64 <= c3 <= 126:
                            break
            elif c == 13 or c == 10:
                if c == 10 and not line and not lines:
                    continue  # "\r\n" sends both
                self.write(b"\r\n")
                text = line.decode()
                line = bytearray()
                if lines or text.rstrip().endswith(":"):
                    lines.append(text)
                    if text.strip():
                        self.write(b"... ")
                        continue
                    text = "\n".join(lines) + "\n"
                    lines = []
                if text.strip():
                    err = self.run_code(text, "<stdin>", "single")
                    if err is not None:
                        self._print_exc(err)
                self.write(b">>> ")
            elif c >= 32 or c == 9:
                line.append(c)
                self.write(bytes([c]))

    def _paste_mode(self):
        self.write(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
        data = bytearray()
        while True:
            c = self.getc()
            if c == 3:
                self.write(b"\r\n")
                return
            if c == 4:
                self.write(b"\r\n")
                break
            data.append(c)
            if c == 13:
                self.write(b"\r\n=== ")
            elif c != 10:
                self.write(bytes([c]))
        err = self.run_code(data.decode().replace("\r\n", "\n").replace("\r", "\n"), "<stdin>")
        if err is not None:
            self._print_exc(err)


def install_rom(hw):
    """Make this board's ROM modules what `import machine` / `import micropython` /
    sys.stdin give user code, as a board's firmware does."""
    sys.modules["machine"] = sim_machine
    sys.modules["micropython"] = sim_micropython
    stdio.install(hw.uart)


def main():
    raw = os.getenv("IRQKIT_SIM_RAW") == "1"
    bench = os.getenv("IRQKIT_SIM_BENCH") or None
    hw = sim_board.Hardware(console=True, bench_path=bench)
    sim_board.set_board(hw)
    install_rom(hw)
    con = Console(hw)
    status = 0
    try:
        con.run_file("boot.py")
        if not raw:
            con.run_file("main.py")
        mode = "raw" if raw else "friendly"
        while True:
            try:
                if mode == "raw":
                    con.raw_repl()
                    mode = "friendly"
                else:
                    mode = con.friendly_repl()
            except KeyboardInterrupt:
                # Ctrl-C that arrived just as user code finished
                hw.kbd_consumed()
                mode = "friendly" if mode != "raw" else "raw"
    except SoftReset as e:
        con.write(b"MPY: soft reboot\r\n")
        status = EXIT_SOFT_RAW if e.raw else EXIT_SOFT
    hw.stop()
    return status
