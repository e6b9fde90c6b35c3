"""Property tests (hypothesis) for the framing codec and the payload helpers.

The same modules run on the device; tests/firmware/test_frame.py covers them on the
MicroPython VM with fixed cases, these explore arbitrary inputs on CPython.
"""
from __future__ import annotations

import ast
import binascii
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from irqkit import proto as P
from irqkit.frame import (
    MAX_BODY,
    MAX_FRAME,
    MAX_PAYLOAD,
    FrameDecoder,
    FrameEncoder,
    crc16,
    decode_frames,
    encode,
)

ROOT = Path(__file__).resolve().parents[2]
u8 = st.integers(0, 255)
u32 = st.integers(0, 0xFFFFFFFF)
payloads = st.binary(max_size=MAX_PAYLOAD)
frames = st.tuples(u8, u8, payloads)
soup = st.binary(max_size=2000)

ERRORS = ("bad_crc", "too_long", "too_short", "cobs_err")


def _errors(d: FrameDecoder) -> int:
    return sum(d.counters()[k] for k in ERRORS)


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(frames)
def test_round_trip_any_frame(f: tuple[int, int, bytes]) -> None:
    t, s, p = f
    wire = encode(t, s, p)
    assert len(wire) <= MAX_FRAME
    assert wire.index(0) == len(wire) - 1  # the only zero is the delimiter
    d = FrameDecoder()
    assert decode_frames(wire, d) == [f]
    assert _errors(d) == 0 and d.counters()["bytes_in"] == len(wire)


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(frames)
def test_encoder_object_is_byte_identical(f: tuple[int, int, bytes]) -> None:
    t, s, p = f
    enc = FrameEncoder()
    padded = bytearray(p) + b"\xaa" * 7  # only the first n bytes count
    assert bytes(enc.encode(t, s, padded, len(p))) == encode(t, s, p)


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(st.binary(max_size=600))
def test_crc_is_ccitt_false(data: bytes) -> None:
    assert crc16(data, len(data)) == binascii.crc_hqx(data, 0xFFFF)


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(st.lists(frames, max_size=8), st.lists(st.integers(1, 64), max_size=20))
def test_stream_split_anywhere_decodes_the_same(fs: list[tuple[int, int, bytes]],
                                                cuts: list[int]) -> None:
    wire = b"".join(encode(*f) for f in fs)
    d = FrameDecoder()
    got = []
    i = 0
    for c in cuts + [len(wire)]:
        got += decode_frames(wire[i:i + c], d)
        i += c
    got += decode_frames(wire[i:], d)
    assert got == fs


@settings(max_examples=300, deadline=None)
@given(soup)
def test_byte_soup_never_raises_and_every_frame_end_is_accounted(data: bytes) -> None:
    d = FrameDecoder()
    out = decode_frames(data, d)
    c = d.counters()
    assert c["bytes_in"] == len(data)
    assert c["frames_ok"] == len(out)
    # every good or bad frame ends at a delimiter; empty frames are not counted
    assert c["frames_ok"] + _errors(d) <= data.count(0)
    for t, s, p in out:
        assert 0 <= t <= 255 and 0 <= s <= 255 and len(p) <= MAX_PAYLOAD


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(soup, frames)
def test_valid_frame_after_any_garbage_and_a_delimiter(junk: bytes, f: tuple[int, int, bytes]) -> None:
    got = decode_frames(junk + b"\x00" + encode(*f))
    assert got and got[-1] == f


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(soup, frames, frames)
def test_garbage_glued_to_a_frame_costs_at_most_that_frame(
        junk: bytes, f1: tuple[int, int, bytes], f2: tuple[int, int, bytes]) -> None:
    got = decode_frames(junk + encode(*f1) + encode(*f2))
    assert got[-1] == f2


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(frames, st.data())
def test_truncated_frame_is_one_counted_error(f: tuple[int, int, bytes], data: st.DataObject) -> None:
    wire = encode(*f)
    cut = data.draw(st.integers(1, len(wire) - 2))
    d = FrameDecoder()
    got = decode_frames(wire[:cut] + b"\x00" + encode(1, 2, b"next"), d)
    assert got == [(1, 2, b"next")]
    assert _errors(d) == 1


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(frames, st.integers(1, 0xFFFF))
def test_bad_crc_is_one_counted_error(f: tuple[int, int, bytes], flip: int) -> None:
    t, s, p = f
    body = bytes([t, s]) + p
    crc = crc16(body, len(body)) ^ flip
    d = FrameDecoder()
    assert decode_frames(_cobs(body + bytes([crc & 0xFF, crc >> 8])), d) == []
    assert d.counters()["bad_crc"] == 1 and _errors(d) == 1


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(st.integers(MAX_BODY + 1, 1000), st.data())
def test_oversized_body_is_too_long(n: int, data: st.DataObject) -> None:
    body = data.draw(st.binary(min_size=n, max_size=n))
    d = FrameDecoder()
    assert decode_frames(_cobs(body) + encode(7, 7, b"after"), d) == [(7, 7, b"after")]
    assert d.counters()["too_long"] == 1 and _errors(d) == 1


