"""Usage errors and unwritable outputs: one line on stderr, before anything is measured.

Usage errors (argparse) exit 2 as ``irqkit SUB: error: ...``; outputs that cannot be
written exit 1 as ``irqkit measure: error: --json ...``. The tests run as root, whom a
read-only directory does not stop, so unwritable places are a path under a regular file,
a directory given as the file, a missing parent and ``/proc`` (no new files there, even
for root).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def irqkit(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    return subprocess.run([sys.executable, "-m", "irqkit_host", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("args,prog", [
    (["measure", "--source", "bogus"], "irqkit measure"),
    (["measure", "-n", "0"], "irqkit measure"),
    (["measure", "--frobnicate"], "irqkit"),
    (["deploy"], "irqkit deploy"),
    (["deploy", "--port"], "irqkit deploy"),
    (["sim", "--runtime", "nope"], "irqkit sim"),
    (["boards", "--nope"], "irqkit"),
    (["nosuchcommand"], "irqkit"),
    ([], "irqkit"),
])
def test_usage_errors_are_one_line(args: list[str], prog: str) -> None:
    p = irqkit(*args)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("flag", ["--json", "--csv", "--plot"])
def test_unwritable_outputs_fail_before_measuring(tmp_path: Path, flag: str) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    name = "x.png" if flag == "--plot" else "x.out"
    for path, needle in [(afile / name, "is not a directory"),
                         (tmp_path / "missing" / name, "does not exist"),
                         (Path("/proc") / name, "cannot write in /proc")]:
        t0 = time.monotonic()
        p = irqkit("measure", flag, str(path), "--no-progress")
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1 and len(lines) == 1, p.stderr
        assert lines[0].startswith(f"irqkit measure: error: {flag} ") and needle in lines[0], p.stderr
        assert "simulator" not in p.stderr and time.monotonic() - t0 < 30   # nothing started
    adir = tmp_path / ("d.png" if flag == "--plot" else "d")
    adir.mkdir()
    p = irqkit("measure", flag, str(adir))
    assert p.returncode == 1 and "is a directory" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob(".irqkit-probe-*"))          # the write probe left nothing
