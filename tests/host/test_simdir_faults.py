"""A SIGKILLed launcher leaves its ``irqkit-sim-*`` run dir; the next launcher removes it
(the dir records its owner's pid and start time) and leaves live owners' dirs alone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from irqkit_host.targets.sim import OWNER_FILE, RUN_DIR_PREFIX, SimBoard, reap_dead_run_dirs

ROOT = Path(__file__).resolve().parents[2]

LAUNCHER = """
import sys, time
from irqkit_host.targets.sim import SimBoard
b = SimBoard(runtime="cpython")
print(b.run_dir, flush=True)
time.sleep(60)
"""


def test_killed_launchers_dir_is_removed_by_the_next() -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    p = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout is not None
        run_dir = Path(p.stdout.readline().strip())
        assert run_dir.name.startswith(RUN_DIR_PREFIX) and run_dir.is_dir()
        assert (run_dir / OWNER_FILE).read_text().split()[0] == str(p.pid)
        assert run_dir not in reap_dead_run_dirs()          # its owner is alive: kept
        assert run_dir.is_dir()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    assert run_dir.is_dir()                                  # SIGKILL: nothing cleaned up
    b = SimBoard(runtime="cpython")                          # the next launcher
    try:
        assert not run_dir.exists()
        assert b.run_dir.is_dir()
    finally:
        b.stop()
    assert not b.run_dir.exists()


def test_a_reused_pid_does_not_keep_a_dead_owners_dir() -> None:
    d = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    (d / OWNER_FILE).write_text(f"{os.getpid()} 1")         # our pid, another start time
    other = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))    # no owner file: left alone
    try:
        assert d in reap_dead_run_dirs() and not d.exists()
        assert other.is_dir()
    finally:
        other.rmdir()
