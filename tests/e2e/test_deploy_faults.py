"""Deploy faults (issue 13.5): the simulator, or the VM inside it, killed at random points of
`irqkit deploy`. Each trial: one clean line on stderr (no traceback, none of the device's raw
REPL output, on stderr or stdout), a non-zero exit, the user's files on the board's flash dir
untouched, every firmware file under its real name either the old copy or the new one (never
half-written), nothing typed into the rebooted board's REPL, and a later deploy works.

The kill point: after a random number of "copied" lines (1 .. all but 3) plus a random delay
of 0-20 ms, so it lands inside a later file's copy (the seed is in the assertion messages).
"""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import serial

from irqkit_host.boards import load_board
from irqkit_host.deploy.firmware import files_for
from irqkit_host.targets.sim import start_sim

ROOT = Path(__file__).resolve().parents[2]
BOARD = load_board("sim")
FILES = files_for(BOARD)
TRIALS = 10
OLD = b"# an older irqkit\n"
COPIED = re.compile(r"^copied \S+ \(\d+ bytes\)$")
ENV = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}", PYTHONUNBUFFERED="1")


def _user_files(flash: Path, rng: random.Random) -> dict[str, bytes]:
    """The user's own files on the board (outside irqkit/): a deploy must never touch them."""
    files = {"notes.txt": b"mine\n", "data/log.csv": b"t,v\n1,2\n", "lib/mylib.py": b"X = 1\n",
             "irqkit_settings.json": b'{"keep": true}\n'}
    files = {k: v + rng.randbytes(rng.randrange(1, 3000)) for k, v in files.items()}
    for rel, data in files.items():
        (flash / rel).parent.mkdir(parents=True, exist_ok=True)
        (flash / rel).write_bytes(data)
    return files


def _age_firmware(flash: Path) -> None:
    """Make every deployed file differ from ours: the next deploy copies all of them."""
    for f in FILES:
        p = flash / f.device
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(OLD)


def _check_flash(flash: Path, user: dict[str, bytes], why: str) -> None:
    for rel, data in user.items():
        assert (flash / rel).read_bytes() == data, f"{why}: user file {rel} changed"
    for f in FILES:
        got = (flash / f.device).read_bytes()
        assert got in (OLD, f.local.read_bytes()), f"{why}: {f.device} is half-written ({len(got)} bytes)"


