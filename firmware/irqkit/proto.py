# irqkit serial protocol: message types and payload layouts, shared by device and host.
# Frames are built by irqkit.frame (COBS + CRC-16); this module only knows payloads.
#
# Requests have types 0x01..0x7F; a reply is the request type | 0x80 and carries the
# request's seq. The EVENT answering a TRIGGER carries the TRIGGER's seq (so the host's
# Link.request(TRIGGER, ..., EVENT) matches it); unsolicited EVENTs (timer ticks) carry the
# device's own running seq. A request the device cannot serve gets an ERROR frame (0xEE)
# with the request's seq. No command evaluates code.
#
# All integers are little-endian. Text is ASCII; "k=v;k=v" lists put no ';' in keys or
# values and no '=' in keys; list values are comma lists (a list of length 1 is written
# with a trailing comma and the empty list as "," so that they read back as lists).
#
# Timestamps/tokens/params are u32 on the wire, but the device keeps 30-bit values
# (irqkit.compat.wrap, 29-bit counters); hosts use tokens < 2**29 so the device never needs a big int.
#
# Payload helpers: pack_* return new bytes (main-loop code on the device: small
# allocations are fine there); pack_event_into writes into a caller's buffer without
# allocating. unpack_*(payload, n=None) read payload[0:n] (n defaults to len(payload), so
# a FrameDecoder's fixed-size .payload view can be passed with .payload_len) and raise
# ValueError on a payload of the wrong size.
#
# MicroPython 1.9 syntax only: no f-strings, walrus, annotations or typing.

from irqkit.compat import const

try:
    import struct
except ImportError:  # MicroPython 1.9 on some ports only has ustruct
    import ustruct as struct

try:
    _NUMBER = (int, float)
except NameError:  # ports built without float support
    _NUMBER = (int,)

PROTO_VERSION = const(1)
MAX_PAYLOAD = const(240)  # same as irqkit.frame.MAX_PAYLOAD
REPLY = const(0x80)  # reply type = request type | REPLY

HELLO = const(0x01)
PING = const(0x02)
ARM = const(0x03)
TRIGGER = const(0x04)
STATS = const(0x05)
CONFIG = const(0x06)
RESET_STATS = const(0x07)

HELLO_R = const(0x81)
PONG = const(0x82)
ARM_R = const(0x83)
EVENT = const(0x84)
STATS_R = const(0x85)
CONFIG_R = const(0x86)
RESET_R = const(0x87)
ERROR = const(0xEE)

# ERROR codes
ERR_UNKNOWN_TYPE = const(1)
ERR_BAD_PAYLOAD = const(2)
ERR_UNKNOWN_SOURCE = const(3)
ERR_BUSY = const(4)

STATUS_OK = const(0)

# Sources
SRC_UART = const(0)
SRC_GPIO = const(1)
SRC_TIMER = const(2)
SRC_SOFT = const(3)
SOURCE_NAMES = {SRC_UART: "uart", SRC_GPIO: "gpio", SRC_TIMER: "timer", SRC_SOFT: "soft"}
SOURCE_IDS = {"uart": SRC_UART, "gpio": SRC_GPIO, "timer": SRC_TIMER, "soft": SRC_SOFT}

TYPE_NAMES = {
    HELLO: "HELLO", PING: "PING", ARM: "ARM", TRIGGER: "TRIGGER", STATS: "STATS",
    CONFIG: "CONFIG", RESET_STATS: "RESET_STATS", HELLO_R: "HELLO_R", PONG: "PONG",
    ARM_R: "ARM_R", EVENT: "EVENT", STATS_R: "STATS_R", CONFIG_R: "CONFIG_R",
    RESET_R: "RESET_R", ERROR: "ERROR",
}
ERROR_NAMES = {
    ERR_UNKNOWN_TYPE: "unknown type", ERR_BAD_PAYLOAD: "bad payload",
    ERR_UNKNOWN_SOURCE: "unknown source", ERR_BUSY: "busy",
}

EVENT_SIZE = const(15)  # u8 source, u32 token, u32 t_isr, u32 t_task, u16 count
_EVENT_FMT = "<BIIIH"


