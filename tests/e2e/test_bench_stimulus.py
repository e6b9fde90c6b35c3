"""The bench never blocks: a client that never reads is disconnected (counted) while others
are answered; timed stimulus (pulse, bounce, train, quad) runs on the hardware model's clock
and the command returns at once. `soft` on an unattached line says so."""
from __future__ import annotations

import socket
import time

from irqkit_host.targets.bench import BenchClient


def _path(board) -> str:
    return board.bench[len("unix:"):]


def test_client_that_never_reads_does_not_stall_others(board):
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hog.connect(_path(board))
    hog.setblocking(False)
    sent = 0
    line = b"state\n"
    deadline = time.monotonic() + 20
    with BenchClient(board.bench) as c:
        before = c.state()["bench"]["dropped_clients"]
        try:
            while sent < 40000 and time.monotonic() < deadline:
                try:
                    hog.send(line)
                    sent += 1
                except BlockingIOError:
                    time.sleep(0.001)
                except OSError:
                    break   # the server dropped us: what must happen
                if sent % 2000 == 0:
                    assert c.raw("get P0") in ("ok 0", "ok 1")   # still answered
        finally:
            hog.close()
        assert c.raw("get P0") in ("ok 0", "ok 1")
        assert c.state()["bench"]["dropped_clients"] >= before + 1


def test_long_pulse_returns_at_once_and_others_are_served(board):
    with BenchClient(board.bench) as c, BenchClient(board.bench) as d:
        c.raw("set P6 0")
        assert c.raw("pulse P6 10000000").startswith("ok P6 pulsing")
        assert d.raw("get P6") == "ok 1"           # high now, held by the hardware clock
        assert d.state()["bench"]["stimulus_active"] >= 1
        assert c.raw("pulse P7 0").startswith("ok")
        c.raw("set P6 0")   # a later set wins on the wire; the train then drives its end


def test_soft_on_unattached_line_says_so(board):
    with BenchClient(board.bench) as c:
        r = c.raw("soft 5 1000 SWI")
        assert r.startswith("ok injecting")
        assert "nothing attached" in r


def test_stimulus_bad_input_is_one_err(board):
    with BenchClient(board.bench) as c:
        assert c.raw("bounce P1 0 100 1").startswith("err N must be")
        assert c.raw("bounce P1 5 100 2").startswith("err LEVEL")
        assert c.raw("train P1 10 0").startswith("err RATE_HZ")
        assert c.raw("quad P1 P1 10 100").startswith("err quad needs two")
        assert c.raw("quad P1 P2 10 100 3").startswith("err BOUNCE_EDGES must be even")
        assert c.raw("quad P1 P2").startswith("err usage")
        assert "quad" in c.raw("help")


def _settle(c: BenchClient) -> None:
    deadline = time.monotonic() + 30
    while c.state()["bench"]["stimulus_active"] and time.monotonic() < deadline:
        time.sleep(0.05)


def test_bounce_settles_and_quad_ends_at_levels(board):
    with BenchClient(board.bench) as c:
        c.raw("set P3 0")
        assert c.raw("bounce P3 7 700 1").startswith("ok")
        _settle(c)
        assert c.raw("get P3") == "ok 1"
        c.raw("set P4 0")
        c.raw("set P5 0")
        assert c.raw("quad P4 P5 6 5000 2").startswith("ok")   # 6 steps: 00->10->11->01->00->10->11
        _settle(c)
        assert (c.get("P4"), c.get("P5")) == (1, 1)
