"""A device that answers malformed payloads: ``measure()`` and the CLI never traceback.

A fake device thread sits on the master side of a real pty. It plays MicroPython's raw REPL
just far enough for mpremote to start "the app" (Ctrl-A banner, raw-paste refusal, "OK"),
then speaks the frame protocol with the firmware's own ``irqkit.frame``/``irqkit.proto``:
HELLO is answered properly, and the first replies of one type (EVENT, ARM_R, STATS_R or
PONG) are hypothesis-generated malformed payloads. The run must keep its partial results
and count exactly the malformed replies it received in ``host_link.malformed``.
"""
from __future__ import annotations

import json
import os
import re
import pty
import select
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irqkit import proto as P
from irqkit.frame import FrameDecoder, encode
from irqkit_host.cli import main
from irqkit_host.link.session import READY_MARKER
from irqkit_host.measure import measure

PING_PAYLOAD = b"irqkit\x00\x03"
BANNER = b"raw REPL; CTRL-B to exit\r\n>"
HELLO_INFO = {"fw": "fake", "board": "sim", "runtime": "fake", "port": "fake_port",
              "irq": "soft", "sources": "uart,soft"}


class FakeDevice(threading.Thread):
    """Raw REPL just enough for mpremote, then frames; ``bad[type]`` replies go first."""

    def __init__(self, bad: dict[int, list[bytes]]) -> None:
        super().__init__(daemon=True)
        self.master, slave = pty.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self.slave = slave
        self.bad = {t: list(v) for t, v in bad.items()}
        self.sent_bad = 0
        self.stop_flag = False
        self.frames = False
        self.decoder = FrameDecoder()
        self.t = 1000

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def reply(self, type: int, seq: int, good: bytes) -> None:
        queue = self.bad.get(type)
        if queue:
            good = queue.pop(0)
            self.sent_bad += 1
        self.write(encode(type, seq, good))

    def on_frame(self, type: int, seq: int, payload: bytes) -> None:
        if type == P.HELLO:
            self.write(encode(P.HELLO_R, seq, P.pack_hello_r(1_000_000, HELLO_INFO)))
        elif type == P.RESET_STATS:
            self.write(encode(P.RESET_R, seq, b""))
        elif type == P.PING:
            self.reply(P.PONG, seq, bytes(payload))
        elif type == P.ARM:
            src, _param = P.unpack_arm(payload)
            self.reply(P.ARM_R, seq, P.pack_arm_r(src, P.STATUS_OK, "soft"))
        elif type == P.TRIGGER:
            src, token = P.unpack_trigger(payload)
            self.t += 100
            self.reply(P.EVENT, seq, P.pack_event(src, token, self.t, self.t + 7))
        elif type == P.STATS:
            self.reply(P.STATS_R, seq, P.stats_pages({"sent": 1})[0])
        elif type == P.CONFIG:
            self.write(encode(P.CONFIG_R, seq, P.pack_status(0)) + b"\x04\x04>")
            self.frames = False

    def on_repl(self, data: bytes) -> None:
        if b"\x05A\x01" in data:            # raw-paste: refuse, mpremote falls back
            self.write(b"R\x00")
        elif b"\x01" in data:
            self.write(BANNER)
        if b"\x04" in data:                  # end of the exec'd code: the app runs
            self.write(b"OK" + READY_MARKER + b"\r\n")   # as the session's prelude prints
            self.frames = True

    def run(self) -> None:
        while not self.stop_flag:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not self.frames:
                self.on_repl(data)
                continue
            i = 0
            while i < len(data):
                i += self.decoder.feed_buf(data, len(data), i)
                if self.decoder.ready:
                    self.on_frame(self.decoder.type, self.decoder.seq, self.decoder.payload_bytes())

    def close(self) -> None:
        self.stop_flag = True
        self.join(2)
        os.close(self.master)
        os.close(self.slave)


def _fails(unpack, p: bytes) -> bool:
    try:
        unpack(p)
    except ValueError:
        return True
    return False


def _bad_stats(p: bytes) -> bool:
    # one page that does not join (a first page announcing more pages would be a different fault)
    return (len(p) < 2 or p[1] <= 1) and _fails(lambda b: P.stats_join([P.unpack_stats_r(b) and b]), p)


