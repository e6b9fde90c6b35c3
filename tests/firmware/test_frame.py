# Framing codec (irqkit.frame) and payload helpers (irqkit.proto), run on CPython by pytest
# and on the MicroPython VM by tools/mptest.py. The heap-locked tests are the proof that
# the device's per-byte decode and the encoder allocate nothing; they skip on CPython,
# which has no heap lock. Property tests with hypothesis live in tests/host/test_protocol.py.
from irqkit.compat import heap_lock, heap_unlock, HEAP_LOCK_REAL, ticks_us, ticks_diff
from irqkit.frame import (
    crc16, encode, decode_frames, FrameDecoder, FrameEncoder, MAX_PAYLOAD, MAX_BODY, MAX_FRAME,
)
from irqkit import proto as P
from fwtest import skip, raises


class _Rand:
    """Tiny LCG so the same pseudo-random streams run on both runtimes."""

    def __init__(self, seed):
        self.x = seed

    def next(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n

    def bytes(self, n, zero_every=0):
        b = bytearray(n)
        for i in range(n):
            v = self.next(256)
            if zero_every and self.next(zero_every) == 0:
                v = 0
            b[i] = v
        return b


def _cobs(body):
    """Straightforward (allocating) COBS encoder, independent of FrameEncoder, + delimiter."""
    out = bytearray()
    block = bytearray()
    for b in body:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block = bytearray()
    out.append(len(block) + 1)
    out += block
    out.append(0)
    return bytes(out)


def _raw_frame(body_without_crc, crc=None):
    """A frame built by hand: body + crc (given or correct), COBS-encoded."""
    if crc is None:
        crc = crc16(body_without_crc, len(body_without_crc))
    return _cobs(bytes(body_without_crc) + bytes([crc & 0xFF, crc >> 8]))


def _feed_all(dec, data):
    got = []
    for i in range(len(data)):
        if dec.feed(data[i]):
            got.append((dec.type, dec.seq, dec.payload_bytes()))
    return got


# ---- CRC and the wire format ---------------------------------------------------------

def test_crc16_ccitt_false_check_value():
    assert crc16(b"123456789", 9) == 0x29B1
    assert crc16(b"", 0) == 0xFFFF
    # n limits the range, and the init argument chains partial CRCs
    assert crc16(b"123456789xyz", 9) == 0x29B1
    assert crc16(b"6789", 4, crc16(b"12345", 5)) == 0x29B1


def test_known_wire_bytes():
    # body 02 07 'hello' 00 'world' + crc 0xA46D little-endian; COBS: two 7-byte blocks
    f = encode(0x02, 7, b"hello\x00world")
    assert f == b"\x08\x02\x07hello\x08world\x6d\xa4\x00"
    assert crc16(b"\x02\x07hello\x00world", 13) == 0xA46D


def test_limits():
    assert MAX_PAYLOAD == 240 and MAX_BODY == 244
    f = encode(0xFF, 0xFF, b"\x01" * MAX_PAYLOAD)
    assert len(f) <= MAX_FRAME <= 248
    raises(ValueError, encode, 1, 0, b"x" * (MAX_PAYLOAD + 1))
    raises(ValueError, encode, 256, 0, b"")
    raises(ValueError, encode, 1, -1, b"")


# ---- round trips ---------------------------------------------------------------------

def test_round_trip_all_lengths_and_byte_patterns():
    r = _Rand(1)
    dec = FrameDecoder()
    for n in range(MAX_PAYLOAD + 1):
        for kind in range(3):
            if kind == 0:
                payload = bytes(n)  # all zeros: one COBS block per byte
            elif kind == 1:
                payload = b"\xff" * n
            else:
                payload = bytes(r.bytes(n, 8))
            t = r.next(256)
            s = r.next(256)
            f = encode(t, s, payload)
            assert len(f) <= MAX_FRAME
            assert f.find(b"\x00") == len(f) - 1
            assert f == _raw_frame(bytes([t, s]) + payload)  # matches the reference COBS
            got = _feed_all(dec, f)
            assert got == [(t, s, payload)], (n, kind)
            assert dec.payload_len == n
            assert bytes(dec.payload[0:n]) == payload
    assert dec.frames_ok == 3 * (MAX_PAYLOAD + 1)
    assert dec.errors() == 0


def test_encoder_object_matches_encode_and_reuses_its_buffer():
    enc = FrameEncoder()
    p = bytearray(b"\x00abc\x00" * 10)
    mv = enc.encode(0x84, 3, p, 7)  # only the first 7 payload bytes
    assert bytes(mv) == encode(0x84, 3, bytes(p[:7]))
    n = enc.encode_into(0x01, 0, b"", 0)
    assert bytes(enc.buf[:n]) == encode(0x01, 0)
    raises(ValueError, enc.encode_into, 1, 0, bytes(MAX_PAYLOAD + 1), MAX_PAYLOAD + 1)


def test_decoder_with_large_max_body_handles_full_cobs_blocks():
    # 254-byte runs without zeros produce 0xFF code bytes (no implied zero after them)
    body = bytes([9, 1]) + b"\x11" * 254 + b"\x00" + b"\x22" * 300
    f = _raw_frame(body)
    dec = FrameDecoder(max_body=len(body) + 2)
    got = _feed_all(dec, f)
    assert got == [(9, 1, body[2:])]


# ---- errors and resynchronisation -------------------------------------------------------

def test_empty_frames_are_idle_fill_and_a_zero_length_body_is_too_short():
    dec = FrameDecoder()
    assert _feed_all(dec, b"\x00\x00\x00") == []
    assert dec.errors() == 0 and dec.frames_ok == 0
    assert _feed_all(dec, b"\x01\x00") == []  # COBS of an empty body
    assert dec.too_short == 1
    assert _feed_all(dec, encode(2, 1, b"ok")) == [(2, 1, b"ok")]


def test_truncated_frames_each_count_one_error_and_the_next_frame_decodes():
    good = encode(P.PING, 5, b"\x00ping\x00payload")
    nxt = encode(P.PING, 6, b"next")
    dec = FrameDecoder()
    for cut in range(1, len(good) - 1):
        before = dec.errors()
        got = _feed_all(dec, good[:cut] + b"\x00" + nxt)
        assert got == [(P.PING, 6, b"next")], cut
        assert dec.errors() == before + 1, cut
    assert dec.too_short > 0 and dec.cobs_err > 0 and dec.bad_crc > 0


def test_bad_crc_is_counted():
    dec = FrameDecoder()
    body = b"\x02\x09abc"
    crc = crc16(body, len(body))
    assert _feed_all(dec, _raw_frame(body, crc ^ 0x0100)) == []
    assert dec.bad_crc == 1 and dec.errors() == 1
    # a flipped payload bit is caught too
    f = bytearray(encode(2, 9, b"abc"))
    f[4] ^= 0x01
    assert _feed_all(dec, bytes(f)) == []
    assert dec.bad_crc == 2
    assert _feed_all(dec, _raw_frame(body, crc)) == [(2, 9, b"abc")]


def test_oversized_frame_is_dropped_until_the_delimiter():
    dec = FrameDecoder()
    big = _raw_frame(bytes([2, 1]) + b"\x05" * (MAX_PAYLOAD + 1))  # body 245 > 244
    assert _feed_all(dec, big) == []
    assert dec.too_long == 1 and dec.errors() == 1
    # oversized through implied zeros as well
    big0 = _raw_frame(bytes(MAX_BODY + 10))
    assert _feed_all(dec, big0 + encode(3, 3, b"x")) == [(3, 3, b"x")]
    assert dec.too_long == 2
    # exactly the limit is fine
    assert _feed_all(dec, encode(3, 4, bytes(MAX_PAYLOAD))) == [(3, 4, bytes(MAX_PAYLOAD))]


def test_code_byte_past_the_delimiter_is_a_cobs_error():
    dec = FrameDecoder()
    assert _feed_all(dec, b"\x05\x01\x02\x00") == []
    assert dec.cobs_err == 1
    assert _feed_all(dec, encode(1, 1)) == [(1, 1, b"")]


def test_random_garbage_never_breaks_the_decoder():
    r = _Rand(7)
    dec = FrameDecoder()
    sent = 0
    for i in range(300):
        junk = r.bytes(r.next(400), 1 + r.next(40))
        payload = bytes(r.bytes(r.next(20)))
        f = encode(P.PING, i & 0xFF, payload)
        # garbage, then a delimiter (what irqkit_host.link sends before each frame), then a frame
        got = _feed_all(dec, junk + b"\x00" + f)
        assert got and got[-1] == (P.PING, i & 0xFF, payload)
        sent += 1
    c = dec.counters()
    assert c["frames_ok"] >= sent
    assert dec.errors() > 0
    assert c["bytes_in"] > 0


def test_a_frame_glued_to_garbage_costs_only_that_frame():
    dec = FrameDecoder()
    f1 = encode(2, 1, b"one")
    f2 = encode(2, 2, b"two")
    got = _feed_all(dec, b"\x07\x07\x07" + f1 + f2)
    assert got == [(2, 2, b"two")]
    assert dec.errors() == 1


def test_feed_buf_matches_feed_and_reports_consumed_bytes():
    r = _Rand(3)
    stream = bytearray()
    for i in range(50):
        stream += r.bytes(r.next(30), 5)
        stream += b"\x00"
        stream += encode(P.EVENT, i, bytes(r.bytes(r.next(60))))
    a = FrameDecoder()
    want = _feed_all(a, stream)
    b = FrameDecoder()
    got = []
    n = len(stream)
    i = 0
    while i < n:
        used = b.feed_buf(stream, n, i)
        assert used >= 1
        i += used
        if b.ready:
            assert stream[i - 1] == 0
            got.append((b.type, b.seq, b.payload_bytes()))
    assert got == want and len(got) == 50
    assert b.counters() == a.counters()
    assert b.feed_buf(stream, n, n) == 0 and not b.ready
    # decode_frames is the same loop, with counters through a decoder of our own
    d = FrameDecoder()
    assert decode_frames(stream, d) == want
    assert d.counters() == a.counters()


def test_partial_frame_survives_across_feed_buf_calls_and_reset_drops_it():
    f = encode(4, 4, b"split")
    d = FrameDecoder()
    assert decode_frames(f[:5], d) == []
    assert decode_frames(f[5:], d) == [(4, 4, b"split")]
    decode_frames(f[:5], d)
    d.reset()
    assert decode_frames(f[5:], d) == []  # the tail alone is not a frame
    assert d.errors() == 1


def test_counters_wrap_at_30_bits():
    d = FrameDecoder()
    d.bytes_in = 0x3FFFFFFF
    d.bad_crc = 0x3FFFFFFF
    d.feed(1)
    d.feed(0)  # 1-byte body: too short, not bad crc
    assert d.bytes_in == 1
    bad = _raw_frame(b"\x01\x02", 0)
    d.feed_buf(bad, len(bad))
    assert d.bad_crc == 0
    d.reset_counters()
    assert d.counters() == {"frames_ok": 0, "bad_crc": 0, "too_long": 0, "too_short": 0,
                            "cobs_err": 0, "bytes_in": 0}


# ---- allocation-free device paths -----------------------------------------------------

def _lock_is_real():
    if not HEAP_LOCK_REAL:
        return False
    heap_lock()
    try:
        bytearray(16)
        ok = False
    except MemoryError:
        ok = True
    finally:
        heap_unlock()
    assert ok, "heap_lock() did not stop an allocation"
    return True


def _alloc_free_work(stream, n, dec, dec2, enc, payload, evbuf, res):
    # A plain function: a closure over this many variables would itself allocate when
    # called (MicroPython copies >5 closed-over values + args into a heap array).
    k = 0
    for i in range(n):
        if dec.feed(stream[i]):
            k += dec.payload_len + dec.payload[0] * 0 + dec.type * 0 + dec.seq * 0
    res[0] = k
    j = 0
    m = 0
    while j < n:
        j += dec2.feed_buf(stream, n, j)
        if dec2.ready:
            m += 1
    res[1] = m
    res[2] = enc.encode_into(P.EVENT, 200, payload, MAX_PAYLOAD)
    res[3] = P.pack_event_into(evbuf, P.SRC_TIMER, 0x3FFFFFFF, 123456, 123999, 70000)
    enc.encode_into(P.EVENT, 201, evbuf, res[3])


def test_decoder_and_encoder_allocate_nothing_with_the_heap_locked():
    r = _Rand(11)
    stream = bytearray()
    want = 0
    for i in range(20):
        stream += r.bytes(r.next(40), 4)  # garbage: exercises every error path
        stream += b"\x00"
        p = bytes(r.bytes(r.next(MAX_PAYLOAD + 1), 6))
        want += len(p)
        stream += encode(P.TRIGGER, i, p)
    stream += _raw_frame(bytes(MAX_BODY + 5)) + _raw_frame(b"\x01\x02abc", 1)
    dec = FrameDecoder()
    dec2 = FrameDecoder()
    enc = FrameEncoder()
    payload = bytearray(MAX_PAYLOAD)
    evbuf = bytearray(P.EVENT_SIZE)
    res = [0, 0, 0, 0]  # preallocated: recording results allocates nothing

    locked = _lock_is_real()
    heap_lock()
    try:
        _alloc_free_work(stream, len(stream), dec, dec2, enc, payload, evbuf, res)
    finally:
        heap_unlock()
    # behaviour checks (both runtimes)
    assert dec.frames_ok == 20 and res[1] == 20 and res[0] == want
    assert dec.too_long == 1 and dec.bad_crc == 1 and dec.cobs_err > 0
    assert dec2.counters() == dec.counters()
    assert res[2] <= MAX_FRAME
    assert P.unpack_event(evbuf) == (P.SRC_TIMER, 0x3FFFFFFF, 123456, 123999, 0xFFFF)
    assert decode_frames(bytes(enc.buf)) == [(P.EVENT, 201, bytes(evbuf))]
    if not locked:
        skip("micropython.heap_lock() exists only on MicroPython; the VM run proves no allocation")


# ---- proto payloads (also on the VM: the device uses these) ------------------------------

def test_proto_constants_match_the_spec():
    assert (P.HELLO, P.PING, P.ARM, P.TRIGGER, P.STATS, P.CONFIG, P.RESET_STATS) == (1, 2, 3, 4, 5, 6, 7)
    for req in (P.HELLO, P.PING, P.ARM, P.TRIGGER, P.STATS, P.CONFIG, P.RESET_STATS):
        assert P.TYPE_NAMES[req | P.REPLY]
    assert (P.HELLO_R, P.PONG, P.ARM_R, P.EVENT, P.STATS_R, P.CONFIG_R, P.RESET_R, P.ERROR) == (
        0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0xEE)
    assert (P.ERR_UNKNOWN_TYPE, P.ERR_BAD_PAYLOAD, P.ERR_UNKNOWN_SOURCE, P.ERR_BUSY) == (1, 2, 3, 4)
    assert P.MAX_PAYLOAD == MAX_PAYLOAD
    for sid in (P.SRC_UART, P.SRC_GPIO, P.SRC_TIMER, P.SRC_SOFT):
        assert P.SOURCE_IDS[P.SOURCE_NAMES[sid]] == sid
    assert sorted(P.SOURCE_IDS) == ["gpio", "soft", "timer", "uart"]
    assert P.type_name(P.EVENT) == "EVENT" and P.type_name(0x55) == "0x55"


def test_proto_round_trips():
    info = {"fw": "0.1.0", "board": "sim", "runtime": "micropython 1.29", "port": "sim",
            "irq": "hard", "sources": "uart,gpio,timer,soft"}
    v, hz, got = P.unpack_hello_r(P.pack_hello_r(1000000, info))
    assert (v, hz, got) == (1, 1000000, info)
    assert P.unpack_arm(P.pack_arm(P.SRC_TIMER, 1000)) == (P.SRC_TIMER, 1000)
    assert P.unpack_arm_r(P.pack_arm_r(P.SRC_GPIO, 0, "soft")) == (P.SRC_GPIO, 0, "soft")
    assert P.unpack_trigger(P.pack_trigger(P.SRC_SOFT, 0xFFFFFFFF)) == (P.SRC_SOFT, 0xFFFFFFFF)
    ev = P.pack_event(P.SRC_UART, 7, 100, 250, 1)
    assert len(ev) == P.EVENT_SIZE and P.unpack_event(ev) == (0, 7, 100, 250, 1)
    assert P.unpack_stats(P.pack_stats(3)) == 3
    assert P.unpack_config(P.pack_config("debounce_us", 500)) == ("debounce_us", "500")
    assert P.unpack_status(P.pack_status(P.STATUS_OK)) == 0
    assert P.unpack_error(P.pack_error(P.ERR_UNKNOWN_TYPE, 0x55, "type 0x55")) == (1, 0x55, "type 0x55")
    assert len(P.pack_error(2, 3, "x" * 500)) == MAX_PAYLOAD


def test_proto_unpack_reads_a_decoder_payload_view_with_its_length():
    dec = FrameDecoder()
    f = encode(P.ARM_R, 1, P.pack_arm_r(P.SRC_UART, 0, "hard"))
    assert _feed_all(dec, f)
    assert P.unpack_arm_r(dec.payload, dec.payload_len) == (P.SRC_UART, 0, "hard")
    assert _feed_all(dec, encode(P.TRIGGER, 2, P.pack_trigger(1, 99)))
    assert P.unpack_trigger(dec.payload, dec.payload_len) == (1, 99)


def test_proto_rejects_wrong_sizes_with_value_error():
    raises(ValueError, P.unpack_arm, b"\x01\x02")
    raises(ValueError, P.unpack_arm, b"\x01\x02\x03\x04\x05\x06")
    raises(ValueError, P.unpack_trigger, b"")
    raises(ValueError, P.unpack_event, bytes(14))
    raises(ValueError, P.unpack_hello_r, b"\x01")
    raises(ValueError, P.unpack_stats, b"")
    raises(ValueError, P.unpack_arm_r, b"\x00")
    raises(ValueError, P.unpack_error, b"")
    raises(ValueError, P.unpack_config, b"novalue")
    raises(ValueError, P.pack_config, "a;b", 1)
    raises(ValueError, P.pack_kv, {"k": "a;b"})
    raises(ValueError, P.unpack_kv, "k=1;junk")


def test_proto_kv_and_stats_pages():
    d = {"uart.hist": [0, 0, 3, 1], "one": [7], "none": [], "n": -3, "f": 2.5,
         "name": "sim", "crit.max_us": 41}
    assert P.unpack_kv(P.pack_kv(d), True) == d
    assert P.pack_kv({"b": 1, "a": [1, 2]}) == "a=1,2;b=1"
    assert P.unpack_kv("a=1,2;b=x") == {"a": "1,2", "b": "x"}
    # many items and one item longer than a page
    big = {"long.hist": list(range(100000, 100100))}
    for i in range(60):
        big["src%02d.count" % i] = i * 1000003
    pages = P.stats_pages(big)
    assert len(pages) > 3
    for i in range(len(pages)):
        assert len(pages[i]) <= MAX_PAYLOAD
        page, count, text = P.unpack_stats_r(pages[i])
        assert page == i and count == len(pages)
    assert P.stats_join(pages) == big
    assert P.stats_join(list(reversed(pages))) == big
    raises(ValueError, P.stats_join, pages[1:])
    one = P.stats_pages({})
    assert len(one) == 1 and P.stats_join(one) == {}


# ---- benchmark (not a test): micropython -c "...; import test_frame; test_frame.bench()" --

def bench(reps=20):
    data = bytearray()
    for i in range(40):
        data += encode(P.EVENT, i, bytes(range(1, 16)) * (1 + i % 16))
    n = len(data)
    dec = FrameDecoder()
    t0 = ticks_us()
    for _ in range(reps):
        for i in range(n):
            dec.feed(data[i])
    dt = ticks_diff(ticks_us(), t0)
    print("FrameDecoder.feed: %d bytes/s" % (reps * n * 1000000 // dt))
    t0 = ticks_us()
    for _ in range(reps):
        i = 0
        while i < n:
            i += dec.feed_buf(data, n, i)
    dt = ticks_diff(ticks_us(), t0)
    print("FrameDecoder.feed_buf: %d bytes/s" % (reps * n * 1000000 // dt))
    enc = FrameEncoder()
    p = bytes(range(1, 241))
    t0 = ticks_us()
    for _ in range(reps * 40):
        enc.encode_into(P.EVENT, 1, p, 240)
    dt = ticks_diff(ticks_us(), t0)
    print("FrameEncoder.encode_into: %d payload bytes/s" % (reps * 40 * 240 * 1000000 // dt))
