"""The responder on the simulator (real pty, MicroPython VM) under hypothesis-generated input
(issue 13.6 and the device-side fuzz): every frame counted exactly once, by kind.

A valid frame is handled (``link.ok_<TYPE>``) or refused (``link.unknown_type``,
``link.bad_payload``, ``link.refused_<kind>``); anything else is counted by the frame
decoder (``link.bad_crc``, ``too_long``, ``too_short``, ``cobs_err``). So between two STATS
snapshots the sum of every per-kind counter grows by exactly the frames sent, and the
decoder's counters grow exactly as a reference decoder (the same codec, on this host) fed
the same bytes says.

Not sent: RESET_STATS (it zeroes the counters being checked) and CONFIG run=0 (it stops the
app). The timer is armed with periods of 0 (off) or 50 ms .. 4 s: arming and disarming it
over and over once hung the simulator's interrupt controller (a hard delivery inside its own
locked section, fixed with issue 10's two-producer test). Each garbage or corrupted frame contains no 0x00 but its final delimiter,
so it is one unit on the wire; one the reference decoder accepts as valid is not used.
"""
from __future__ import annotations

import os
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irqkit import proto as P
from irqkit.app import REFUSALS, REQUESTS
from irqkit.frame import MAX_PAYLOAD, FrameDecoder, encode
from irqkit_host.boards import load_board
from irqkit_host.deploy.firmware import app_start_code
from irqkit_host.link.frames import Link
from irqkit_host.link.session import DeviceSession
from irqkit_host.targets.sim import start_sim

BOARD = load_board("sim")
TOTAL = 20_000          # frames the fuzz run sends
BATCH = 200             # frames per hypothesis example (its own STATS check)
WINDOW = 1500           # bytes in flight before a sync PING (the sim's RX FIFO is 4 KB)
DECODER_KINDS = ("bad_crc", "too_long", "too_short", "cobs_err")
KINDS = ([f"ok_{P.TYPE_NAMES[t]}" for t in REQUESTS] + ["unknown_type", "bad_payload"]
         + [f"refused_{k}" for k in REFUSALS] + list(DECODER_KINDS))


@pytest.fixture(scope="module")
def link() -> Iterator[Link]:
    with start_sim(log=lambda m: None) as sim, DeviceSession(sim.port, app_start_code(BOARD)) as s:
        assert s.link is not None
        yield s.link


def stats(link: Link) -> tuple[dict[str, Any], int]:
    """STATS (one snapshot, taken when page 0 is asked for) -> (dict, pages read)."""
    first = link.request(P.STATS, P.pack_stats(0), timeout=5.0)
    pages = [first]
    for p in range(1, P.unpack_stats_r(first)[1]):
        pages.append(link.request(P.STATS, P.pack_stats(p), timeout=5.0))
    return P.stats_join(pages), len(pages)


def total(d: dict[str, Any]) -> int:
    return sum(int(d["link." + k]) for k in KINDS)


def sync(link: Link, tag: int) -> None:
    """A PING with a payload no fuzz frame has; everything before it is read and dropped."""
    token = b"sync-%08d-" % tag + os.urandom(8)
    link.send(P.PING, token)
    while True:
        f = link.recv(timeout=10.0)
        if f.type == P.PONG and f.payload == token:
            link.pending_events()
            return


#: One frame's choices (hypothesis draws these; :func:`build` makes the wire bytes):
#: (kind, a, b, data). Few draws per frame: 20 000 frames stay quick to generate.
PARTS = st.tuples(st.integers(0, 15), st.integers(0, 255), st.integers(0, 2**32 - 1), st.binary(max_size=48))


def _valid(kind: int, a: int, b: int, data: bytes) -> bytes:
    seq = b & 0xFF
    src = a % 7 if b & 0x100 else a        # mostly real sources, sometimes any id
    if kind == 0:
        return encode(P.PING, seq, (data * (1 + a % 6))[:MAX_PAYLOAD])
    if kind == 1:
        return encode(P.HELLO, seq, data[:4])
    if kind == 2:
        period = b >> 9
        if src == P.SRC_TIMER:            # off, or 50 ms .. 4 s (a faster one floods the link)
            period = 0 if b & 0x200 else 50000 + (b >> 10) % 3950000
        return encode(P.ARM, seq, P.pack_arm(src, period))
    if kind == 4:
        return encode(P.TRIGGER, seq, P.pack_trigger(src, b >> 9))
    if kind == 6:
        return encode(P.STATS, seq, P.pack_stats(a))
    if kind in (3, 5, 7):                  # wrong payload length
        typ = {3: P.ARM, 5: P.TRIGGER, 7: P.STATS}[kind]
        return encode(typ, seq, data[:12] if len(data[:12]) != {3: 5, 5: 5, 7: 1}[kind] else b"")
    if kind == 8:
        keys = ("run", "rate", "x", "", "speed")
        text = data if b & 0x200 else ("%s=%s" % (keys[a % 5], ("1", "0", "", "yes")[(a >> 3) % 4])).encode()
        if text.startswith(b"run=0"):
            text = b"run=1"                 # would stop the app
        return encode(P.CONFIG, seq, text)
    typ = a if a not in REQUESTS else 0x80 | a
    return encode(typ, seq, (data * (1 + (b >> 9) % 6))[:MAX_PAYLOAD])


