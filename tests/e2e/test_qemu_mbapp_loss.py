"""Issue 10.4 on the emulated micro:bit (real MicroPython 1.9.2, Cortex-M0 in QEMU): the small
board's responder (irqkit.mbapp) defers its soft interrupt -- TRIGGER pends an event in a
4-slot ring, the main loop delivers it later -- and counts "delivered" where it delivers.
While the loop holds delivery (CONFIG hold=1, as a masked source waits), TRIGGERs beyond the
ring's 4 slots are lost: the loss must show in STATS as overflow, and every counter must add
up against what the host saw (EVENT frames received) once delivery resumes."""
from __future__ import annotations

import pytest

from irqkit import proto
from irqkit_host.boards import load_board
from irqkit_host.deploy import app_start_code, deploy
from irqkit_host.link.frames import LinkTimeout
from irqkit_host.link.session import DeviceSession
from irqkit_host.targets import qemu

_REASON = qemu.qemu_unavailable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"QEMU micro:bit unavailable: {_REASON}")

SLOTS = 4        # irqkit.mbapp's ring
BURST = 10       # TRIGGERs while delivery is held


def test_mbapp_held_burst_overflow_is_visible_and_delivered_counted_where_delivered() -> None:
    bd = load_board("microbit-v1")
    with qemu.start_microbit(timeout=60) as mb:
        deploy(mb.port, bd)
        with DeviceSession(mb.port, app_start_code(bd),
                           soft_reset=bd["firmware"].get("layout") == "flat") as session:
            link = session.link
            assert link is not None
            link.request(proto.RESET_STATS)
            link.request(proto.CONFIG, proto.pack_config("hold", 1), expect_type=proto.CONFIG_R)
            for i in range(BURST):      # one request at a time: nothing lost on the wire
                link.request(proto.PING, b"t%d" % i)
                link.send(proto.TRIGGER, proto.pack_trigger(proto.SRC_SOFT, 1000 + i))
            held = link.stats()
            assert not link.pending_events()          # nothing delivered while held
            link.request(proto.CONFIG, proto.pack_config("hold", 0), expect_type=proto.CONFIG_R)
            tokens = []
            while True:
                try:
                    f = link.recv_type(proto.EVENT, timeout=2.0)
                except LinkTimeout:
                    break                             # quiet for 2 s: nothing more is coming
                src, token, _t_isr, _t_task, count = proto.unpack_event(f.payload)
                assert src == proto.SRC_SOFT and count == 1
                tokens.append(token)
            st = link.stats()
    print(f"micro:bit mbapp, {BURST} TRIGGERs while held: STATS then triggers {held['soft.triggers']} "
          f"delivered {held['soft.delivered']} overflow {held['soft.overflow']}; after: {len(tokens)} "
          f"EVENTs, delivered {st['soft.delivered']}")
    # while held: every TRIGGER counted, the ring full, the rest lost and counted, none delivered
    assert held["soft.triggers"] == BURST and held["soft.delivered"] == 0, held
    assert held["soft.overflow"] == BURST - SLOTS, held
    # after: delivered is what the main loop sent back (the oldest SLOTS, in order)
    assert tokens == [1000 + i for i in range(SLOTS)], tokens
    assert st["soft.delivered"] == len(tokens) == SLOTS, st
    assert st["soft.triggers"] == st["soft.delivered"] + st["soft.overflow"], st
    assert st["link.bad_frames"] == 0 and st["link.unknown_type"] == 0, st
