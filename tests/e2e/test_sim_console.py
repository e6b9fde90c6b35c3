"""The simulator board as mpremote, pyserial and a user see it: pty, REPLs, soft reset,
flash dir, `irqkit sim` lifecycle, bench channel bad input, VM crash recovery."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from irqkit_host.errors import SimError
from irqkit_host.targets.bench import BenchClient
from irqkit_host.targets.sim import start_sim





def mpremote(port: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=timeout)


def test_mpremote_exec(board):
    r = mpremote(board.port, "exec", "print(6*7)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"


def test_mpremote_exec_error_is_reported(board):
    r = mpremote(board.port, "exec", "1/0")
    assert r.returncode != 0
    assert "ZeroDivisionError" in r.stdout + r.stderr


def test_mpremote_cp_lands_in_flash(board, tmp_path):
    src = tmp_path / "some.py"
    src.write_text("VALUE = 1234\n")
    r = mpremote(board.port, "cp", str(src), ":some.py", "+", "exec",
                 "import some; print(some.VALUE)")
    assert r.returncode == 0, r.stderr
    assert (board.flash / "some.py").read_text() == "VALUE = 1234\n"
    assert "1234" in r.stdout


def test_soft_reset_keeps_board_alive(board):
    before = board.restarts
    r = mpremote(board.port, "soft-reset")
    assert r.returncode == 0, r.stderr
    r = mpremote(board.port, "exec", "print('alive', 1+1)")
    assert r.returncode == 0, r.stderr
    assert "alive 2" in r.stdout
    assert board.restarts > before
    assert board.alive


BANNER_END = b"for more information.\r\n>>> "


def to_friendly(s: serial.Serial) -> None:
    s.write(b"\r\x03\x02")  # Ctrl-C, Ctrl-B: friendly REPL, which prints its banner
    assert s.read_until(BANNER_END).endswith(BANNER_END)


def test_friendly_repl_over_pyserial(board):
    with serial.Serial(board.port, timeout=5) as s:
        to_friendly(s)
        s.write(b"21*2\r")
        out = s.read_until(b">>> ")
        assert b"42" in out
        s.write(b"\x04")  # soft reset from the friendly REPL
        out = s.read_until(b">>> ")
        assert b"soft reboot" in out
        assert b">>> " in out


def test_main_py_runs_after_soft_reset(board):
    (board.flash / "main.py").write_text("print('main.py ran', 40+2)\n")
    try:
        with serial.Serial(board.port, timeout=5) as s:
            to_friendly(s)
            s.write(b"\x04")
            out = s.read_until(b">>> ")
        assert b"main.py ran 42" in out
    finally:
        (board.flash / "main.py").unlink()


def test_bench_bad_input_keeps_board_running(board):
    with BenchClient(board.bench) as c:
        assert c.raw("frobnicate").startswith("err unknown command")
        assert c.raw("set P42 1").startswith("err no pin P42")
        assert c.raw("set P0 maybe").startswith("err value must be 0 or 1")
        assert c.raw("pulse P0 -5").startswith("err width_us")
        assert c.raw("soft x 10").startswith("err N must be an integer")
        assert c.raw(b"\xff\xfe").startswith("err malformed")
        assert c.raw("").startswith("err malformed")
        assert c.raw("get").startswith("err usage")
        assert c.raw("x" * 2000).startswith("err")
        assert c.raw("set P2 1") == "ok P2=1"
        assert c.raw("get P2") == "ok 1"
        assert c.raw("set P2 0") == "ok P2=0"
        assert c.pins()["P2"]["value"] == 0
        assert c.raw("help").startswith("ok commands:")
    r = mpremote(board.port, "exec", "print('still', 'here')")
    assert "still here" in r.stdout


def test_crashed_vm_is_restarted(board):
    logs: list[str] = []
    board._log = logs.append
    crashes = board.crashes
    os.kill(board.proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while board.crashes == crashes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert board.crashes == crashes + 1
    assert any("crashed" in m for m in logs)
    board.wait_ready()
    r = mpremote(board.port, "exec", "print(6*7)")
    assert r.stdout.strip() == "42", r.stderr


def test_flash_dir_not_writable_is_one_line_error(tmp_path):
    f = tmp_path / "afile"
    f.write_text("user data")
    with pytest.raises(SimError, match="not a directory"):
        start_sim(runtime="cpython", flash=str(f))
    assert f.read_text() == "user data"
    r = subprocess.run([sys.executable, "-m", "irqkit_host.cli", "sim", "--flash", str(f)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "not a directory" in r.stderr
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        with pytest.raises(SimError, match="not writable"):
            start_sim(runtime="cpython", flash=str(ro))


def test_irqkit_sim_cli_lifecycle(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "keep.txt").write_text("mine")
    p = subprocess.Popen([sys.executable, "-m", "irqkit_host.cli", "sim", "--runtime", "cpython",
                          "--flash", str(flash)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        first = p.stdout.readline()
        assert first.startswith("port: /dev/pts/")
        bench = p.stdout.readline()
        assert bench.startswith("bench: unix:")
        assert p.stdout.readline().startswith("runtime: cpython")
        assert p.stdout.readline().strip() == f"flash: {flash}"
        sock = Path(bench.split("unix:", 1)[1].strip())
        assert sock.exists()
        assert (sock.stat().st_mode & 0o777) == 0o600
        port = first.split(":", 1)[1].strip()
        r = mpremote(port, "exec", "print(6*7)")
        assert r.stdout.strip() == "42"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0
        assert not sock.parent.exists()          # its run dir is gone
        assert (flash / "keep.txt").read_text() == "mine"  # the user's flash is kept
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("program", ["busy", "idle"])
def test_mpremote_stops_a_running_main_py(board, program):
    """mpremote's Ctrl-C gets the board back from a main.py that runs forever, one that
    idles (machine.idle) and one that never does."""
    body = ("while True:\n    pass\n" if program == "busy" else
            "import machine\nwhile True:\n    machine.idle()\n")
    (board.flash / "main.py").write_text(body)
    try:
        with serial.Serial(board.port, timeout=5) as s:
            to_friendly(s)
            s.write(b"\x04")                    # soft reset: main.py starts and never ends
            assert s.read_until(b"soft reboot\r\n").endswith(b"soft reboot\r\n")
            time.sleep(0.5)
    finally:
        (board.flash / "main.py").unlink()
    r = mpremote(board.port, "exec", "print(6*7)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("42")


def quiet_friendly(s: serial.Serial) -> None:
    """The friendly REPL with nothing left to read (a just-booted board prints its own
    banner too, which to_friendly may have matched first)."""
    to_friendly(s)
    time.sleep(0.3)
    s.reset_input_buffer()


def repl_run(s: serial.Serial, text: str) -> None:
    """Type a block at the friendly REPL (paste mode: Ctrl-E ... Ctrl-D)."""
    s.write(b"\x05")
    assert s.read_until(b"=== ").endswith(b"=== ")
    s.write(text.replace("\n", "\r").encode() + b"\x04")


def test_console_output_is_cooked_and_tracebacks_have_no_rom_frames(board):
    """What a board's console sends: "\r\n" after every line of print(), of an expression's
    value and of a traceback, and no frame of the ROM (console, machine) in it."""
    with serial.Serial(board.port, timeout=5) as s:
        quiet_friendly(s)
        s.write(b"print('a\\nb'); import sys; sys.stdout.write('c\\n')\r")
        out = s.read_until(b">>> ")
        assert b"a\r\nb\r\nc\r\n" in out, out
        assert b"\n" not in out.replace(b"\r\n", b""), out
        s.write(b"21*2\r")
        out = s.read_until(b">>> ")
        assert out.endswith(b"42\r\n>>> "), out
        s.write(b"import machine; machine.Pin('nope')\r")
        out = s.read_until(b">>> ")
        assert b"Traceback (most recent call last):\r\n" in out, out
        assert b'File "<stdin>", line 1' in out, out
        assert b"simboard" not in out, out
        assert b"\n" not in out.replace(b"\r\n", b""), out
        repl_run(s, "def f():\n    return 1/0\n\nf()\n")
        out = s.read_until(b">>> ")
        assert b"ZeroDivisionError" in out and b"in f" in out, out
        assert b"simboard" not in out, out


@pytest.mark.parametrize("program", ["sleep", "busy"])
def test_ctrl_c_raises_keyboard_interrupt(board, program):
    """Ctrl-C stops a loop that sleeps (time.sleep_ms idles the board, as on a board) and
    one that never idles, with KeyboardInterrupt and no reset, on both runtimes."""
    body = ("import time\nn = 0\nwhile True:\n    time.sleep_ms(10)\n    n += 1\n"
            if program == "sleep" else "n = 0\nwhile True:\n    n += 1\n")
    restarts = board.restarts
    with serial.Serial(board.port, timeout=5) as s:
        quiet_friendly(s)
        repl_run(s, body)
        time.sleep(0.5)
        t0 = time.monotonic()
        s.write(b"\x03")
        out = s.read_until(b"KeyboardInterrupt")
        took = time.monotonic() - t0
        out += s.read_until(b">>> ")
        assert b"\r\nKeyboardInterrupt" in out and out.endswith(b"\r\n>>> "), out
        assert b"reset" not in out, out
        s.write(b"n > 10\r")
        out = s.read_until(b">>> ")
        assert b"True\r\n" in out, out    # the loop ran, and the REPL has its globals
    assert board.restarts == restarts
    print(f"{program}: Ctrl-C -> KeyboardInterrupt in {took * 1000:.0f} ms")


def test_mpremote_ls_shows_file_sizes(board):
    (board.flash / "sized.txt").write_bytes(b"x" * 1234)
    (board.flash / "sub").mkdir(exist_ok=True)
    try:
        r = mpremote(board.port, "ls", ":")
        assert r.returncode == 0, r.stderr
        sizes = {ln.split()[-1]: ln.split()[0] for ln in r.stdout.splitlines()[1:] if ln.strip()}
        assert sizes.get("sized.txt") == "1234", r.stdout
        assert sizes.get("sub/") == "0", r.stdout
        r = mpremote(board.port, "exec", "import os; print([e for e in os.ilistdir() "
                     "if e[0] == 'sized.txt'][0][3], os.stat('sized.txt')[6])")
        assert r.stdout.split() == ["1234", "1234"], r.stdout + r.stderr
    finally:
        (board.flash / "sized.txt").unlink()
        (board.flash / "sub").rmdir()
