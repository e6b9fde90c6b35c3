# The one-shot codec (irqkit.frame.pack_frame / unpack_frame, what the micro:bit's responder
# sends and reads with) against the hot-path classes, on CPython and the MicroPython VM:
# one codec, two forms, the same bytes.
from irqkit.frame import (
    pack_frame, unpack_frame, encode, FrameDecoder, MAX_PAYLOAD,
)
from fwtest import Rand


def _payload(r, n, kind):
    if kind == 0:
        return bytes(n)
    if kind == 1:
        return b"\xff" * n
    return bytes([0 if r.next(6) == 0 else r.next(256) for _ in range(n)])


def test_pack_frame_is_byte_identical_to_the_encoder_and_unpacks_back():
    r = Rand(7)
    dec = FrameDecoder()
    for n in range(MAX_PAYLOAD + 1):
        for kind in range(3):
            t, q = r.next(256), r.next(256)
            p = _payload(r, n, kind)
            wire = pack_frame(t, q, p)
            assert bytes(wire) == encode(t, q, p), (n, kind)
            body = unpack_frame(wire[:-1])
            assert body is not None and bytes(body[:-2]) == bytes([t, q]) + p
            dec.reset()
            for x in wire:
                dec.feed(x)
            assert dec.ready and dec.type == t and dec.seq == q and dec.payload_bytes() == p


def test_unpack_frame_refuses_what_the_decoder_refuses():
    good = pack_frame(1, 2, b"abc")[:-1]
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    cases = [bytes(bad_crc),             # CRC
             good[:-1],                  # truncated: code byte points past the end
             b"\x01\x01",                # too short: an empty body
             bytes([len(good) + 5]) + good[1:]]   # code byte past the end
    for f in cases:
        assert unpack_frame(f) is None, f
        dec = FrameDecoder()
        for x in f:
            dec.feed(x)
        dec.feed(0)
        assert dec.frames_ok == 0 and dec.errors() == 1, f
