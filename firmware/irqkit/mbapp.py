# A minimal latency responder for boards whose heap holds the core but not irqkit.app
# with its frame/proto modules: the BBC micro:bit (MicroPython 1.9.2, ~9.8 KB heap, every
# module compiled on the device). Same wire protocol (COBS + CRC-16 frames), a subset of
# the messages: HELLO, PING, ARM and TRIGGER for the soft source, STATS (one page),
# RESET_STATS, CONFIG run=0; anything else gets an ERROR frame and is counted.
# The soft interrupt goes through a core Source: trigger() is the ISR side (timestamp,
# ring slot), take() the deferred side; the scheduler itself is not loaded (no room).
# Replies are small (< 64 bytes): the COBS encoder needs no 254-byte block handling.
# Import order on the micro:bit (biggest first, each at top level): irqkit.source,
# irqkit.mblink, irqkit.mbapp.
import ustruct
import micropython
from microbit import uart
from irqkit.clock import ticks_us, array
from irqkit.source import Source, Event
from irqkit.mblink import send, decode


def main(board="microbit-v1"):
    micropython.kbd_intr(-1)
    src = Source("soft", None, capacity=4)
    src.seq = array("i", [0])
    src.wake = int           # nothing to wake: the loop polls
    ev = Event()
    f = bytearray()
    bad = [0, 0]             # bad frames, unknown types
    while True:
        d = uart.read(32)
        if not d:
            continue
        for x in d:
            if x:
                if len(f) < 64:
                    f.append(x)
                continue
            n = len(f)
            b = decode(f)
            f = bytearray()
            if b is None:
                bad[0] += n > 0
                continue
            t, q, p = b[0], b[1], b[2:-2]
            if t == 2:
                send(0x82, q, p)
            elif t == 4 and len(p) == 5 and p[0] == 3:
                src.trigger(ustruct.unpack("<I", p[1:])[0] & 0x1FFFFFFF, q)
                src.take(ev)
                t = ticks_us()
                send(0x84, ev.b, ustruct.pack("<BIIIH", 3, ev.a, ev.t_isr, t, ev.count))
            elif t == 1:
                send(0x81, q, ustruct.pack("<BI", 1, 1000000) + bytes(
                    "fw=mbapp;board=%s;runtime=micropython;port=microbit;irq=none;sources=soft,"
                    % board, "ascii"))
            elif t == 3:
                send(0x83, q, bytearray([p[0], 0 if p[0] == 3 else 3]) + b"soft")
            elif t == 5:
                st = src.st
                send(0x85, q, bytearray([0, 1]) + bytes(
                    "soft.triggers=%d;soft.delivered=%d;soft.overflow=%d;link.bad_frames=%d;"
                    "link.unknown_type=%d" % (st[0], st[0] - src.ctl[3], src.ctl[3], bad[0], bad[1]),
                    "ascii"))
            elif t == 7:
                for a in (src.st, src.ctl):
                    for i in range(len(a)):
                        a[i] = 0
                bad[0] = bad[1] = 0
                send(0x87, q, b"")
            elif t == 6 and p == b"run=0":
                send(0x86, q, b"\x00")
                micropython.kbd_intr(3)
                return
            else:
                bad[1] += 1
                send(0xEE, q, bytearray([1, t]))
