# The frame codec's fast path: COBS + CRC-16/CCITT-FALSE compiled by MicroPython's viper
# emitter. irqkit.frame imports this where the port has the emitter (the unix VM, most
# ARM/Xtensa builds) and falls back to its own pure-Python code elsewhere (MicroPython
# 1.9, CircuitPython builds without it, CPython): the same wire format, the same counters,
# the same test vectors (tests/firmware/test_frame.py runs on both paths on the VM).
#
# A port without the emitter fails to compile this module (SyntaxError at import); on
# CPython (also with Blinka's no-op `micropython.viper`) the import is refused here.
# Allocation-free: ints stay machine words, buffers are raw pointers, results are small
# ints (tests/firmware/test_frame.py proves it under micropython.heap_lock()).
import sys

if sys.implementation.name != "micropython":
    raise ImportError("the viper codec needs the MicroPython VM")

import micropython

CODEC = "viper"

# decoder state words (an array('i') the FrameDecoder keeps); see frame.py's states
S_ST = 0          # _ST_START / _ST_CODE / _ST_DATA / _ST_DISCARD
S_N = 1           # body bytes so far
S_LEFT = 2        # data bytes left in this COBS block
S_ZERO = 3        # the block ends in an implied zero
S_BYTES_IN = 4
S_FRAMES_OK = 5
S_BAD_CRC = 6
S_TOO_LONG = 7
S_TOO_SHORT = 8
S_COBS_ERR = 9
S_READY = 10      # 1: the last byte fed completed a CRC-valid frame
S_MAX_BODY = 11
S_BODY = 12       # that frame's body length
S_WORDS = 13


@micropython.viper
def crc16(buf, n: int, crc: int) -> int:
    b = ptr8(buf)
    i = 0
    while i < n:
        x = ((crc >> 8) ^ b[i]) & 0xFF
        x ^= x >> 4
        crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xFFFF
        i += 1
    return crc


@micropython.viper
def feed(s, data, n: int, i: int, body) -> int:
    """Feed data[i:n] until a frame completes (s[S_READY] = 1) or the bytes run out;
    return the index after the last byte used. The body goes into `body`."""
    st = ptr32(s)
    d = ptr8(data)
    b = ptr8(body)
    state = st[0]
    bn = st[1]
    left = st[2]
    zero = st[3]
    mx = st[11]
    st[10] = 0
    start = i
    while i < n:
        c = d[i]
        i += 1
        if c == 0:
            prev = state
            k = bn
            state = 0
            bn = 0
            if prev == 0 or prev == 3:
                continue
            if prev == 2:     # the code byte promised more data than arrived
                st[9] = (st[9] + 1) & 0x1FFFFFFF
                continue
            if k < 4:
                st[8] = (st[8] + 1) & 0x1FFFFFFF
                continue
            crc = 0xFFFF
            j = 0
            m = k - 2
            while j < m:
                x = ((crc >> 8) ^ b[j]) & 0xFF
                x ^= x >> 4
                crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xFFFF
                j += 1
            if crc != (b[m] | (b[m + 1] << 8)):
                st[6] = (st[6] + 1) & 0x1FFFFFFF
                continue
            st[5] = (st[5] + 1) & 0x1FFFFFFF
            st[10] = 1
            st[12] = k
            break
        if state == 2:
            if bn >= mx:
                st[7] = (st[7] + 1) & 0x1FFFFFFF
                state = 3
                continue
            b[bn] = c
            bn += 1
            left -= 1
            if left == 0:
                state = 1
            continue
        if state == 3:
            continue
        # a COBS code byte; the block before it ended in an implied zero unless it was full
        if state == 1 and zero:
            if bn >= mx:
                st[7] = (st[7] + 1) & 0x1FFFFFFF
                state = 3
                continue
            b[bn] = 0
            bn += 1
        zero = 1 if c != 0xFF else 0
        left = c - 1
        state = 2 if c > 1 else 1
    st[0] = state
    st[1] = bn
    st[2] = left
    st[3] = zero
    st[4] = (st[4] + (i - start)) & 0x1FFFFFFF
    return i


@micropython.viper
def encode_into(out, typ: int, seq: int, payload, n: int) -> int:
    """COBS(type seq payload[0:n] crc) + 0x00 into out; return the length."""
    o8 = ptr8(out)
    p = ptr8(payload)
    ci = 0
    o = 1
    code = 1
    crc = 0xFFFF
    end = n + 2
    last = n + 4
    bb = 0
    k = 0
    while k < last:
        if k < end:
            if k >= 2:
                bb = p[k - 2]
            elif k == 0:
                bb = typ & 0xFF
            else:
                bb = seq & 0xFF
            x = ((crc >> 8) ^ bb) & 0xFF
            x ^= x >> 4
            crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xFFFF
        elif k == end:
            bb = crc & 0xFF
        else:
            bb = crc >> 8
        if bb == 0:
            o8[ci] = code
            ci = o
            o += 1
            code = 1
        else:
            o8[o] = bb
            o += 1
            code += 1
            if code == 0xFF:
                o8[ci] = code
                ci = o
                o += 1
                code = 1
        k += 1
    o8[ci] = code
    o8[o] = 0
    return o + 1
