"""The host's bulk codec (irqkit_host.link.codec) is the firmware's codec (irqkit.frame).

Both decoders get the same bytes in the same chunks; after every chunk they must have
returned the same frames and hold the same counters. Inputs: the firmware's own test
vectors (tests/firmware/test_frame.py) and hypothesis-generated streams of frames, damaged
frames and garbage, split anywhere, with small and large body limits.
"""
from __future__ import annotations

import binascii
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from irqkit import proto as P
from irqkit.frame import MAX_BODY, MAX_PAYLOAD, FrameDecoder, crc16, decode_frames
from irqkit.frame import encode as fw_encode
from irqkit_host.link.codec import BulkDecoder, encode

u8 = st.integers(0, 255)
frames = st.tuples(u8, u8, st.binary(max_size=MAX_PAYLOAD))


def _cobs(body: bytes) -> bytes:
    """Reference COBS (+ delimiter), written from the algorithm (as in test_frame.py)."""
    out = bytearray()
    block = bytearray()
    for b in body:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block = bytearray()
    out += bytes([len(block) + 1]) + block
    return bytes(out) + b"\x00"


def _raw(body: bytes, crc: int | None = None) -> bytes:
    if crc is None:
        crc = crc16(body, len(body))
    return _cobs(body + bytes([crc & 0xFF, crc >> 8]))


def agree(chunks: list[bytes], max_body: int = MAX_BODY) -> list[tuple[int, int, bytes]]:
    """Feed both decoders chunk by chunk; they must agree after every chunk. -> frames."""
    fw = FrameDecoder(max_body)
    bulk = BulkDecoder(max_body)
    got: list[tuple[int, int, bytes]] = []
    for i, chunk in enumerate(chunks):
        want = decode_frames(chunk, fw)
        have = bulk.feed(chunk)
        assert have == want, (i, chunk)
        assert bulk.counters() == fw.counters(), (i, chunk)
        assert bulk.errors() == fw.errors()
        got += have
    return got


def agree_split_everywhere(data: bytes, max_body: int = MAX_BODY) -> list[tuple[int, int, bytes]]:
    """In one chunk, byte by byte, and at a few random cuts: always the same."""
    whole = agree([data], max_body)
    assert agree([data[i:i + 1] for i in range(len(data))], max_body) == whole
    rnd = random.Random(len(data))
    cuts = sorted(rnd.sample(range(len(data) + 1), min(5, len(data) + 1)))
    assert agree([data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])], max_body) == whole
    return whole


# ---- the firmware's test vectors ---------------------------------------------------------

def test_crc_hqx_is_the_firmware_crc16() -> None:
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == crc16(b"123456789", 9) == 0x29B1
    assert binascii.crc_hqx(b"\x02\x07hello\x00world", 0xFFFF) == 0xA46D


def test_known_wire_bytes() -> None:
    wire = b"\x08\x02\x07hello\x08world\x6d\xa4\x00"
    assert encode(0x02, 7, b"hello\x00world") == wire
    assert agree_split_everywhere(wire) == [(2, 7, b"hello\x00world")]


def test_all_lengths_and_byte_patterns() -> None:
    rnd = random.Random(1)
    stream = b""
    want = []
    for n in range(MAX_PAYLOAD + 1):
        for payload in (bytes(n), b"\xff" * n, bytes(rnd.choice((0, rnd.randrange(256))) for _ in range(n))):
            t, s = rnd.randrange(256), rnd.randrange(256)
            assert encode(t, s, payload) == fw_encode(t, s, payload) == _raw(bytes([t, s]) + payload)
            stream += encode(t, s, payload)
            want.append((t, s, payload))
    assert agree([stream]) == want
    assert agree([stream[i:i + 97] for i in range(0, len(stream), 97)]) == want


def test_idle_fill_empty_body_truncation_bad_crc_cobs_error() -> None:
    assert agree_split_everywhere(b"\x00\x00\x00\x01\x00" + encode(2, 1, b"ok")) == [(2, 1, b"ok")]
    good = encode(P.PING, 5, b"\x00ping\x00payload")
    nxt = encode(P.PING, 6, b"next")
    for cut in range(1, len(good) - 1):   # too_short, cobs_err and bad_crc all occur
        assert agree_split_everywhere(good[:cut] + b"\x00" + nxt) == [(P.PING, 6, b"next")]
    body = b"\x02\x09abc"
    flipped = bytearray(encode(2, 9, b"abc"))
    flipped[4] ^= 0x01
    assert agree_split_everywhere(_raw(body, crc16(body, 5) ^ 0x0100) + bytes(flipped)) == []
    assert agree_split_everywhere(b"\x05\x01\x02\x00" + encode(1, 1)) == [(1, 1, b"")]
    assert agree_split_everywhere(b"\x07\x07\x07" + encode(2, 1, b"one") + encode(2, 2, b"two")) == [
        (2, 2, b"two")]


