"""Remote serial URLs: what irqkit adds to them, and what it says about a slow transport."""
from __future__ import annotations

import pytest

from irqkit_host.link.labgrid_place import resolve_port
from irqkit_host.link.remote import normalize_url, open_hint, slow_transport_warning


@pytest.mark.parametrize("url, expected", [
    ("rfc2217://127.0.0.1:4000", "rfc2217://127.0.0.1:4000?ign_set_control"),
    ("rfc2217://host:4000?timeout=3", "rfc2217://host:4000?timeout=3&ign_set_control"),
    ("RFC2217://host:4000?", "RFC2217://host:4000?ign_set_control"),
    ("rfc2217://host:4000?ign_set_control", "rfc2217://host:4000?ign_set_control"),
    ("rfc2217://host:4000?logging=debug&ign_set_control", "rfc2217://host:4000?logging=debug&ign_set_control"),
    ("socket://host:4000", "socket://host:4000"),
    ("/dev/ttyACM0", "/dev/ttyACM0"),
    ("loop://", "loop://"),
])
def test_normalize_url_adds_ign_set_control_to_rfc2217_only(url: str, expected: str) -> None:
    assert normalize_url(url) == expected
    assert normalize_url(expected) == expected          # idempotent
    assert resolve_port(url) == expected                # what --port strings go through


def test_a_fast_baseline_gives_no_warning() -> None:
    assert slow_transport_warning(None, "rfc2217://h:1") is None
    assert slow_transport_warning(280.0, "rfc2217://h:1") is None
    assert slow_transport_warning(1000.0, "/dev/ttyACM0") is None


def test_a_chardelay_sized_baseline_names_chardelay() -> None:
    w = slow_transport_warning(4100.0, "rfc2217://h:1")
    assert w is not None and "4.1 ms" in w and "chardelay: false" in w and "\n" not in w


def test_each_transport_gets_its_likely_cause() -> None:
    assert "network" in (slow_transport_warning(1500.0, "socket://h:1") or "")
    assert "NetworkSerialPort" in (slow_transport_warning(4000.0, "labgrid:board") or "")
    assert "latency_timer" in (slow_transport_warning(16000.0, "/dev/ttyUSB0") or "")


def test_open_hint_only_for_rfc2217_negotiation_failures() -> None:
    msg = "Remote does not seem to support RFC2217 or BINARY mode [we-BINARY:False(INACTIVE)]"
    hint = open_hint("rfc2217://h:1", msg)
    assert hint is not None and "socket://HOST:PORT" in hint and "[" not in hint
    assert open_hint("rfc2217://h:1", "timeout while waiting for option 'control'") is not None
    assert open_hint("rfc2217://h:1", "[Errno 111] Connection refused") is None
    assert open_hint("socket://h:1", msg) is None
