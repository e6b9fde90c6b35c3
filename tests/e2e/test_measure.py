"""`irqkit measure` end to end on the simulator: the README's main job, its outputs, the
protocol's robustness against the real device app, and bad input."""
from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import jsonschema
import pytest
import serial
from PIL import Image

from irqkit import frame as F
from irqkit import proto as P
from irqkit_host.boards import load_board
from irqkit_host.deploy import deploy
from irqkit_host.deploy.firmware import app_start_code
from irqkit_host.measure import measure
from irqkit_host.link.session import DeviceSession
from irqkit_host.targets.sim import start_sim

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "host" / "irqkit_host" / "measure" / "measure_schema.json").read_text())
BOARD = load_board("sim")


@pytest.fixture(scope="module")
def sim() -> Iterator[object]:
    with start_sim() as board:
        deploy(board.port, BOARD)
        yield board


@pytest.fixture
def session(sim: object) -> Iterator[DeviceSession]:
    with DeviceSession(sim.port, app_start_code(BOARD)) as s:  # type: ignore[attr-defined]
        yield s


def test_cli_default_run_all_sources_with_outputs(tmp_path: Path, irqkit) -> None:
    """The README's first command (with a smaller count), and all three output files."""
    out = {k: tmp_path / f"out.{k}" for k in ("json", "csv", "png")}
    p = irqkit("measure", "-n", "200", "--no-progress", "--json", str(out["json"]),
               "--csv", str(out["csv"]), "--plot", str(out["png"]))
    assert p.returncode == 0, p.stderr
    lines = {ln.split()[0]: ln.split() for ln in p.stdout.splitlines()
             if ln.split() and ln.split()[0] in ("uart", "gpio", "timer", "soft")}
    assert set(lines) == {"uart", "gpio", "timer", "soft"}
    for src, cols in lines.items():
        assert cols[2] == "200" and cols[3] == "0", f"{src}: {cols}"   # n 200, lost 0
    data = json.loads(out["json"].read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["complete"] is True and data["target"]["runtime"] == "micropython"
    assert {r["source"] for r in data["results"]} == {"uart", "gpio", "timer", "soft"}
    assert all(r["lost"] == 0 and r["count"] == 200 for r in data["results"])
    assert data["stats"]["soft.delivered"] >= 200 and data["stats"]["soft.overflow"] == 0
    with Image.open(out["png"]) as im:
        assert im.format == "PNG" and im.size[0] > 600
    rows = list(csv.DictReader(out["csv"].open()))
    assert len(rows) == 200 * 5   # ping baseline + four sources
    # device-side ISR -> task latency fits inside the host's round trip, for every trial
    for r in rows:
        if r["source"] in ("uart", "soft", "gpio"):
            assert 0 <= float(r["device_us"]) <= float(r["rtt_us"]), r


def test_python_api_on_the_cpython_runtime() -> None:
    run = measure(runtime="cpython", source="soft", count=100)
    assert run.error is None and run.runtime == "cpython"
    (res,) = run.results
    assert res.source == "soft" and len(res.samples) == 100 and res.lost == 0
    assert all(s.device_us is not None and s.device_us <= s.rtt_us for s in res.samples)


def test_protocol_errors_are_counted_and_the_next_ping_answered(session: DeviceSession) -> None:
    link = session.link
    assert link is not None
    link.request(P.RESET_STATS, b"", expect_type=P.RESET_R)
    good = F.encode(P.PING, 1, b"x")
    cases = {
        "garbage": b"\x11\x22\x33\xff\xfe" * 7 + b"\x00",
        "truncated": good[:4] + b"\x00",
        "bad_crc": good[:-3] + bytes([good[-3] ^ 0x55]) + good[-2:],
        "oversized": b"\x00" + bytes([0xFF] + [0x41] * 254) * 2 + b"\x00",
    }
    for name, junk in cases.items():
        link.write_raw(junk)
        link.ping(b"after " + name.encode(), timeout=2.0)   # answered: the decoder resynced
    with pytest.raises(Exception, match="unknown type"):
        link.request(0x5A, b"", expect_type=0xDA, timeout=2.0)
    link.ping(b"after unknown", timeout=2.0)
    st = link.stats(timeout=2.0)
    assert st["link.bad_crc"] >= 1 and st["link.too_long"] >= 1
    assert st["link.too_short"] + st["link.cobs_err"] >= 2
    assert st["link.unknown_type"] == 1


def test_ten_thousand_random_strings_then_a_correct_stats_reply(session: DeviceSession) -> None:
    link = session.link
    assert link is not None
    link.request(P.RESET_STATS, b"", expect_type=P.RESET_R)
    rnd = random.Random(2026)
    sent = 0
    chunk = bytearray()
    for _ in range(10_000):
        s = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 40)))
        # each string ends at a delimiter, as a resyncing sender's would (a bare 0x03 on a
        # quiet line is the app's Ctrl-C)
        chunk += s + b"\x00"
        if len(chunk) > 8192:   # more than the sim UART FIFO: flow control, no loss
            link.write_raw(bytes(chunk))
            sent += len(chunk)
            chunk.clear()
            link.ping(b"alive", timeout=5.0)
    link.write_raw(bytes(chunk))
    sent += len(chunk)
    st = link.stats(timeout=5.0)
    errors = st["link.bad_crc"] + st["link.too_long"] + st["link.too_short"] + st["link.cobs_err"]
    assert errors > 1000
    assert st["link.bytes_in"] >= sent
    # only our own requests decoded as frames (random data passing CRC-16 is ~1 in 65536)
    assert st["link.frames_ok"] <= 2 + sent // 8192 + 2
    assert st["soft.overflow"] == 0


def test_busy_port_is_refused_in_one_line(sim: object, irqkit) -> None:
    with serial.Serial(sim.port, exclusive=True):  # type: ignore[attr-defined]
        p = irqkit("measure", "--port", sim.port, "-n", "5")  # type: ignore[attr-defined]
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1 and "busy" in p.stderr, p.stderr


def test_a_port_without_micropython_is_refused(tmp_path: Path, irqkit) -> None:
    # a pty whose other end is `cat`: it echoes, but no REPL answers
    master, slave = os.openpty()
    cat = subprocess.Popen(["cat"], stdin=master, stdout=master)
    try:
        p = irqkit("measure", "--port", os.ttyname(slave), "-n", "5", timeout=60)
    finally:
        cat.kill()
        os.close(master)
        os.close(slave)
    assert p.returncode == 1
    assert "no MicroPython REPL answered" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_device_vanishing_mid_run_keeps_partial_results(tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    with start_sim() as board:
        deploy(board.port, BOARD)
        proc = subprocess.Popen(
            [sys.executable, "-m", "irqkit_host", "measure", "--port", board.port, "--source", "soft",
             "-n", "200000", "--no-progress", "--json", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}"))
        time.sleep(3.0)            # let it measure for a while
        board.stop()               # the board vanishes
        _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert len(stderr.strip().splitlines()) == 1 and "disconnected" in stderr, stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["complete"] is False
    soft = data["results"][0]
    assert soft["source"] == "soft" and 0 < soft["count"] < 200000
    # the trial in flight when the board vanished is lost; the rest were never sent
    assert soft["lost"] <= 1 and soft["count"] + soft["lost"] + soft["not_run"] == 200000, soft
