# Framing for irqkit.mbapp: irqkit.frame's wire format (see frame.py) in its allocating
# one-shot form, main-loop code only. The CRC is frame.py's own: the micro:bit cannot hold
# frame.py as a whole, so its build (host/irqkit_host/smallbuild.py) copies crc16 in.
# frame.FrameEncoder itself cannot come along: 1.9.2 on the micro:bit has no memoryview.
# The responder's replies are small (< 64 bytes): one COBS block, no 254-byte split.
from microbit import uart
from irqkit.frame import crc16


def send(t, q, p):
    """Write one frame: type t, seq q, payload p (COBS, then the 0x00 delimiter)."""
    b = bytearray([t, q]) + p
    c = crc16(b, len(b))
    b.append(c & 255)
    b.append(c >> 8)
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
    uart.write(o)


def decode(f):
    """COBS-decode one frame (without its 0x00) and check its CRC: bytearray or None."""
    b = bytearray()
    i = 0
    n = len(f)
    while i < n:
        c = f[i]
        if c == 0 or i + c > n:
            return None
        b += f[i + 1:i + c]
        i += c
        if c < 255 and i < n:
            b.append(0)
    n = len(b) - 2
    if n < 2 or crc16(b, n) != b[n] | b[n + 1] << 8:
        return None
    return b
