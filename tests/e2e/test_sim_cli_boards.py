"""`irqkit sim --board microbit-v1`: the QEMU Cortex-M0 comes up like the simulator does."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from irqkit_host.targets.qemu import qemu_unavailable_reason
from irqkit_host.link.repl import enter_raw_repl, open_transport

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(qemu_unavailable_reason() is not None,
                    reason=f"QEMU micro:bit not installed ({qemu_unavailable_reason()}); .ci/run installs it")
def test_irqkit_sim_board_microbit_prints_port_first_and_runs_code() -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    proc = subprocess.Popen([sys.executable, "-m", "irqkit_host", "sim", "--board", "microbit-v1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("port: /dev/pts/"), first
        port = first.split(": ", 1)[1]
        t = open_transport(port)
        try:
            enter_raw_repl(t, port)
            out, err = t.exec_raw("import sys\nprint(sys.implementation.version, 6*7)")
            assert err == b"" and out.strip().endswith(b"42") and b"(1, 9, 2)" in out
            t.exit_raw_repl()
        finally:
            t.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_irqkit_sim_refuses_other_boards() -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    p = subprocess.run([sys.executable, "-m", "irqkit_host", "sim", "--board", "feather-m4"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 1 and "'feather-m4' has no simulator personality" in p.stderr
