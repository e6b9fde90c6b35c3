"""Bad CLI input: one clear line on stderr and a non-zero exit, before anything runs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def irqkit(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    return subprocess.run([sys.executable, "-m", "irqkit_host", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("args,needle", [
    (["measure", "--source", "bogus"], "invalid choice: 'bogus'"),
    (["measure", "-n", "0"], "must be a positive integer"),
    (["measure", "-n", "-5"], "must be a positive integer"),
    (["measure", "-n", "many"], "not an integer"),
    (["measure", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["deploy"], "the following arguments are required: --port"),
])
def test_bad_flags(args: list[str], needle: str) -> None:
    p = irqkit(*args)
    assert p.returncode == 2
    assert needle in p.stderr
    assert p.stdout == ""


def test_nonexistent_port_is_one_line() -> None:
    p = irqkit("measure", "--port", "/dev/irqkit-no-such-port", "--no-progress")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "irqkit-no-such-port" in lines[0], p.stderr


def test_unknown_board_is_one_line() -> None:
    p = irqkit("measure", "--port", "/dev/null", "--board", "nosuchboard")
    assert p.returncode == 1
    assert "unknown board 'nosuchboard'" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_unwritable_output_dir_fails_before_measuring() -> None:
    p = irqkit("measure", "--json", "/nonexistent-dir/x.json")
    assert p.returncode == 1 and "does not exist" in p.stderr
