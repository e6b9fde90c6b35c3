"""Bad input to `irqkit sim --name/--link`, `irqkit bench` and `irqkit run`: one line on
stderr, non-zero exit, no traceback, nothing started."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def irqkit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}",
               IRQKIT_SIM_REGISTRY=str(tmp_path / "registry"))
    return subprocess.run([sys.executable, "-m", "irqkit_host", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)


@pytest.mark.parametrize("args,status,needle", [
    (["sim", "--link", "/nonexistent-dir/x"], 1, "irqkit sim: error: --link /nonexistent-dir/x: directory"),
    (["sim", "--name", "../x"], 1, "irqkit sim: error: simulator name '../x'"),
    (["bench"], 2, "irqkit bench: error: the following arguments are required: COMMAND"),
    (["bench", "pins"], 1, "irqkit bench: error: no simulator is running"),
    (["bench", "--name", "nope", "pins"], 1, "irqkit bench: error: no running simulator named 'nope'"),
    (["run"], 2, "irqkit run: error: the following arguments are required: FILE"),
    (["run", "/"], 1, "irqkit run: error: /: is a directory"),
    (["run", "missing.py"], 1, "irqkit run: error: missing.py: No such file or directory"),
    (["run", "app.py", "--port", "/dev/irqkit-no-such-port"], 1, "irqkit run: error: "),
    (["run", "app.py", "--board", "feather-m4"], 1, "irqkit run: error: no --port given, and board 'feather-m4'"),
])
def test_one_line(tmp_path: Path, args: list[str], status: int, needle: str) -> None:
    (tmp_path / "app.py").write_text("print(1)\n")
    p = irqkit(tmp_path, *args)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == status and len(lines) == 1 and lines[0].startswith(needle), p.stderr
    assert p.stdout == "" and "Traceback" not in p.stderr
