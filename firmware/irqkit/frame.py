# irqkit serial framing: one codec for the device and the host.
#
# Wire frame:  COBS(body) + b"\x00"
#   body = type(u8) seq(u8) payload(0..MAX_PAYLOAD) crc(u16, little-endian)
#   crc  = CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout)
#          over type + seq + payload.
# A body is at most MAX_BODY = 244 bytes, so one encoded frame is at most
# MAX_FRAME = 246 bytes including the delimiter (COBS adds one code byte per 254).
#
# The decoder resynchronises at every 0x00: whatever garbage came before, the bytes after
# the next delimiter start a fresh frame. Consecutive delimiters are idle fill and are not
# counted as frames, so a sender may put a 0x00 *before* a frame as well to make sure it
# is not glued to line noise (irqkit_host.link does).
#
# Device hot path: FrameDecoder.feed / feed_buf and FrameEncoder.encode_into allocate
# nothing (tests/firmware/test_frame.py proves it under micropython.heap_lock()).
#
# Two paths, one codec: where the port has MicroPython's viper emitter (irqkit/framev.py
# compiles) FrameDecoder, FrameEncoder and crc16 are the viper-backed classes below;
# elsewhere (MicroPython 1.9, CPython: the host) the pure-Python code. CODEC says which
# ("viper" / "python"; the app reports it in HELLO). PyFrameDecoder, PyFrameEncoder and
# py_crc16 are always the pure-Python ones (the tests run the vectors through both).
#
# MicroPython 1.9 syntax only: no f-strings, walrus, annotations or typing.

from irqkit.compat import const

MAX_PAYLOAD = const(240)
MAX_BODY = const(244)  # type + seq + MAX_PAYLOAD + crc
MAX_FRAME = const(246)  # MAX_BODY + 1 COBS code byte + 1 delimiter

_MASK = const(0x1FFFFFFF)  # irqkit.compat.wrap(): counters wrap at 29 bits (small ints)

# Decoder states
_ST_START = const(0)  # nothing since the last delimiter
_ST_CODE = const(1)  # inside a frame, the next byte is a COBS code byte
_ST_DATA = const(2)  # inside a COBS block, _left data bytes to go
_ST_DISCARD = const(3)  # error in this frame: drop bytes until the next delimiter


def crc16(buf, n, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of buf[0:n] (check value: crc16(b"123456789", 9) == 0x29B1).

    Table-free byte-wise form: no RAM for a table, ~5x faster than the bit loop and
    ~1.5x slower than a 256-entry table (512 bytes) on the MicroPython VM."""
    for i in range(n):
        x = ((crc >> 8) ^ buf[i]) & 0xFF
        x ^= x >> 4
        crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xFFFF
    return crc


class FrameDecoder:
    """Incremental COBS + CRC frame decoder with a preallocated buffer.

    feed(byte) returns True when a complete CRC-valid frame is ready; then
    .type, .seq, .payload_len describe it and .payload is a memoryview into the
    decoder's buffer whose first .payload_len bytes are the payload (the view itself
    has a fixed length, so reading it costs no allocation). Both stay valid until the
    next feed. payload_bytes() returns an exact copy (allocates).

    Error counters (30-bit wrapping ints): bad_crc, too_long (body longer than
    max_body: the rest of the frame is dropped), too_short (a body of fewer than 4
    bytes, e.g. a truncated frame), cobs_err (a COBS code byte pointing past the
    delimiter). frames_ok counts good frames, bytes_in every byte fed."""

    def __init__(self, max_body=MAX_BODY):
        if max_body < 4:
            raise ValueError("max_body < 4")
        self.max_body = max_body
        self._buf = bytearray(max_body)
        self.payload = memoryview(self._buf)[2:]
        self.type = 0
        self.seq = 0
        self.payload_len = 0
        self.ready = False
        self._st = _ST_START
        self._n = 0
        self._left = 0
        self._zero = False
        self.reset_counters()

    def reset(self):
        """Forget any partial frame (counters are kept)."""
        self._st = _ST_START
        self._n = 0
        self._left = 0
        self.ready = False

    def reset_counters(self):
        self.frames_ok = 0
        self.bad_crc = 0
        self.too_long = 0
        self.too_short = 0
        self.cobs_err = 0
        self.bytes_in = 0

    def counters(self):
        """The counters as a new dict (allocates: main loop / host only)."""
        return {
            "frames_ok": self.frames_ok,
            "bad_crc": self.bad_crc,
            "too_long": self.too_long,
            "too_short": self.too_short,
            "cobs_err": self.cobs_err,
            "bytes_in": self.bytes_in,
        }

    def errors(self):
        """Total of the error counters (wraps like them)."""
        return (self.bad_crc + self.too_long + self.too_short + self.cobs_err) & _MASK

    def payload_bytes(self):
        """A copy of the current frame's payload as bytes (allocates)."""
        return bytes(self.payload[0:self.payload_len])

    def feed(self, c):
        """Process one byte (an int 0..255). True when a valid frame is complete."""
        self.bytes_in = (self.bytes_in + 1) & _MASK
        self.ready = False
        st = self._st
        if c == 0:
            # Delimiter: end of a frame, or idle fill between frames.
            self._st = _ST_START
            n = self._n
            self._n = 0
            if st == _ST_START or st == _ST_DISCARD:
                return False
            if st == _ST_DATA:
                # The code byte promised more data than arrived before the delimiter.
                self.cobs_err = (self.cobs_err + 1) & _MASK
                return False
            if n < 4:
                self.too_short = (self.too_short + 1) & _MASK
                return False
            buf = self._buf
            if crc16(buf, n - 2) != (buf[n - 2] | (buf[n - 1] << 8)):
                self.bad_crc = (self.bad_crc + 1) & _MASK
                return False
            self.type = buf[0]
            self.seq = buf[1]
            self.payload_len = n - 4
            self.frames_ok = (self.frames_ok + 1) & _MASK
            self.ready = True
            return True
        if st == _ST_DATA:
            n = self._n
            if n >= self.max_body:
                self.too_long = (self.too_long + 1) & _MASK
                self._st = _ST_DISCARD
                return False
            self._buf[n] = c
            self._n = n + 1
            left = self._left - 1
            self._left = left
            if left == 0:
                self._st = _ST_CODE
            return False
        if st == _ST_DISCARD:
            return False
        # A COBS code byte. The block before it (if any) ended in an implied zero
        # unless it was a full 0xFF block.
        if st == _ST_CODE and self._zero:
            n = self._n
            if n >= self.max_body:
                self.too_long = (self.too_long + 1) & _MASK
                self._st = _ST_DISCARD
                return False
            self._buf[n] = 0
            self._n = n + 1
        self._zero = c != 0xFF
        self._left = c - 1
        if c > 1:
            self._st = _ST_DATA
        else:
            self._st = _ST_CODE
        return False

    def feed_buf(self, buf, n, start=0):
        """Feed buf[start:n] until a frame completes; return how many bytes were used.

        After the call .ready tells whether a frame completed (on the last byte used).
        Loop:  i = 0
               while i < n:
                   i += dec.feed_buf(buf, n, i)
                   if dec.ready: handle(dec)
        """
        self.ready = False
        i = start
        while i < n:
            c = buf[i]
            i += 1
            if self.feed(c):  # a method call, not a bound method object: no allocation
                break
        return i - start


