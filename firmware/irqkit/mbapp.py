# A minimal latency responder for boards whose heap holds the core but not irqkit.app
# with its frame/proto modules: the BBC micro:bit (MicroPython 1.9.2, ~9.8 KB heap, every
# module compiled on the device). Same wire protocol (irqkit.frame's codec, irqkit.proto's
# message numbers -- inlined by the micro:bit build), a subset of the messages: HELLO,
# PING, ARM and TRIGGER for the soft source, STATS (one page), RESET_STATS, CONFIG run=0;
# anything else gets an ERROR frame and is counted.
#
# The soft interrupt goes through a core Source, deferred as everywhere else: a TRIGGER
# pends an event (the ISR side: timestamp, ring slot, overflow counted when the ring is
# full), and the main loop delivers what is pending before it reads the link again,
# counting each delivery in ST_DELIVERED where it happens. So a burst of TRIGGERs that
# outruns the ring shows up in STATS as overflow, and triggers == delivered + overflow.
# The scheduler itself is not loaded (no room): the loop's first lines are its step().
# Import order on the micro:bit (biggest first, each at top level): irqkit.clock,
# irqkit.source, irqkit.mblink, irqkit.mbapp.
import ustruct
import machine
import micropython
from microbit import uart
from irqkit.compat import const, COUNTER_MASK
from irqkit.clock import ticks_us, array
from irqkit.source import Source, Event, R_OVERFLOW, ST_TRIGGERS, ST_DELIVERED
from irqkit.mblink import send, decode
from irqkit.proto import (PROTO_VERSION, HELLO, PING, ARM, TRIGGER, STATS, CONFIG, RESET_STATS, HELLO_R,
                          PONG, ARM_R, EVENT, STATS_R, CONFIG_R, RESET_R, ERROR, SRC_SOFT,
                          STATUS_OK, ERR_UNKNOWN_TYPE, ERR_UNKNOWN_SOURCE)

RING = const(4)       # soft source capacity: a burst of more TRIGGERs per read overflows
RX_CHUNK = const(64)  # bytes read per pass (the nRF51 UART's RX ring is 64 bytes)
MAX_FRAME = const(64) # longest frame kept; longer ones are bad frames


class _Masked:
    """What Source.capture needs of a scheduler's Critical (irqkit.critical): the port whose
    disable_irq masks the producer section, the section depth, and no parked soft-mode
    events (this board has no soft-mode ISRs). Critical itself does not fit beside the app."""
    port = machine
    depth = 0
    pending = None


def main(board="microbit-v1"):
    micropython.kbd_intr(-1)
    src = Source("soft", None, capacity=RING)
    src.seq = array("i", [0])
    src.wake = int               # nothing to wake: the loop polls
    src.crit = _Masked()         # capture() masks with the real machine.disable_irq
    ev = Event()
    f = bytearray()
    bad = [0, 0]                 # bad frames, unknown types
    st = src.st
    hold = False                 # CONFIG hold=1: the main loop does not deliver (as masked)
    while True:
        # the deferred side: deliver every pending event, reply with its EVENT, count it
        while not hold and src.take(ev):
            t = ticks_us()
            st[ST_DELIVERED] = (st[ST_DELIVERED] + ev.count) & COUNTER_MASK
            send(EVENT, ev.b, ustruct.pack("<BIIIH", SRC_SOFT, ev.a, ev.t_isr, t, ev.count))
        d = uart.read(RX_CHUNK)
        if not d:
            continue
        for x in d:
            if x:
                if len(f) < MAX_FRAME:
                    f.append(x)
                continue
            n = len(f)
            b = decode(f)
            f = bytearray()
            if b is None:
                bad[0] += n > 0
                continue
            t, q, p = b[0], b[1], b[2:-2]
            if t == PING:
                send(PONG, q, p)
            elif t == TRIGGER and len(p) == 5 and p[0] == SRC_SOFT:
                # the token rides in data word a, the request's seq in b (the EVENT's seq)
                src.trigger(ustruct.unpack("<I", p[1:])[0] & COUNTER_MASK, q)
            elif t == HELLO:
                send(HELLO_R, q, ustruct.pack("<BI", PROTO_VERSION, 1000000) + bytes(
                    "fw=mbapp;board=%s;runtime=micropython;port=microbit;irq=none;sources=soft,"
                    % board, "ascii"))
            elif t == ARM:
                send(ARM_R, q, bytearray([p[0], STATUS_OK if p[0] == SRC_SOFT else ERR_UNKNOWN_SOURCE])
                     + b"soft")
            elif t == STATS:
                send(STATS_R, q, bytearray([0, 1]) + bytes(
                    "soft.triggers=%d;soft.delivered=%d;soft.overflow=%d;link.bad_frames=%d;"
                    "link.unknown_type=%d" % (st[ST_TRIGGERS], st[ST_DELIVERED], src.ctl[R_OVERFLOW],
                                              bad[0], bad[1]), "ascii"))
            elif t == RESET_STATS:
                for a in (src.st, src.ctl):
                    for i in range(len(a)):
                        a[i] = 0
                bad[0] = bad[1] = 0
                send(RESET_R, q, b"")
            elif t == CONFIG and p == b"run=0":
                send(CONFIG_R, q, b"\x00")
                micropython.kbd_intr(3)
                return
            elif t == CONFIG and p[:5] == b"hold=":
                # events pend in the 4-slot ring meanwhile: what does not fit is overflow
                hold = p[5:] == b"1"
                send(CONFIG_R, q, b"\x00")
            else:
                bad[1] += 1
                send(ERROR, q, bytearray([ERR_UNKNOWN_TYPE, t]))
