"""Issue 13.4: on the simulator the latency responder attaches the software-interrupt line,
so a bench storm (`soft N RATE`) reaches its soft source: every raise is delivered or
counted, and the bench no longer answers "nothing attached"."""
from __future__ import annotations

import time

from irqkit import proto as P
from irqkit_host.boards import load_board
from irqkit_host.deploy.firmware import app_start_code
from irqkit_host.link.session import DeviceSession
from irqkit_host.targets.bench import BenchClient
from irqkit_host.targets.sim import SimBoard

BOARD = load_board("sim")


def test_a_bench_soft_storm_reaches_the_responders_soft_source(sim: SimBoard) -> None:
    with DeviceSession(sim.port, app_start_code(BOARD)) as s, BenchClient(sim.bench) as bench:
        link = s.link
        assert link is not None
        link.request(P.RESET_STATS, b"", expect_type=P.RESET_R)
        reply = bench.cmd("soft 200 2000")
        assert reply.startswith("injecting 200 on SWI") and "nothing attached" not in reply, reply
        deadline = time.monotonic() + 20
        st = link.stats()
        while st["soft.triggers"] + st["port.irq_coalesced"] < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            st = link.stats()
        events = [f for f in link.pending_events() if f.type == P.EVENT]
    # every raise reached the source (or was coalesced at the line, counted), and every event
    # the source took is delivered or counted as lost in its ring
    assert st["soft.triggers"] + st["port.irq_coalesced"] == 200, st
    assert st["soft.triggers"] == st["soft.delivered"] + st["soft.overflow"] + st["soft.merged"], st
    assert len(events) == st["soft.delivered"] and st["soft.delivered"] > 0, (len(events), st)
    # the app returned (stop): the line is detached again
    assert "nothing attached" in BenchClient(sim.bench).cmd("soft 1 10")