def type_name(t):
    name = TYPE_NAMES.get(t)
    if name is None:
        return "0x%02x" % t
    return name


def _len(payload, n):
    if n is None:
        return len(payload)
    return n


def _need(n, size, what):
    if n < size:
        raise ValueError("short %s payload" % what)


def _exact(n, size, what):
    if n != size:
        raise ValueError("%s payload must be %d bytes" % (what, size))


def _text(payload, start, n):
    return str(bytes(payload[start:n]), "ascii")


def _ascii(s):
    if isinstance(s, str):
        return bytes(s, "ascii")
    return bytes(s)


# ---- "k=v;k=v" text ----------------------------------------------------------------

def _kv_value(v):
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, _NUMBER):
        return str(v)
    parts = [_kv_value(x) for x in v]
    if not parts:
        return ","  # the empty list
    if len(parts) == 1:
        parts.append("")  # a trailing comma marks a list
    return ",".join(parts)


def pack_kv(d):
    """dict -> "k=v;k=v" (keys sorted). Values: str, int, float, bool or sequences of those."""
    items = []
    for k in sorted(d):
        v = _kv_value(d[k])
        if ";" in k or "=" in k or ";" in v:
            raise ValueError("';' or '=' in key/value")
        items.append(k + "=" + v)
    return ";".join(items)


_NUM = "0123456789"


def _is_int(s):
    if s[:1] == "-":
        s = s[1:]
    if not s:
        return False
    for ch in s:
        if ch not in _NUM:
            return False
    return True


def _convert(s):
    if _is_int(s):
        return int(s)
    if "." in s and len(_NUMBER) > 1 and _is_int(s.replace(".", "", 1)):
        return float(s)
    return s


def unpack_kv(text, convert=False):
    """"k=v;k=v" -> dict of strings; with convert=True numbers become int/float and comma
    values become lists (a trailing comma marks a list of length 1, "," is [])."""
    d = {}
    for item in text.split(";"):
        if not item:
            continue
        i = item.find("=")
        if i <= 0:
            raise ValueError("bad key=value item")
        k = item[:i]
        v = item[i + 1:]
        if convert:
            if v == ",":
                v = []
            elif "," in v:
                parts = v.split(",")
                if parts[-1] == "":
                    parts.pop()
                v = [_convert(x) for x in parts]
            else:
                v = _convert(v)
        d[k] = v
    return d


# ---- HELLO ---------------------------------------------------------------------------

def pack_hello_r(ticks_hz, info):
    """info: dict (keys fw, board, runtime, port, irq, sources) or a ready "k=v;..." str."""
    if not isinstance(info, str):
        info = pack_kv(info)
    return struct.pack("<BI", PROTO_VERSION, ticks_hz) + _ascii(info)


def unpack_hello_r(payload, n=None):
    """-> (proto_version, ticks_hz, info dict of strings; split info['sources'] on ',')."""
    n = _len(payload, n)
    _need(n, 5, "HELLO_R")
    version, hz = struct.unpack_from("<BI", payload, 0)
    return version, hz, unpack_kv(_text(payload, 5, n))


# ---- ARM -----------------------------------------------------------------------------

def pack_arm(source_id, param=0):
    return struct.pack("<BI", source_id, param)


def unpack_arm(payload, n=None):
    """-> (source_id, param)"""
    _exact(_len(payload, n), 5, "ARM")
    return struct.unpack_from("<BI", payload, 0)


def pack_arm_r(source_id, status, mode):
    return struct.pack("<BB", source_id, status) + _ascii(mode)


def unpack_arm_r(payload, n=None):
    """-> (source_id, status, mode str)"""
    n = _len(payload, n)
    _need(n, 2, "ARM_R")
    return payload[0], payload[1], _text(payload, 2, n)


# ---- TRIGGER / EVENT -----------------------------------------------------------------

def pack_trigger(source_id, token):
    return struct.pack("<BI", source_id, token)


def unpack_trigger(payload, n=None):
    """-> (source_id, token)"""
    _exact(_len(payload, n), 5, "TRIGGER")
    return struct.unpack_from("<BI", payload, 0)