BAD = {
    P.EVENT: st.binary(max_size=40).filter(lambda p: len(p) != P.EVENT_SIZE),
    P.ARM_R: st.binary(max_size=6).filter(lambda p: _fails(P.unpack_arm_r, p)),
    P.STATS_R: st.binary(max_size=12).filter(_bad_stats),
    P.PONG: st.binary(max_size=12).filter(lambda p: p != PING_PAYLOAD),
}
#: how many bad replies of each kind at most (ARM_R: one per source; STATS: one request)
MAX_BAD = {P.EVENT: 6, P.ARM_R: 2, P.STATS_R: 1, P.PONG: 5}


@st.composite
def faults(draw: st.DrawFn) -> tuple[int, list[bytes]]:
    kind = draw(st.sampled_from(sorted(BAD)))
    return kind, draw(st.lists(BAD[kind], min_size=1, max_size=MAX_BAD[kind]))


@pytest.fixture
def quiet_log() -> Iterator[list[str]]:
    yield []


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                               HealthCheck.filter_too_much])
@given(fault=faults())
def test_measure_counts_malformed_replies(fault: tuple[int, list[bytes]], quiet_log: list[str]) -> None:
    kind, payloads = fault
    dev = FakeDevice({kind: payloads})
    dev.start()
    try:
        lines: list[str] = []
        run = measure(port=dev.path, board="sim", count=8, log=lines.append)
    finally:
        dev.close()
    assert dev.sent_bad == len(payloads)
    assert run.host_link["malformed"] == len(payloads)
    assert run.to_json()["host_link"]["malformed"] == len(payloads)
    assert [ln for ln in lines if "malformed" in ln], lines
    assert len(run.results) == 2                       # partial results kept
    if kind == P.EVENT:
        assert sum(r.lost for r in run.results) == len(payloads)
        assert sum(len(r.samples) for r in run.results) == 16 - len(payloads)
    elif kind == P.ARM_R:
        assert sum(1 for r in run.results if r.error and "malformed ARM_R" in r.error) == len(payloads)
    elif kind == P.STATS_R:
        assert "malformed" in run.stats["error"] or "bad STATS" in run.stats["error"]
        assert all(len(r.samples) == 8 for r in run.results)
    else:
        assert all(len(r.samples) == 8 for r in run.results)
        assert len(run.results[0].baseline_rtt_us) == 8 - len(payloads)


def test_cli_one_line_for_a_malformed_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev = FakeDevice({P.EVENT: [b"abc"], P.ARM_R: [b"\x01"]})
    dev.start()
    try:
        out = tmp_path / "r.json"
        rc = main(["measure", "--port", dev.path, "-n", "5", "--no-progress", "--json", str(out)])
    finally:
        dev.close()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert rc == 1                                  # the ARM_R fault made one source fail
    assert "2 malformed" in err and err.count("\n") <= 3, err
    data = json.loads(out.read_text())
    assert data["host_link"]["malformed"] == 2
    errors = [r.get("error", "") for r in data["results"]]
    assert any("malformed ARM_R" in e for e in errors), errors


def test_cli_verbose_prints_the_phase_timings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev = FakeDevice({})
    dev.start()
    try:
        out = tmp_path / "r.json"
        rc = main(["measure", "--port", dev.path, "-n", "5", "--no-progress", "-v", "--json", str(out)])
    finally:
        dev.close()
    assert rc == 0
    err = capsys.readouterr().err
    phases = [ln.split("irqkit measure: ", 1)[1] for ln in err.splitlines() if ln.endswith(" ms")]
    names = [p.rsplit(None, 2)[0] for p in phases]
    assert names == ["start app", "HELLO", "trials ping (5)", "trials uart (5)", "trials soft (5)",
                     "STATS", "stop app"], err       # a port given: no target to start or stop
    ms = {p.rsplit(None, 2)[0]: float(p.rsplit(None, 2)[1]) for p in phases}
    total = re.search(r"command \(since start\) +([0-9.]+) ms", err)
    inside = re.search(r"phases +([0-9.]+) ms  \(link: (\w+)\)", err)
    assert total and inside, err
    assert inside.group(2) == "fd"                   # a local pty: the file descriptor path
    assert sum(ms.values()) == pytest.approx(float(inside.group(1)), abs=0.5)
    assert float(inside.group(1)) <= float(total.group(1))
    assert all(v >= 0 for v in ms.values()) and ms["trials ping (5)"] > 0
    assert json.loads(out.read_text())["target"]["link"] == "fd"
