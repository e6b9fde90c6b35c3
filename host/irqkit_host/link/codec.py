"""The host's bulk codec for :mod:`irqkit.frame`'s wire format (COBS + CRC-16 + 0x00).

:mod:`irqkit.frame` is the definition (it runs on the device, one byte per call, without
allocating); this module is the same codec written for CPython's bytes operations: find
the next 0x00, COBS-decode the slice between delimiters block by block, check the
CRC-16/CCITT-FALSE with :func:`binascii.crc_hqx` (init 0xFFFF). It must agree with
:class:`irqkit.frame.FrameDecoder` on every input: the same frames and the same counters
after every chunk, however the stream is split (tests/host/test_codec.py checks the
firmware's test vectors and hypothesis-generated streams); :func:`encode` is byte for
byte :func:`irqkit.frame.encode`.
"""
from __future__ import annotations

from binascii import crc_hqx

from irqkit.frame import MAX_BODY, MAX_PAYLOAD

__all__ = ["BulkDecoder", "encode"]

_MASK = 0x1FFFFFFF  # counters wrap like the firmware's (irqkit.compat.wrap)


def encode(type: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame as bytes, identical to :func:`irqkit.frame.encode`."""
    if not 0 <= type <= 255 or not 0 <= seq <= 255:
        raise ValueError("type and seq must be 0..255")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload longer than %d bytes" % MAX_PAYLOAD)
    body = bytes((type, seq)) + payload
    body += crc_hqx(body, 0xFFFF).to_bytes(2, "little")
    # A body is at most MAX_BODY (244) bytes, so no run of non-zero bytes reaches the
    # 254 that would need a 0xFF block: each run is one block, its code byte len + 1.
    return b"".join([bytes((len(run) + 1,)) + run for run in body.split(b"\x00")]) + b"\x00"


class BulkDecoder:
    """Decodes what a read returned, all frames at once; keeps a partial frame for the next.

    :meth:`feed` returns the CRC-valid frames as ``(type, seq, payload)`` tuples. The
    counters mean what :class:`irqkit.frame.FrameDecoder`'s mean (frames_ok, bad_crc,
    too_long, too_short, cobs_err, bytes_in), and they are counted at the same byte: a
    body growing past ``max_body`` is too_long as soon as the byte that overflows arrives,
    and the rest of that frame is dropped up to its delimiter."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        if max_body < 4:
            raise ValueError("max_body < 4")
        self.max_body = max_body
        self._partial = b""      # bytes since the last delimiter (a frame not finished yet)
        self._discard = False    # the current frame was too long: drop up to the delimiter
        self.reset_counters()

    def reset(self) -> None:
        """Forget any partial frame (counters are kept)."""
        self._partial = b""
        self._discard = False

    def take_partial(self) -> bytes:
        """The bytes since the last delimiter (not a frame, yet); forgets them."""
        data = self._partial
        self.reset()
        return data

    def reset_counters(self) -> None:
        self.frames_ok = 0
        self.bad_crc = 0
        self.too_long = 0
        self.too_short = 0
        self.cobs_err = 0
        self.bytes_in = 0

    def counters(self) -> dict[str, int]:
        return {"frames_ok": self.frames_ok, "bad_crc": self.bad_crc, "too_long": self.too_long,
                "too_short": self.too_short, "cobs_err": self.cobs_err, "bytes_in": self.bytes_in}

    def errors(self) -> int:
        return (self.bad_crc + self.too_long + self.too_short + self.cobs_err) & _MASK

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Take the bytes of one read; return the frames they complete, oldest first."""
        self.bytes_in = (self.bytes_in + len(data)) & _MASK
        if self._partial:
            data = self._partial + data
        frames: list[tuple[int, int, bytes]] = []
        start = 0
        find = data.find
        while True:
            end = find(b"\x00", start)
            if end < 0:
                break
            if self._discard:
                self._discard = False
            elif end > start:       # consecutive delimiters are idle fill
                frame = self._frame(data[start:end])
                if frame is not None:
                    frames.append(frame)
            start = end + 1
        tail = data[start:] if start else data
        if self._discard:
            tail = b""
        elif len(tail) > self.max_body + 1 and self._overflows(tail):
            # FrameDecoder counts too_long at the overflowing byte, not at the delimiter
            self.too_long = (self.too_long + 1) & _MASK
            self._discard = True
            tail = b""
        self._partial = tail
        return frames

    def _overflows(self, s: bytes) -> bool:
        """True when the COBS bytes ``s`` (no delimiter yet) already hold more than
        max_body body bytes: data bytes plus the zeros implied before each later code byte."""
        n = len(s)
        i = 0
        total = 0
        while True:
            c = s[i]
            j = i + c
            if j >= n:
                return total + (n - i - 1) > self.max_body
            total += c - 1 + (c != 0xFF)   # the zero is implied when the next code byte comes
            if total > self.max_body:
                return True
            i = j

    def _frame(self, s: bytes) -> tuple[int, int, bytes] | None:
        """One frame's COBS bytes (non-empty, no 0x00) -> the frame, or None (counted)."""
        n = len(s)
        c = s[0]
        if c == n and c != 0xFF:
            body = s[1:]                  # one block: no zero in the body
            if n - 1 > self.max_body:
                self.too_long = (self.too_long + 1) & _MASK
                return None
        else:
            limit = self.max_body
            parts = []
            total = 0
            i = 0
            while True:
                j = i + c
                if j > n:                 # the code byte points past the delimiter
                    if total + (n - i - 1) > limit:
                        self.too_long = (self.too_long + 1) & _MASK
                        return None
                    self.cobs_err = (self.cobs_err + 1) & _MASK
                    return None
                parts.append(s[i + 1:j])
                total += c - 1
                if j == n:
                    break
                if c != 0xFF:
                    parts.append(b"\x00")
                    total += 1
                if total > limit:
                    self.too_long = (self.too_long + 1) & _MASK
                    return None
                i = j
                c = s[i]
            if total > limit:
                self.too_long = (self.too_long + 1) & _MASK
                return None
            body = b"".join(parts)
        m = len(body)
        if m < 4:
            self.too_short = (self.too_short + 1) & _MASK
            return None
        if crc_hqx(body[:-2], 0xFFFF) != body[-2] | (body[-1] << 8):
            self.bad_crc = (self.bad_crc + 1) & _MASK
            return None
        self.frames_ok = (self.frames_ok + 1) & _MASK
        return body[0], body[1], body[2:-2]
