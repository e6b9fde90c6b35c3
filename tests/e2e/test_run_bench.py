"""`irqkit bench`, `irqkit sim --name/--link` and `irqkit run`, end to end: real `irqkit sim`
processes on real ptys, the CLI as a user runs it, mpremote afterwards.

Each test gets its own simulator registry (IRQKIT_SIM_REGISTRY) so simulators other
people run on this machine do not count as "running" here.
"""
from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from irqkit_host.boards import load_board
from irqkit_host.deploy import app_start_code
from irqkit_host.targets import qemu

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}",
                IRQKIT_SIM_REGISTRY=str(tmp_path / "registry"))


def irqkit(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irqkit_host", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


class SimCli:
    """`irqkit sim ARGS` running in the background; .info holds its `key: value` lines."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "irqkit_host", "sim", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.info: dict[str, str] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            key, _, value = line.rstrip("\n").partition(": ")
            self.info[key] = value
            if key == "name" and "--link" not in args:
                break
            if key == "link":
                break
        assert "port" in self.info and "name" in self.info, (self.info, self.proc.stderr and self.proc.stderr.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sims(env: dict[str, str]) -> Iterator[list[SimCli]]:
    started: list[SimCli] = []
    yield started
    for s in started:
        s.stop()


def one_line_error(p: subprocess.CompletedProcess[str], prog: str, needle: str) -> None:
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"irqkit {prog}: error:") and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_bench_finds_the_only_running_sim(env: dict[str, str], sims: list[SimCli]) -> None:
    one_line_error(irqkit(env, "bench", "pins"), "bench", "no simulator is running")
    sims.append(SimCli(env))
    assert sims[0].info["name"] == "sim"
    p = irqkit(env, "bench", "pulse", "P0")
    assert p.returncode == 0 and p.stdout.strip() == "P0 pulsing 100 us", p
    # the commands reach that board: a level set through one call is read by the next
    assert irqkit(env, "bench", "set", "P2", "1").returncode == 0
    assert irqkit(env, "bench", "get", "P2").stdout.strip() == "1"
    p = irqkit(env, "bench", "pins")
    assert p.returncode == 0 and '"P0"' in p.stdout and '"mode"' in p.stdout
    # explicit URL, as `irqkit sim` printed it
    assert irqkit(env, "bench", "--bench", sims[0].info["bench"], "get", "P2").stdout.strip() == "1"


def test_bench_err_reply_and_bad_urls_are_one_line(env: dict[str, str], sims: list[SimCli]) -> None:
    sims.append(SimCli(env))
    one_line_error(irqkit(env, "bench", "get", "P99"), "bench", "no pin P99")
    one_line_error(irqkit(env, "bench", "frobnicate"), "bench", "frobnicate")
    one_line_error(irqkit(env, "bench", "--bench", "unix:/nonexistent/bench.sock", "pins"), "bench",
                   "cannot reach the bench")
    one_line_error(irqkit(env, "bench", "--bench", "tcp:1.2.3.4", "pins"), "bench", "bad bench URL")


def test_name_picks_among_several_and_stale_entries_are_ignored(
        env: dict[str, str], sims: list[SimCli], tmp_path: Path) -> None:
    sims.append(SimCli(env, "--name", "left"))
    sims.append(SimCli(env, "--name", "right"))
    one_line_error(irqkit(env, "bench", "pins"), "bench", "2 simulators are running (left, right)")
    assert irqkit(env, "bench", "--name", "left", "set", "P2", "1").returncode == 0
    assert irqkit(env, "bench", "--name", "left", "get", "P2").stdout.strip() == "1"
    assert irqkit(env, "bench", "--name", "right", "get", "P2").stdout.strip() == "0"
    one_line_error(irqkit(env, "bench", "--name", "middle", "pins"), "bench",
                   "no running simulator named 'middle' (running: left, right)")
    # a name in use is refused before anything starts
    one_line_error(irqkit(env, "sim", "--name", "left"), "sim", "already running")
    # the entry of a launcher killed with SIGKILL is ignored (and removed)
    sims[1].proc.kill()
    sims[1].proc.wait()
    registry = tmp_path / "registry"
    assert (registry / "right.json").exists()
    p = irqkit(env, "bench", "get", "P2")
    assert p.returncode == 0 and p.stdout.strip() == "1", p
    assert not (registry / "right.json").exists()
    # a clean stop removes its own entry
    sims[0].stop()
    assert not (registry / "left.json").exists()


def test_link_is_a_stable_path_to_the_pty(env: dict[str, str], sims: list[SimCli], tmp_path: Path) -> None:
    link = tmp_path / "board"
    sims.append(SimCli(env, "--link", str(link)))
    assert os.readlink(link) == sims[0].info["port"]
    out = subprocess.run(["mpremote", "connect", str(link), "exec", "print(6*7)"], capture_output=True,
                         text=True, timeout=30)
    assert out.stdout.strip() == "42", out
    sims[0].stop()
    assert not os.path.lexists(link)
    (tmp_path / "file").write_text("x")
    one_line_error(irqkit(env, "sim", "--link", str(tmp_path / "file")), "sim", "is not a symlink")


LOOP_APP = """import time
print("app started")
n = 0
while True:
    n += 1
    if n % 10 == 0:
        print("tick", n)
    time.sleep_ms(10)
"""


def _run_then_ctrl_c(env: dict[str, str], app: Path, port: str, marker: bytes) -> tuple[int, bytes, str]:
    p = subprocess.Popen([sys.executable, "-m", "irqkit_host", "run", str(app), "--port", port], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return _collect_then_ctrl_c(p, marker)


def _collect_then_ctrl_c(p: subprocess.Popen[bytes], marker: bytes) -> tuple[int, bytes, str]:
    assert p.stdout is not None
    seen = b""
    deadline = time.monotonic() + 60
    while marker not in seen and time.monotonic() < deadline:
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert marker in seen, (seen, p.stderr and p.stderr.read())
    p.send_signal(signal.SIGINT)      # what Ctrl-C at the terminal sends irqkit
    out, err = p.communicate(timeout=30)
    return p.returncode, seen + out, err.decode()


def _mpremote_42(port: str) -> None:
    out = subprocess.run(["mpremote", "connect", port, "exec", "print(6*7)"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "42", out


def test_run_streams_and_ctrl_c_leaves_a_repl(env: dict[str, str], sims: list[SimCli], tmp_path: Path) -> None:
    sims.append(SimCli(env))
    port = sims[0].info["port"]
    app = tmp_path / "loop.py"
    app.write_text(LOOP_APP)
    rc, out, err = _run_then_ctrl_c(env, app, port, b"tick 20")
    assert rc == 130, err
    assert b"app started" in out and b"tick 10" in out
    assert "stopped loop.py (Ctrl-C)" in err and "Traceback" not in err
    _mpremote_42(port)
    # the file was deployed next to irqkit
    ls = subprocess.run(["mpremote", "connect", port, "exec", "import os; print(os.listdir())"],
                        capture_output=True, text=True, timeout=30)
    assert "'loop.py'" in ls.stdout and "'irqkit'" in ls.stdout, ls


def test_run_stops_an_app_that_owns_the_uart(env: dict[str, str], sims: list[SimCli], tmp_path: Path) -> None:
    """irqkit's responder attaches a UartSource: Ctrl-C is data for it, its break rule stops it."""
    sims.append(SimCli(env))
    port = sims[0].info["port"]
    app = tmp_path / "responder.py"
    app.write_text('print("responder up")\n' + app_start_code(load_board("sim"))[0])
    rc, out, err = _run_then_ctrl_c(env, app, port, b"responder up")
    assert rc == 130, err
    assert "stopped responder.py" in err
    _mpremote_42(port)


def test_run_without_port_starts_a_sim_and_reports_errors(env: dict[str, str], tmp_path: Path) -> None:
    ok = tmp_path / "ok.py"
    ok.write_text('import machine\nprint("pin", machine.Pin("P1", machine.Pin.OUT).value())\n')
    p = irqkit(env, "run", str(ok), timeout=120)
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert lines[0].startswith("port: /dev/pts/") and any(l.startswith("bench: unix:") for l in lines)
    assert "pin 0" in p.stdout
    bad = tmp_path / "bad.py"
    bad.write_text('print("before")\nx = 1 // 0\n')
    p = irqkit(env, "run", str(bad), timeout=120)
    assert p.returncode == 1 and "before" in p.stdout and "ZeroDivisionError" in p.stderr, p
    one_line_error(irqkit(env, "run", str(tmp_path / "missing.py")), "run", "No such file")
    one_line_error(irqkit(env, "run", str(ok), "--board", "nosuchboard"), "run", "nosuchboard")


@pytest.mark.skipif(qemu.qemu_unavailable_reason() is not None,
                    reason=f"QEMU micro:bit not installed ({qemu.qemu_unavailable_reason()})")
def test_run_on_a_board_micropython_1_9_in_qemu(env: dict[str, str], tmp_path: Path) -> None:
    """A real MicroPython build (the micro:bit's 1.9.2, flat filesystem): Ctrl-C raises
    KeyboardInterrupt there and the REPL answers mpremote afterwards."""
    app = tmp_path / "mbloop.py"
    app.write_text(LOOP_APP)
    with qemu.start_microbit() as mb:
        p = subprocess.Popen([sys.executable, "-m", "irqkit_host", "run", str(app), "--port", mb.port,
                              "--board", "microbit-v1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        rc, out, err = _collect_then_ctrl_c(p, b"tick 20")
        assert rc == 130, err
        assert b"app started" in out and "stopped mbloop.py (Ctrl-C)" in err and "Traceback" not in err
        _mpremote_42(mb.port)


ECHO_APP = """import sys
print("ready")
line = b""
while not line.endswith(b"\\n"):
    c = sys.stdin.read(1)
    line += c if isinstance(c, bytes) else c.encode()
print("got", line.strip().decode())
"""


def test_run_forwards_what_is_typed_at_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    app = tmp_path / "echo.py"
    app.write_text(ECHO_APP)
    master, slave = pty.openpty()      # irqkit's stdin is a terminal
    try:
        p = subprocess.Popen([sys.executable, "-m", "irqkit_host", "run", str(app)], env=env, stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"ready" not in seen and time.monotonic() < deadline:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        os.write(master, b"hello board\n")
        out, err = p.communicate(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert p.returncode == 0, err      # an abort at exit (a reader thread holding stdin) is -6
    assert b"got hello board" in seen + out
