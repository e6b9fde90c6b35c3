"""`irqkit measure` polish: --version, triggers validated before anything starts, Ctrl-C
keeps (and marks) partial results, "wrote FILE" lines, a running `irqkit sim` found for its
bench, the micro:bit in QEMU started by measure itself."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import jsonschema
import pytest

from irqkit import VERSION
from irqkit_host.targets import qemu
from irqkit_host.targets.sim import SimBoard, start_sim

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "host" / "irqkit_host" / "measure" / "measure_schema.json").read_text())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}",
                IRQKIT_SIM_REGISTRY=str(tmp_path / "registry"))


def irqkit(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irqkit_host", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimBoard]:
    b = start_sim(log=lambda m: None)
    try:
        yield b
    finally:
        b.stop()


def test_version(env: dict[str, str]) -> None:
    p = irqkit(env, "--version")
    assert p.returncode == 0 and p.stdout.strip() == f"irqkit {VERSION}", p


@pytest.mark.parametrize("trigger,needle", [
    ("foo", "--trigger foo: unknown trigger"),
    ("modem:rts", "--trigger modem:rts: the sim target started here is a pty with no modem lines"),
    ("modem:cts", "the modem line is rts or dtr"),
    ("bench:unix:/nonexistent/bench.sock", "cannot reach the bench at unix:/nonexistent/bench.sock"),
    ("bench:tcp:localhost:1", "cannot reach the bench at tcp://localhost:1"),
])
@pytest.mark.parametrize("source", ["all", "soft"])
def test_bad_triggers_are_one_line_before_anything_starts(env: dict[str, str], trigger: str, needle: str,
                                                          source: str) -> None:
    t0 = time.monotonic()
    p = irqkit(env, "measure", "--trigger", trigger, "--source", source, "-n", "5", "--no-progress")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1, p.stderr
    assert lines[0].startswith("irqkit measure: error: ") and needle in lines[0], p.stderr
    assert "deploying firmware" not in p.stderr and p.stdout == "" and time.monotonic() - t0 < 30


def test_modem_trigger_on_a_pty_port_is_refused(env: dict[str, str], sim: SimBoard) -> None:
    p = irqkit(env, "measure", "--port", sim.port, "--trigger", "modem:rts", "--no-progress")
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"{sim.port} has no modem lines" in p.stderr
    p = irqkit(env, "measure", "--port", sim.port, "--trigger", "bench", "--no-progress")
    assert p.returncode == 1 and "give the simulator's bench URL" in p.stderr, p.stderr


def test_ctrl_c_writes_partial_results_marked_incomplete(env: dict[str, str], tmp_path: Path,
                                                         sim: SimBoard) -> None:
    # firmware deployed first, so that the measure below starts measuring within ~0.5 s
    assert irqkit(env, "deploy", "--port", sim.port).returncode == 0
    out_json, out_csv = tmp_path / "p.json", tmp_path / "p.csv"
    proc = subprocess.Popen([sys.executable, "-m", "irqkit_host", "measure", "--port", sim.port,
                             "--source", "soft", "-n", "500000",
                             "--no-progress", "--json", str(out_json), "--csv", str(out_csv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(4.0)                         # measuring by now (8x the start time, unloaded)
    proc.send_signal(signal.SIGINT)         # what Ctrl-C at the terminal sends
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "irqkit measure: interrupted (Ctrl-C): partial results written, marked incomplete"], stderr
    assert f"wrote {out_json} (incomplete: the run ended early)" in stdout
    assert f"wrote {out_csv} (incomplete: the run ended early)" in stdout
    data = json.loads(out_json.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["complete"] is False and data["error"] == "interrupted by Ctrl-C"
    (soft,) = data["results"]
    assert 0 < soft["count"] < 500000
    # only the trial in flight at Ctrl-C is lost; the ones never sent are not_run
    assert soft["lost"] <= 1 and soft["count"] + soft["lost"] + soft["not_run"] == 500000, soft
    lines = out_csv.read_text().splitlines()
    assert lines[-1] == "# incomplete: interrupted by Ctrl-C"
    rows = list(csv.DictReader(lines[:-1]))
    assert sum(1 for r in rows if r["source"] == "soft") == soft["count"]


def test_a_running_irqkit_sim_is_found_for_its_bench(env: dict[str, str], tmp_path: Path) -> None:
    """--port of a running `irqkit sim` and no --trigger: gpio is driven through its bench;
    a complete run says "wrote FILE"."""
    proc = subprocess.Popen([sys.executable, "-m", "irqkit_host", "sim"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().split(": ", 1)[1].strip()
        assert any(line.startswith("name:") for line in iter(proc.stdout.readline, ""))
        subprocess.run([sys.executable, "-m", "irqkit_host", "deploy", "--port", port], env=env,
                       check=True, capture_output=True, timeout=120)
        out = tmp_path / "gpio.json"
        p = irqkit(env, "measure", "--port", port, "--source", "gpio", "-n", "20", "--no-progress",
                   "--json", str(out))
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip().splitlines()[-1] == f"wrote {out}"
        data = json.loads(out.read_text())
        assert data["complete"] is True and data["results"][0]["source"] == "gpio"
        assert data["results"][0]["count"] == 20
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)


@pytest.mark.skipif(qemu.qemu_unavailable_reason() is not None,
                    reason=f"QEMU micro:bit not installed ({qemu.qemu_unavailable_reason()})")
def test_measure_microbit_without_port_boots_qemu(env: dict[str, str]) -> None:
    p = irqkit(env, "measure", "--board", "microbit-v1", "-n", "20", "--no-progress", timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("QEMU micro:bit: /dev/pts/") and "board: microbit-v1" in p.stdout
    assert "\nsoft " in p.stdout