def _accepted(chunk: bytes) -> bool:
    dec = FrameDecoder()
    return any(dec.feed(c) for c in chunk)


def build(parts: tuple[int, int, int, bytes]) -> bytes:
    """Wire bytes of one unit, ending in its 0x00: a valid frame (kinds 0-9), or garbage:
    random bytes, a valid frame with a byte changed, cut, or with bytes inserted, one
    longer than any frame."""
    kind, a, b, data = parts
    if kind <= 9:
        return _valid(kind, a, b, data)
    if kind in (10, 15):
        body = data or b"\x55"
    elif kind == 14:
        body = ((data or b"\xaa") * 600)[:250 + b % 350]
    else:
        good = _valid(b % 10, a, b >> 4, data)[:-1]
        i = a % len(good)
        if kind == 11:
            body = good[:i] + bytes([good[i] ^ (1 + (b >> 20) % 255)]) + good[i + 1:]
        elif kind == 12:
            body = good[:i] + good[i + 1:] if len(good) > 1 and b & 0x10000 else good[:max(i, 1)]
        else:
            body = good[:i] + (data[:8] or b"\x07") + good[i:]
    chunk = body.replace(b"\x00", b"\x01") + b"\x00"
    if _accepted(chunk):          # by chance a valid frame (CRC-16: ~1 in 65536)
        chunk = b"\x01" + chunk   # COBS code 1 then data: now one byte too many
    return chunk


def test_every_refusal_kind_is_counted_and_readable_in_stats(link: Link) -> None:
    before, pages = stats(link)
    link.send(P.CONFIG, b"speed=fast")                          # unknown CONFIG key
    link.send(P.TRIGGER, P.pack_trigger(P.SRC_GPIO, 1))          # gpio has no TRIGGER
    link.send(P.TRIGGER, P.pack_trigger(P.SRC_TIMER, 1))         # nor has the timer
    link.send(P.STATS, P.pack_stats(250))                       # no such page
    link.send(P.ARM, P.pack_arm(9, 0))                          # no source 9
    link.send(0x5A, b"")                                        # unknown type
    link.send(P.TRIGGER, b"\x01")                               # payload does not parse
    sync(link, 0)
    after, _ = stats(link)
    grew = {k: int(after["link." + k]) - int(before["link." + k]) for k in KINDS}
    assert grew == {**{k: 0 for k in KINDS}, "refused_config_key": 1, "refused_trigger_source": 2,
                    "refused_stats_page": 1, "refused_arm_source": 1, "unknown_type": 1,
                    "bad_payload": 1, "ok_PING": 1, "ok_STATS": pages}   # `before`'s pages


def test_twenty_thousand_fuzzed_frames_are_each_counted_once_and_ping_answers(link: Link) -> None:
    link.request(P.RESET_STATS, b"", expect_type=P.RESET_R)
    # frames sent since the reset (itself counted after it); a STATS snapshot counts those
    # sent before its page 0
    sent = {"frames": 1, "examples": 0}

    @settings(max_examples=TOTAL // BATCH, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(parts=st.lists(PARTS, min_size=BATCH, max_size=BATCH))
    def one_batch(parts: list[tuple[int, int, int, bytes]]) -> None:
        batch = [build(x) for x in parts]
        at_before = sent["frames"]
        before, pages = stats(link)
        ref = FrameDecoder()
        syncs = 0
        window = 0
        for chunk in batch:
            for c in chunk:
                ref.feed(c)
            link.write_raw(chunk)
            window += len(chunk)
            if window > WINDOW:
                sync(link, syncs)
                syncs += 1
                window = 0
        sync(link, syncs)
        syncs += 1
        frames = pages + len(batch) + syncs             # `before`'s STATS pages too
        sent["frames"] += frames
        assert total(before) == at_before
        after, pages_after = stats(link)
        assert total(after) - total(before) == frames
        grew = {k: int(after["link." + k]) - int(before["link." + k]) for k in DECODER_KINDS + ("frames_ok",)}
        want = {k: v for k, v in ref.counters().items() if k in grew}
        want["frames_ok"] += syncs + pages
        assert grew == want
        handled = sum(int(after["link." + k]) - int(before["link." + k]) for k in KINDS if k not in DECODER_KINDS)
        assert handled == grew["frames_ok"]
        sent["frames"] += pages_after
        sent["examples"] += 1

    one_batch()
    link.ping(b"still there", timeout=5.0)
    final, _ = stats(link)
    assert sent["examples"] * BATCH >= TOTAL
    assert total(final) == sent["frames"] + 1          # + that PING
    assert int(final["soft.overflow"]) == 0