def pack_event_into(buf, source_id, token, t_isr, t_task, count=1):
    """Write an EVENT payload into buf[0:EVENT_SIZE] without allocating; returns EVENT_SIZE.
    count is clamped to 0xFFFF."""
    if count > 0xFFFF:
        count = 0xFFFF
    struct.pack_into(_EVENT_FMT, buf, 0, source_id, token, t_isr, t_task, count)
    return EVENT_SIZE


def pack_event(source_id, token, t_isr, t_task, count=1):
    buf = bytearray(EVENT_SIZE)
    pack_event_into(buf, source_id, token, t_isr, t_task, count)
    return bytes(buf)


def unpack_event(payload, n=None):
    """-> (source_id, token, t_isr, t_task, count)"""
    _exact(_len(payload, n), EVENT_SIZE, "EVENT")
    return struct.unpack_from(_EVENT_FMT, payload, 0)


# ---- STATS ---------------------------------------------------------------------------

def pack_stats(page=0):
    return struct.pack("<B", page)


def unpack_stats(payload, n=None):
    """-> page"""
    _exact(_len(payload, n), 1, "STATS")
    return payload[0]


def pack_stats_r(page, pages, text):
    return struct.pack("<BB", page, pages) + _ascii(text)


def unpack_stats_r(payload, n=None):
    """-> (page, pages, text)"""
    n = _len(payload, n)
    _need(n, 2, "STATS_R")
    return payload[0], payload[1], _text(payload, 2, n)


def stats_pages(d, budget=MAX_PAYLOAD - 2):
    """Split a stats dict (or a ready "k=v;..." str) into STATS_R payloads of at most
    budget + 2 bytes. Pages end after a ';' where they can, so each page usually reads
    alone; stats_join concatenates the texts, so an item longer than a page is fine.
    Device: build the list when page 0 is asked for and serve later pages from it, so
    all pages come from one snapshot."""
    if not isinstance(d, str):
        d = pack_kv(d)
    text = _ascii(d)
    chunks = []
    i = 0
    n = len(text)
    while True:
        end = i + budget
        if end >= n:
            chunks.append(text[i:])
            break
        cut = text.rfind(b";", i, end)
        if cut < i:
            cut = end  # one item longer than a page: split inside it
        else:
            cut += 1
        chunks.append(text[i:cut])
        i = cut
    pages = len(chunks)
    if pages > 255:
        raise ValueError("stats too large")
    return [struct.pack("<BB", p, pages) + chunks[p] for p in range(pages)]


def stats_join(payloads):
    """STATS_R payloads (any order) -> dict with ints, floats and lists (host side)."""
    texts = {}
    pages = None
    for p in payloads:
        page, count, text = unpack_stats_r(p)
        if pages is None:
            pages = count
        elif count != pages:
            raise ValueError("STATS_R pages disagree (%d vs %d)" % (count, pages))
        texts[page] = text
    if pages is None or sorted(texts) != list(range(pages)):
        raise ValueError("STATS_R pages missing")
    return unpack_kv("".join([texts[p] for p in range(pages)]), True)


# ---- CONFIG / RESET ------------------------------------------------------------------

def pack_config(key, value):
    text = key + "=" + _kv_value(value)
    if ";" in text or "=" in key or not key:
        raise ValueError("bad config key/value")
    return _ascii(text)


def unpack_config(payload, n=None):
    """-> (key, value str)"""
    text = _text(payload, 0, _len(payload, n))
    i = text.find("=")
    if i <= 0:
        raise ValueError("CONFIG payload must be key=value")
    return text[:i], text[i + 1:]


def pack_status(status):
    """CONFIG_R payload."""
    return struct.pack("<B", status)


def unpack_status(payload, n=None):
    _exact(_len(payload, n), 1, "status")
    return payload[0]


# ---- ERROR ---------------------------------------------------------------------------

def pack_error(code, offending_type, detail=""):
    detail = _ascii(detail)
    if len(detail) > MAX_PAYLOAD - 2:
        detail = detail[:MAX_PAYLOAD - 2]
    return struct.pack("<BB", code, offending_type) + detail


def unpack_error(payload, n=None):
    """-> (code, offending_type, detail str)"""
    n = _len(payload, n)
    _need(n, 2, "ERROR")
    return payload[0], payload[1], _text(payload, 2, n)
