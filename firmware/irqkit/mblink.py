# Framing for irqkit.mbapp on the micro:bit: irqkit.frame's one-shot codec (pack_frame,
# unpack_frame: no memoryview, which 1.9.2 there lacks) on the micro:bit's UART. The board
# cannot hold frame.py as a whole, so its build (host/irqkit_host/deploy/smallbuild.py)
# copies the three functions in: one codec, never a second hand-written copy.
from microbit import uart
from irqkit.frame import crc16, pack_frame, unpack_frame


def send(t, q, p):
    """Write one frame: type t, seq q, payload p."""
    uart.write(pack_frame(t, q, p))


def decode(f):
    """One frame's bytes (without its 0x00) -> its body as a bytearray, or None."""
    return unpack_frame(f)