def test_oversized_bodies_are_too_long_at_the_same_byte() -> None:
    big = _raw(bytes([2, 1]) + b"\x05" * (MAX_PAYLOAD + 1))          # body 245 > 244
    big0 = _raw(bytes(MAX_BODY + 10))                                # through implied zeros
    exact = encode(3, 4, bytes(MAX_PAYLOAD))
    assert agree_split_everywhere(big + big0 + encode(3, 3, b"x") + exact) == [
        (3, 3, b"x"), (3, 4, bytes(MAX_PAYLOAD))]
    # a REPL banner without a delimiter: too_long while it is still arriving, then dropped
    text = b"MicroPython v1.29 on sim; raw REPL; CTRL-B to exit\r\n>" * 20
    assert agree([text[:300], text[300:], b"\x00" + encode(1, 2, b"after")]) == [(1, 2, b"after")]
    assert agree([text[i:i + 1] for i in range(len(text))] + [b"\x00"])  == []


def test_full_cobs_blocks_with_a_large_body_limit() -> None:
    body = bytes([9, 1]) + b"\x11" * 254 + b"\x00" + b"\x22" * 300 + b"\x33" * 254
    wire = _raw(body)
    assert b"\xff" in wire
    assert agree_split_everywhere(wire, max_body=len(body) + 2) == [(9, 1, body[2:])]
    assert agree_split_everywhere(wire, max_body=300) == []     # too_long inside a 0xFF block


def test_random_garbage_between_frames() -> None:
    rnd = random.Random(7)
    stream = b""
    for i in range(300):
        junk = bytes(0 if rnd.randrange(1 + rnd.randrange(40)) == 0 else rnd.randrange(256)
                     for _ in range(rnd.randrange(400)))
        stream += junk + b"\x00" + encode(P.PING, i & 0xFF, bytes(rnd.randrange(256) for _ in range(rnd.randrange(20))))
    got = agree([stream[i:i + 61] for i in range(0, len(stream), 61)])
    assert len(got) >= 300


# ---- generated ----------------------------------------------------------------------------

@settings(deadline=None, max_examples=500)  # no timing assertions on a shared, noisy machine
@given(frames)
def test_encode_is_the_firmware_encode(f: tuple[int, int, bytes]) -> None:
    assert encode(*f) == fw_encode(*f)
    assert BulkDecoder().feed(encode(*f)) == [f]


def _damage(wire: bytes, how: int, at: int, byte: int) -> bytes:
    """0: as is, 1: one byte changed, 2: cut short, 3: a byte inserted, 4: delimiter lost."""
    at %= len(wire)
    if how == 1:
        return wire[:at] + bytes([byte]) + wire[at + 1:]
    if how == 2:
        return wire[:at]
    if how == 3:
        return wire[:at] + bytes([byte]) + wire[at:]
    if how == 4:
        return wire[:-1]
    return wire


pieces = st.one_of(
    st.builds(lambda f, how, at, b: _damage(encode(*f), how, at, b), frames, st.integers(0, 4),
              st.integers(0, 1000), u8),
    st.binary(max_size=300),
    st.just(b"\x00"),
)


@settings(deadline=None, max_examples=400)
@given(st.lists(pieces, max_size=12), st.lists(st.integers(0, 4000), max_size=8),
       st.sampled_from([4, 5, 20, MAX_BODY, 300, 600]))
def test_any_stream_split_anywhere_decodes_the_same(parts: list[bytes], cuts: list[int],
                                                    max_body: int) -> None:
    data = b"".join(parts)
    cuts = sorted({c % (len(data) + 1) for c in cuts})
    agree([data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])], max_body)


def test_reset_and_take_partial() -> None:
    f = encode(4, 4, b"split")
    d = BulkDecoder()
    assert d.feed(f[:5]) == []
    assert d.take_partial() == f[:5]
    assert d.feed(f[5:]) == [] and d.errors() == 1     # the tail alone is not a frame
    assert d.feed(f[:5]) == []
    d.reset()
    assert d.feed(f) == [(4, 4, b"split")]
