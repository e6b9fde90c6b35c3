"""The pytest plugin (irqkit_host.pytest_plugin), run as a user runs it: a test file in a
temporary directory that uses only the ``irqkit_board`` fixture, in its own pytest process
(pytester), against real simulators.

The plugin is loaded with ``-p irqkit_host.pytest_plugin`` (what the pytest11 entry point
does once irqkit is installed).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "irqkit_host.pytest_plugin"

USER_TESTS = '''
import os
import time
import pytest


def test_exec_bench_and_measure(irqkit_board):
    assert irqkit_board.exec("print(6*7)") == "42"
    irqkit_board.exec("x = 5")
    assert irqkit_board.exec("print(x + 1)") == "6"         # no soft reset between calls
    with pytest.raises(Exception) as info:
        irqkit_board.exec("print('half')\\n1/0")
    assert "ZeroDivisionError" in info.value.traceback and info.value.output == "half"
    assert irqkit_board.bench is not None
    irqkit_board.bench.set("P2", 1)
    assert irqkit_board.exec("import machine\\nprint(machine.Pin('P2', machine.Pin.IN).value())") == "1"
    irqkit_board.bench.set("P2", 0)
    assert irqkit_board.exec("print(machine.Pin('P2', machine.Pin.IN).value())") == "0"
    res = irqkit_board.deploy()
    assert res.copied or res.skipped
    run = irqkit_board.measure(source="all", count=20)
    assert run.error is None
    got = {r.source: len(r.samples) for r in run.results}
    assert got == {"uart": 20, "gpio": 20, "timer": 20, "soft": 20}, got
    print("PORT=" + irqkit_board.port)
    marker = os.environ.get("IRQKIT_TEST_MARKER")
    if marker:
        assert irqkit_board.exec("print(open('marker.txt').read())") == marker
    irqkit_board.exec("left_by_test_one = 1")


def test_each_test_gets_what_it_asked_for(irqkit_board):
    # the previous test's last global: a fresh simulator has none, a given board keeps it
    if os.environ.get("IRQKIT_TEST_MARKER"):
        assert irqkit_board.exec("print(left_by_test_one)") == "1"
    else:
        with pytest.raises(Exception, match="NameError"):
            irqkit_board.exec("print(left_by_test_one)")


@pytest.mark.irqkit_sim_only
def test_a_bench_pulse_reaches_a_pin_irq(irqkit_board):    # the README's example
    irqkit_board.exec("import machine\\nn = [0]\\ndef edge(p):\\n    n[0] += 1\\n"
                      "machine.Pin('P0', machine.Pin.IN).irq(edge, machine.Pin.IRQ_RISING)")
    irqkit_board.bench.pulse("P0")
    time.sleep(0.2)
    assert irqkit_board.exec("print(n[0])") == "1"


@pytest.mark.irqkit_sim_only
def test_sim_only(irqkit_board):
    assert irqkit_board.bench.get("P2") in (0, 1)
'''


@pytest.fixture
def pytester_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    monkeypatch.setenv("IRQKIT_SIM_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.delenv("IRQKIT_TEST_MARKER", raising=False)
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


@pytest.fixture
def second_sim(tmp_path: Path, pytester_env: pytest.Pytester) -> Iterator[tuple[str, Path]]:
    """A running `irqkit sim` (registered, with its flash in tmp_path) -> (port, flash)."""
    flash = tmp_path / "flash2"
    proc = subprocess.Popen([sys.executable, "-m", "irqkit_host", "sim", "--name", "second",
                             "--flash", str(flash)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    assert proc.stdout is not None
    port = proc.stdout.readline().split(": ", 1)[1].strip()
    for line in proc.stdout:
        if line.startswith("name:"):
            break
    try:
        yield port, flash
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_fixture_is_a_fresh_simulator_by_default(pytester_env: pytest.Pytester) -> None:
    result = pytester_env.runpytest_subprocess("-p", PLUGIN, "-s", timeout=300)
    result.assert_outcomes(passed=4)
    assert "PORT=/dev/pts/" in result.stdout.str()


def test_irqkit_port_uses_that_board(pytester_env: pytest.Pytester, second_sim: tuple[str, Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    port, flash = second_sim
    (flash / "marker.txt").write_text("second-sim")      # only that simulator has this file
    monkeypatch.setenv("IRQKIT_TEST_MARKER", "second-sim")
    result = pytester_env.runpytest_subprocess("-p", PLUGIN, "-s", f"--irqkit-port={port}",
                                               "--irqkit-board=sim", timeout=300)
    result.assert_outcomes(passed=4)    # sim-only runs too: the port is a running `irqkit sim`
    assert f"PORT={port}" in result.stdout.str()


def test_sim_only_tests_skip_on_a_board_saying_why(pytester_env: pytest.Pytester) -> None:
    result = pytester_env.runpytest_subprocess("-p", PLUGIN, "-rs", "-k", "sim_only or bench_pulse",
                                               "--irqkit-port=/dev/irqkit-no-such-board", timeout=120)
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*irqkit_sim_only: needs a simulator*is not a running `irqkit sim`*"])


def test_the_options_and_marker_are_documented(pytester_env: pytest.Pytester) -> None:
    result = pytester_env.runpytest_subprocess("-p", PLUGIN, "--help", timeout=120)
    result.stdout.fnmatch_lines(["*--irqkit-port=URL*", "*--irqkit-board=NAME*"])
    markers = pytester_env.runpytest_subprocess("-p", PLUGIN, "--markers", timeout=120)
    markers.stdout.fnmatch_lines(["*irqkit_sim_only*"])