class FrameEncoder:
    """Encodes frames into one preallocated output buffer (.buf).

    encode_into(type, seq, payload, n) -> length: allocation-free; the frame (with its
    trailing 0x00) is buf[0:length]. On MicroPython write it without slicing:
    stream.write(enc.buf, length)  (every MicroPython stream takes a length argument).
    encode(...) returns memoryview(buf)[0:length]; creating that view object is one
    small allocation on MicroPython (a memoryview slice always allocates there)."""

    def __init__(self, max_payload=MAX_PAYLOAD):
        self.max_payload = max_payload
        body = max_payload + 4
        self.buf = bytearray(body + body // 254 + 2)
        self._mv = memoryview(self.buf)

    def encode_into(self, type, seq, payload, n):
        if n < 0 or n > self.max_payload:
            raise ValueError("payload too long")
        out = self.buf
        ci = 0  # index of the current block's code byte
        o = 1  # next output index
        code = 1
        crc = 0xFFFF
        end = n + 2  # body index where the crc starts
        b = 0
        for k in range(n + 4):
            if k < end:
                if k >= 2:
                    b = payload[k - 2]
                elif k == 0:
                    b = type & 0xFF
                else:
                    b = seq & 0xFF
                x = ((crc >> 8) ^ b) & 0xFF
                x ^= x >> 4
                crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xFFFF
            elif k == end:
                b = crc & 0xFF
            else:
                b = crc >> 8
            if b == 0:
                out[ci] = code
                ci = o
                o += 1
                code = 1
            else:
                out[o] = b
                o += 1
                code += 1
                if code == 0xFF:
                    out[ci] = code
                    ci = o
                    o += 1
                    code = 1
        out[ci] = code
        out[o] = 0
        return o + 1

    def encode(self, type, seq, payload, n):
        return self._mv[0:self.encode_into(type, seq, payload, n)]


# One-shot forms: they allocate (a new bytearray per frame) and use no memoryview, so they
# run where FrameEncoder/FrameDecoder cannot (MicroPython 1.9.2 on the micro:bit, whose
# small responder irqkit.mbapp sends and reads through irqkit.mblink with these).
# Main-loop code only. tests/firmware/test_frame.py checks they agree with the classes.

def pack_frame(type, seq, payload):
    """The wire bytes of one frame (COBS body + 0x00), as a new bytearray."""
    b = bytearray([type, seq]) + payload
    c = crc16(b, len(b))
    b.append(c & 0xFF)
    b.append(c >> 8)
    # o[k] is the pending COBS code byte. A body is at most MAX_BODY (244) bytes, so no
    # block ever reaches COBS's 254-byte limit: no split needed.
    o = bytearray(1)
    k = 0
    for x in b:
        if x:
            o.append(x)
        else:
            o[k] = len(o) - k
            k = len(o)
            o.append(0)
    o[k] = len(o) - k
    o.append(0)
    return o


def unpack_frame(f):
    """COBS-decode one frame (its bytes without the 0x00) and check its CRC: the body
    (type, seq, payload, crc) as a new bytearray, or None if it is not a valid frame."""
    b = bytearray()
    i = 0
    n = len(f)
    while i < n:
        c = f[i]
        if c == 0 or i + c > n:
            return None
        b += f[i + 1:i + c]
        i += c
        if c < 0xFF and i < n:
            b.append(0)
    n = len(b) - 2
    if n < 2 or n > MAX_BODY - 2 or crc16(b, n) != b[n] | b[n + 1] << 8:
        return None
    return b


def encode(type, seq, payload=b""):
    """Encode one frame as new bytes (host / tests convenience)."""
    if not 0 <= type <= 255 or not 0 <= seq <= 255:
        raise ValueError("type and seq must be 0..255")
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ValueError("payload longer than %d bytes" % MAX_PAYLOAD)
    enc = FrameEncoder(n)
    return bytes(enc.encode(type, seq, payload, n))


def decode_frames(data, decoder=None):
    """Decode every valid frame in data -> list of (type, seq, payload_bytes).

    Pass your own FrameDecoder to read its error counters afterwards (decoder.counters())
    or to keep a partial frame across calls."""
    if decoder is None:
        decoder = FrameDecoder()
    frames = []
    n = len(data)
    i = 0
    while i < n:
        i += decoder.feed_buf(data, n, i)
        if decoder.ready:
            frames.append((decoder.type, decoder.seq, decoder.payload_bytes()))
    return frames


PyFrameDecoder = FrameDecoder
PyFrameEncoder = FrameEncoder
py_crc16 = crc16
CODEC = "python"

try:
    from irqkit import framev as _v
except Exception:   # no viper emitter (SyntaxError), MicroPython 1.9, CPython (ImportError)
    _v = None

if _v is not None:
    _S = _v.S_WORDS

    def _counter(k):
        """A counter attribute stored in the state array word k."""
        def get(self):
            return self._s[k]

        def put(self, v):
            self._s[k] = v
        return property(get, put)

    class FrameDecoder(PyFrameDecoder):
        """PyFrameDecoder's interface and counters, the work done by framev.feed: the
        decoder's state and counters live in one array('i') (._s) the viper code reads
        and writes; the counters are properties over it."""

        def __init__(self, max_body=MAX_BODY):
            from array import array
            self._s = array("i", range(_S))
            self._one = bytearray(1)
            PyFrameDecoder.__init__(self, max_body)
            self._s[_v.S_MAX_BODY] = max_body

        def reset(self):
            s = self._s
            s[_v.S_ST] = s[_v.S_N] = s[_v.S_LEFT] = s[_v.S_ZERO] = s[_v.S_READY] = 0
            self.ready = False

        def reset_counters(self):
            s = self._s
            for k in range(_S):
                if k != _v.S_MAX_BODY:
                    s[k] = 0

        def feed(self, c):
            self._one[0] = c
            self.feed_buf(self._one, 1, 0)
            return self.ready

        def feed_buf(self, buf, n, start=0):
            s = self._s
            i = _v.feed(s, buf, n, start, self._buf)
            if s[10]:   # S_READY
                b = self._buf
                self.type = b[0]
                self.seq = b[1]
                self.payload_len = s[12] - 4   # S_BODY
                self.ready = True
            else:
                self.ready = False
            return i - start

        frames_ok = _counter(_v.S_FRAMES_OK)
        bad_crc = _counter(_v.S_BAD_CRC)
        too_long = _counter(_v.S_TOO_LONG)
        too_short = _counter(_v.S_TOO_SHORT)
        cobs_err = _counter(_v.S_COBS_ERR)
        bytes_in = _counter(_v.S_BYTES_IN)

    class FrameEncoder(PyFrameEncoder):
        """PyFrameEncoder with encode_into done by framev.encode_into."""

        def encode_into(self, type, seq, payload, n):
            if n < 0 or n > self.max_payload:
                raise ValueError("payload too long")
            return _v.encode_into(self.buf, type, seq, payload, n)

    def crc16(buf, n, crc=0xFFFF):
        """CRC-16/CCITT-FALSE of buf[0:n] (viper; py_crc16 is the reference)."""
        return _v.crc16(buf, n, crc)

    CODEC = _v.CODEC
