"""`irqkit deploy` on the simulator: the path a user takes with a Pico, end to end."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from irqkit_host.boards import load_board
from irqkit_host.deploy import deploy
from irqkit_host.deploy.firmware import files_for, firmware_dir
from irqkit_host.link import LinkError
from irqkit_host.targets.sim import start_sim

ROOT = Path(__file__).resolve().parents[2]
BOARD = load_board("sim")


def test_deploy_then_measure_then_redeploy_copies_nothing(irqkit) -> None:
    with start_sim() as sim:
        p = irqkit("deploy", "--port", sim.port, "--board", "sim")
        assert p.returncode == 0, p.stderr
        n = len(files_for(BOARD))
        assert f"{n} copied, 0 unchanged" in p.stdout and "verified: HELLO from sim" in p.stdout
        for f in files_for(BOARD):
            assert (sim.flash / f.device).read_bytes() == f.local.read_bytes()
        p = irqkit("measure", "--port", sim.port, "--trigger", f"bench:{sim.bench}", "-n", "50",
                   "--no-progress")
        assert p.returncode == 0, p.stderr
        assert all(f"\n{s}" in p.stdout for s in ("uart", "gpio", "timer", "soft"))
        p = irqkit("deploy", "--port", sim.port)
        assert p.returncode == 0, p.stderr
        assert f"0 copied, {n} unchanged" in p.stdout


def test_the_app_runs_from_the_flash_copy() -> None:
    """What runs is what was deployed (the board's ROM never imports irqkit itself): a
    change to the flash copy changes the device's answer."""
    from irqkit_host.deploy.firmware import app_start_code
    from irqkit_host.link.session import DeviceSession
    with start_sim() as sim:
        deploy(sim.port, BOARD)          # ends with a soft reset: nothing imported yet
        init = sim.flash / "irqkit" / "__init__.py"
        init.write_text(init.read_text().replace('VERSION = "', 'VERSION = "flash-'))
        with DeviceSession(sim.port, app_start_code(BOARD)) as s:
            assert str(s.hello_info["fw"]).startswith("flash-")
        assert deploy(sim.port, BOARD).copied == ["irqkit/__init__.py"]   # put back


def test_mpy_deploy_puts_mpy_files_on_the_device_and_they_run(irqkit) -> None:
    with start_sim() as sim:
        p = irqkit("deploy", "--port", sim.port, "--mpy")
        assert p.returncode == 0, p.stderr
        names = sorted(os.listdir(sim.flash / "irqkit"))
        assert "ring.mpy" in names and "sched.mpy" in names and "ring.py" not in names
        assert (sim.flash / "irqkit" / "ring.mpy").read_bytes()[:1] == b"M"   # .mpy magic
        assert "verified: HELLO" in p.stdout
        # back to source: the .mpy twins are removed so they cannot shadow anything
        p = irqkit("deploy", "--port", sim.port)
        names = sorted(os.listdir(sim.flash / "irqkit"))
        assert "ring.py" in names and "ring.mpy" not in names, p.stdout


def test_mip_package_json_installs_with_mpremote() -> None:
    with start_sim() as sim:
        p = subprocess.run(["mpremote", "connect", sim.port, "mip", "install", "--target", "lib",
                            str(firmware_dir().parent / "package.json")],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        for rel in ("irqkit/ring.py", "irqkit/sched.py", "irqkit/ports/machine_port.py"):
            assert (sim.flash / "lib" / rel).read_bytes() == (firmware_dir().parent / rel).read_bytes()


def test_unknown_board_and_port_without_micropython_fail_in_one_line(irqkit) -> None:
    p = irqkit("deploy", "--port", "/dev/null", "--board", "nosuchboard")
    assert p.returncode == 1 and "unknown board 'nosuchboard'" in p.stderr
    master, slave = os.openpty()
    cat = subprocess.Popen(["cat"], stdin=master, stdout=master)
    try:
        p = irqkit("deploy", "--port", os.ttyname(slave))
    finally:
        cat.kill()
        os.close(master)
        os.close(slave)
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1 and "no MicroPython REPL answered" in p.stderr


def test_device_that_stops_answering_mid_copy_leaves_no_half_written_file() -> None:
    with start_sim() as sim:
        assert sim.proc is not None
        copied: list[str] = []
        vm: Any = sim.proc

        def log(line: str) -> None:
            copied.append(line)
            if len(copied) == 3:
                os.killpg(vm.pid, signal.SIGSTOP)   # the board hangs

        with pytest.raises(LinkError, match="stopped answering"):
            deploy(sim.port, BOARD, log=log)
        os.killpg(vm.pid, signal.SIGCONT)
        # every file under its real name is complete; only *.tmp may be partial
        local = {f.device: f.local.read_bytes() for f in files_for(BOARD)}
        found = 0
        for path in (sim.flash / "irqkit").rglob("*"):
            rel = str(path.relative_to(sim.flash))
            if path.is_file() and not rel.endswith(".tmp"):
                assert path.read_bytes() == local[rel], f"{rel} is half-written"
                found += 1
        assert found == 3
