"""Remote serial ports (ser2net, labgrid exporters): what a pyserial URL needs to work there.

pyserial's ``rfc2217://`` client asks the server to set the modem control lines and waits
for the answer; ser2net 4 on a pty (and on many adapters) never answers, so the open fails
with "timeout while waiting for option 'control'". pyserial's ``ign_set_control`` option
skips that wait (labgrid's own serial driver adds it too). :func:`normalize_url` adds it.

ser2net's default ``chardelay`` holds every received chunk for a few character times
before forwarding it: about 4 ms per round trip at 115200 baud. :func:`slow_transport_warning`
turns a slow PING baseline into one line that names that cause.

Pure functions over strings: nothing here opens a port.
"""
from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["SLOW_PING_P50_US", "normalize_url", "open_hint", "slow_transport_warning"]

# A PING round trip slower than this (median) is not a local serial port's floor.
SLOW_PING_P50_US = 1000.0
# ser2net's chardelay shows as a floor of several ms; below this it is more likely load.
_CHARDELAY_LIKELY_US = 2500.0

_RFC2217 = "rfc2217://"


def _options(url: str) -> list[str]:
    query = urlsplit(url).query
    return [o for o in query.split("&") if o]


def normalize_url(url: str) -> str:
    """``url`` with what irqkit needs added: ``ign_set_control`` on rfc2217 URLs.

    Other URLs and device paths are returned unchanged; an rfc2217 URL that already has
    the option (with or without a value) is returned unchanged."""
    if not url.lower().startswith(_RFC2217):
        return url
    opts = _options(url)
    if any(o.split("=", 1)[0] == "ign_set_control" for o in opts):
        return url
    if "?" not in url:
        return url + "?ign_set_control"
    return url + ("" if url.endswith(("?", "&")) else "&") + "ign_set_control"


def open_hint(url: str, message: str) -> str | None:
    """What to do when opening ``url`` failed with ``message`` (pyserial's text), or None."""
    if not url.lower().startswith(_RFC2217):
        return None
    if "waiting for option" in message or "support RFC2217" in message:
        reason = message.strip().split(" [")[0]    # pyserial appends its option table
        return (f"cannot open {url}: the server did not complete RFC 2217 negotiation "
                f"({reason}); is it a ser2net accepter with 'telnet(rfc2217),tcp,...'? "
                "For a raw TCP accepter use socket://HOST:PORT instead")
    return None


def slow_transport_warning(ping_p50_us: float | None, url: str) -> str | None:
    """One line naming the likely cause when the PING baseline median is slow, else None."""
    if ping_p50_us is None or ping_p50_us <= SLOW_PING_P50_US:
        return None
    head = f"PING baseline p50 is {ping_p50_us / 1000:.1f} ms on {url} (a local port answers in < 1 ms): "
    lower = url.lower()
    if lower.startswith("labgrid:"):
        return head + ("labgrid's exporter starts ser2net with its default chardelay, which "
                       "adds ~4 ms per round trip; run ser2net yourself with 'chardelay: false' and "
                       "export it as a NetworkSerialPort (see host/docs/board-farm.md)")
    if lower.startswith((_RFC2217, "socket://")):
        if ping_p50_us >= _CHARDELAY_LIKELY_US:
            return head + ("likely ser2net's default chardelay (~4 ms per round trip); set "
                           "'chardelay: false' in the connection's options")
        return head + ("a slow network or a loaded host; if this is ser2net, check that the "
                       "connection has 'chardelay: false'")
    if "://" not in url:
        return head + ("a USB-serial adapter's latency timer (FTDI: "
                       "/sys/bus/usb-serial/devices/*/latency_timer, set it to 1) or a loaded host")
    return head + "a slow transport; latencies include it (see the ping p50 column)"
