# Framing for irqkit.mbapp: CRC-16/CCITT-FALSE and COBS, the same wire format as
# irqkit.frame in a few lines (allocating; main-loop code only). A module of its own so
# each piece compiles within the micro:bit's fragmented heap.
from microbit import uart


def crc16(b):
    c = 0xFFFF
    for x in b:
        c ^= x << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c


def send(t, q, p):
    b = bytearray([t, q]) + p
    c = crc16(b)
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
    if len(b) < 4 or crc16(b[:-2]) != b[-2] | b[-1] << 8:
        return None
    return b