def test_zero_length_body_and_idle_fill() -> None:
    d = FrameDecoder()
    assert decode_frames(b"\x00\x00\x01\x00\x00", d) == []
    assert d.counters()["too_short"] == 1 and _errors(d) == 1


def _cobs(body: bytes) -> bytes:
    """Reference COBS encoder (+ delimiter), written from the algorithm, not from frame.py."""
    out = bytearray()
    for chunk in body.split(b"\x00"):
        while len(chunk) >= 254:
            out += b"\xff" + chunk[:254]
            chunk = chunk[254:]
        out += bytes([len(chunk) + 1]) + chunk
    return bytes(out) + b"\x00"


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(frames)
def test_wire_format_matches_the_reference(f: tuple[int, int, bytes]) -> None:
    t, s, p = f
    body = bytes([t, s]) + p
    crc = binascii.crc_hqx(body, 0xFFFF)
    assert encode(t, s, p) == _cobs(body + crc.to_bytes(2, "little"))


# ---- payloads ------------------------------------------------------------------------------

@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(u8, u32)
def test_arm_trigger_round_trip(sid: int, v: int) -> None:
    assert P.unpack_arm(P.pack_arm(sid, v)) == (sid, v)
    assert P.unpack_trigger(P.pack_trigger(sid, v)) == (sid, v)


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(u8, u32, u32, u32, st.integers(0, 200_000))
def test_event_round_trip(sid: int, token: int, a: int, b: int, count: int) -> None:
    got = P.unpack_event(P.pack_event(sid, token, a, b, count))
    assert got == (sid, token, a, b, min(count, 0xFFFF))


text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
key = st.from_regex(r"[a-z][a-z0-9_.]{0,15}", fullmatch=True)
safe = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:/ -]{0,20}", fullmatch=True)


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(u8, u8, text)
def test_text_payloads_round_trip(a: int, b: int, s: str) -> None:
    assert P.unpack_arm_r(P.pack_arm_r(a, b, s)) == (a, b, s)
    assert P.unpack_error(P.pack_error(a, b, s)) == (a, b, s)
    assert P.unpack_stats_r(P.pack_stats_r(a, b, s)) == (a, b, s)
    assert P.unpack_hello_r(P.pack_hello_r(70000, "k=" + s.replace(";", "")))[2] == {
        "k": s.replace(";", "")}


values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.lists(st.integers(0, 2**32), max_size=40),
    safe.filter(lambda s: not s.replace(".", "", 1).lstrip("-").isdigit()),
)


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(st.dictionaries(key, values, max_size=60))
def test_stats_pages_round_trip(d: dict[str, object]) -> None:
    pages = P.stats_pages(d)
    assert all(len(p) <= MAX_PAYLOAD for p in pages)
    assert P.stats_join(pages) == d
    assert P.unpack_kv(P.pack_kv(d), True) == d
    # every page's count agrees and pages are numbered 0..n-1
    heads = [P.unpack_stats_r(p)[:2] for p in pages]
    assert heads == [(i, len(pages)) for i in range(len(pages))]


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(key, safe)
def test_config_round_trip(k: str, v: str) -> None:
    assert P.unpack_config(P.pack_config(k, v)) == (k, v)


@settings(deadline=None)  # no timing assertions on a shared, noisy machine
@given(st.binary(max_size=8))
def test_fixed_size_payloads_reject_wrong_lengths(b: bytes) -> None:
    for fn, size in ((P.unpack_arm, 5), (P.unpack_trigger, 5), (P.unpack_event, 15),
                     (P.unpack_stats, 1)):
        if len(b) != size:
            try:
                fn(b)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{fn.__name__} accepted {len(b)} bytes")


# ---- MicroPython 1.9 syntax -------------------------------------------------------------------

def test_firmware_protocol_modules_use_micropython_1_9_syntax() -> None:
    for name in ("frame.py", "proto.py"):
        tree = ast.parse((ROOT / "firmware" / "irqkit" / name).read_text())
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.JoinedStr, ast.NamedExpr, ast.AnnAssign)), name
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.returns is None, (name, node.name)
                args = node.args.args + node.args.kwonlyargs + node.args.posonlyargs
                assert all(a.annotation is None for a in args), (name, node.name)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert "typing" not in mods and "__future__" not in mods, name