def _deploy_and_kill(port: str, kill: Callable[[], None], rng: random.Random, why: str) -> None:
    """Run `irqkit deploy`, kill after a random number of copied files; check how it failed."""
    after = rng.randrange(1, len(FILES) - 2)
    delay = rng.uniform(0, 0.02)
    p = subprocess.Popen([sys.executable, "-m", "irqkit_host", "deploy", "--port", port],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert p.stdout is not None
    lines: list[str] = []
    for line in p.stdout:
        lines.append(line.rstrip("\n"))
        if len(lines) == after:
            time.sleep(delay)
            kill()
            break
    out, err = p.communicate(timeout=60)
    lines += out.splitlines()
    why = f"{why}, killed after {after} copied + {delay * 1000:.0f} ms"
    assert p.returncode == 1, f"{why}: exit {p.returncode}; stdout {lines[-3:]}; stderr {err!r}"
    assert len(err.splitlines()) == 1 and err.startswith("irqkit deploy: error: "), f"{why}: {err!r}"
    for bad in ("Traceback", "\\x", "\\r", "raw REPL", "MicroPython", ">>>", "b'"):
        assert bad not in err, f"{why}: raw device output in the error: {err!r}"
    assert all(COPIED.match(x) for x in lines), f"{why}: not just progress on stdout: {lines!r}"


def _redeploy(port: str, flash: Path, user: dict[str, bytes], why: str) -> None:
    p = subprocess.run([sys.executable, "-m", "irqkit_host", "deploy", "--port", port],
                       capture_output=True, text=True, timeout=120, env=ENV)
    assert p.returncode == 0, f"{why}: the deploy after the fault failed: {p.stderr!r}"
    assert "verified: HELLO from sim" in p.stdout, f"{why}: {p.stdout!r}"
    for f in FILES:
        assert (flash / f.device).read_bytes() == f.local.read_bytes(), f"{why}: {f.device}"
    for rel, data in user.items():
        assert (flash / rel).read_bytes() == data, f"{why}: user file {rel} changed"


def _repl_line_is_clean(port: str, why: str) -> None:
    """Nothing of the interrupted copy was typed into the rebooted board's REPL: an empty
    line there gives just a new prompt (a half-typed line would give a SyntaxError)."""
    with serial.Serial(port, timeout=0.2) as ser:
        deadline = time.monotonic() + 10
        seen = b""
        while not seen.endswith(b">>> ") and time.monotonic() < deadline:
            seen += ser.read(4096)
            if not seen:                      # banner already read by the deploy
                ser.write(b"\r")
        ser.reset_input_buffer()
        ser.write(b"\r")
        reply = ser.read(4096)
    assert reply == b"\r\n>>> ", f"{why}: the rebooted REPL had input left in it: {reply!r}"


@pytest.mark.parametrize("trial", range(TRIALS))
def test_killing_the_vm_mid_copy_fails_in_one_line_and_types_nothing_into_the_rebooted_repl(
        tmp_path: Path, trial: int) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    why = f"VM kill, trial {trial} (seed {seed})"
    user = _user_files(tmp_path, rng)
    with start_sim(flash=str(tmp_path), log=lambda m: None) as sim:
        crashes = sim.crashes
        _age_firmware(tmp_path)

        def kill() -> None:
            assert sim.proc is not None
            os.kill(sim.proc.pid, signal.SIGKILL)

        _deploy_and_kill(sim.port, kill, rng, why)
        _check_flash(tmp_path, user, why)
        assert sim.crashes == crashes + 1, f"{why}: the VM was not killed"
        _repl_line_is_clean(sim.port, why)
        _redeploy(sim.port, tmp_path, user, why)


def _launch_sim(flash: Path) -> tuple[subprocess.Popen[str], str]:
    """`irqkit sim --flash DIR` as a user starts it -> (process, port)."""
    p = subprocess.Popen([sys.executable, "-m", "irqkit_host", "sim", "--flash", str(flash)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
    assert p.stdout is not None
    first = p.stdout.readline()
    assert first.startswith("port: "), first
    return p, first.split()[1]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_killing_the_simulator_mid_copy_fails_in_one_line_and_a_new_one_deploys(
        tmp_path: Path, trial: int) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    why = f"simulator kill, trial {trial} (seed {seed})"
    user = _user_files(tmp_path, rng)
    _age_firmware(tmp_path)
    sim, port = _launch_sim(tmp_path)
    vms = _children(sim.pid)
    try:
        _deploy_and_kill(port, lambda: os.kill(sim.pid, signal.SIGKILL), rng, why)
    finally:
        sim.kill()
        sim.wait(10)
        _wait_gone(vms)      # the VM dies with its launcher (parent-death signal)
    _check_flash(tmp_path, user, why)
    sim, port = _launch_sim(tmp_path)
    try:
        _redeploy(port, tmp_path, user, why)
    finally:
        sim.terminate()
        sim.wait(10)


def test_a_redeploy_compares_every_file_in_one_device_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15.6 (the fewer exchanges, the fewer faults to survive, and the faster over TCP:
    tools/bench_deploy.py prints the socket:// figures): with nothing changed, a deploy sends
    two commands, the runtime probe and one survey, whatever the number of files."""
    from irqkit_host.deploy import deploy
    from irqkit_host.link.repl import GuardedSerialTransport
    sent: list[str] = []
    real = GuardedSerialTransport.exec_raw_no_follow

    def counting(self: GuardedSerialTransport, command: str | bytes) -> None:
        sent.append(command if isinstance(command, str) else command.decode())
        real(self, command)

    with start_sim(log=lambda m: None) as sim:
        assert len(deploy(sim.port, BOARD).copied) == len(FILES)
        (sim.flash / "irqkit" / "ring.mpy").write_bytes(b"M stale")   # a stale twin to remove
        monkeypatch.setattr(GuardedSerialTransport, "exec_raw_no_follow", counting)
        t0 = time.perf_counter()
        res = deploy(sim.port, BOARD)
        print(f"\nredeploy, nothing changed, over the pty: {time.perf_counter() - t0:.3f} s")
    assert res.copied == [] and len(res.skipped) == len(FILES) and res.removed == ["irqkit/ring.mpy"]
    assert not (sim.flash / "irqkit" / "ring.mpy").exists()
    assert len(sent) == 2 and "sys.implementation" in sent[0] and "hashlib" in sent[1], sent
