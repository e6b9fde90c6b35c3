"""irqkit_host.link over a real pty (and loopback TCP for socket://): no pyserial mocks.

A small responder thread plays the device on the pty master: it decodes frames with the
same irqkit.frame codec and answers like the latency responder app would.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import stat
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from irqkit import proto as P
from irqkit.frame import FrameDecoder, encode
from irqkit_host.link import (
    DeviceError,
    Frame,
    Link,
    LinkClosed,
    LinkError,
    LinkTimeout,
    open_error,
)

SILENT = 0x60  # a request type the fake device never answers
VANISH = 0x61  # the fake device closes its end when it sees this
GARBAGE = 0x62  # the fake device sends line noise, then the reply


class FakeDevice:
    """Answers frames on an fd (pty master or socket) from a thread."""

    def __init__(self, fd: int | None = None, sock: socket.socket | None = None) -> None:
        self.fd = fd
        self.sock = sock
        self.dec = FrameDecoder()
        self.stop = threading.Event()
        self.seen: list[Frame] = []
        self.stats = {"bad_frames": 0, "uart.hist": [0, 0, 3, 1], "long.hist": list(range(1000, 1100))}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.closed = False
        self.thread.start()

    def _fileno(self) -> int:
        if self.sock is not None:
            return self.sock.fileno()
        assert self.fd is not None
        return self.fd

    def _read(self) -> bytes:
        if self.sock is not None:
            return self.sock.recv(4096)
        assert self.fd is not None
        return os.read(self.fd, 4096)

    def write(self, data: bytes) -> None:
        if self.sock is not None:
            self.sock.sendall(data)
        else:
            assert self.fd is not None
            os.write(self.fd, data)

    def reply(self, type: int, seq: int, payload: bytes = b"") -> None:
        self.write(encode(type, seq, payload))

    def close_end(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sock is not None:
            self.sock.close()
        elif self.fd is not None:
            os.close(self.fd)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                r, _, _ = select.select([self._fileno()], [], [], 0.05)
                if not r:
                    continue
                data = self._read()
                if not data:
                    return
                for b in data:
                    if self.dec.feed(b):
                        f = Frame(self.dec.type, self.dec.seq, self.dec.payload_bytes())
                        self.seen.append(f)
                        if self._handle(f):
                            return
        except OSError:
            return

    def _handle(self, f: Frame) -> bool:
        t, s, p = f
        if t == P.PING:
            self.reply(P.PONG, s, p)
        elif t == P.HELLO:
            self.reply(P.HELLO_R, s, P.pack_hello_r(1_000_000, {
                "fw": "0.1.0", "board": "fake", "runtime": "cpython", "port": "pty",
                "irq": "none", "sources": "uart,soft"}))
        elif t == P.TRIGGER:
            sid, token = P.unpack_trigger(p)
            # an unsolicited timer tick first, then a stale PONG, then the answer
            self.reply(P.EVENT, 250, P.pack_event(P.SRC_TIMER, 77, 1, 2, 1))
            self.reply(P.PONG, (s - 1) & 0xFF, b"late")
            self.reply(P.EVENT, s, P.pack_event(sid, token, 100, 130, 1))
        elif t == P.STATS:
            page = P.unpack_stats(p)
            self.stats["bad_frames"] = self.dec.errors()
            pages = P.stats_pages(self.stats)
            self.reply(P.STATS_R, s, pages[page])
        elif t == GARBAGE:
            self.write(b"\x13\x37\xff\x00\x05\x01\x00" + bytes(range(1, 200)) + b"\x00")
            self.reply(P.PONG, s, p)
        elif t == VANISH:
            self.close_end()
            return True
        elif t == SILENT:
            pass
        else:
            self.reply(P.ERROR, s, P.pack_error(P.ERR_UNKNOWN_TYPE, t, "type 0x%02x" % t))
        return False

    def shutdown(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.close_end()


@pytest.fixture
def pty_device() -> Iterator[tuple[str, FakeDevice]]:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    dev = FakeDevice(fd=master)
    try:
        yield path, dev
    finally:
        dev.shutdown()
        os.close(slave)


@pytest.fixture(params=[True, False], ids=["fd", "pyserial"])
def link(pty_device: tuple[str, FakeDevice], request: pytest.FixtureRequest) -> Iterator[Link]:
    """Both hot paths over the same real pty: the file descriptor and pyserial's calls."""
    path, _ = pty_device
    lk = Link.open(path, timeout=2.0, direct=request.param)
    assert lk.direct is request.param
    try:
        yield lk
    finally:
        lk.close()


# ---- requests and replies --------------------------------------------------------------

def test_ping_hello_and_seq_numbers(link: Link, pty_device: tuple[str, FakeDevice]) -> None:
    assert link.request(P.PING, b"abc\x00") == b"abc\x00"
    link.ping(b"")
    version, hz, info = link.hello()
    assert (version, hz) == (P.PROTO_VERSION, 1_000_000)
    assert info["board"] == "fake" and info["sources"].split(",") == ["uart", "soft"]
    seqs = [f.seq for f in pty_device[1].seen]
    assert seqs == [0, 1, 2]
    assert link.counters()["frames_ok"] == 3 and link.bad_frames() == 0


def test_seq_wraps_at_256(link: Link) -> None:
    for i in range(300):
        assert link.request(P.PING, bytes([i & 0xFF])) == bytes([i & 0xFF])
    assert link.send(P.PING) == 300 & 0xFF


def test_request_skips_unsolicited_frames_into_pending(link: Link) -> None:
    payload = link.request(P.TRIGGER, P.pack_trigger(P.SRC_SOFT, 1234), P.EVENT)
    assert P.unpack_event(payload) == (P.SRC_SOFT, 1234, 100, 130, 1)
    pending = link.pending_events()
    assert [f.type for f in pending] == [P.EVENT]
    assert P.unpack_event(pending[0].payload)[:2] == (P.SRC_TIMER, 77)
    assert link.pending_events() == []
    assert link.counters()["stale"] == 1  # the late PONG


def test_drop_pending_drops_only_what_matches(link: Link) -> None:
    # the device answers a TRIGGER with a timer EVENT first (kept), then the soft EVENT
    link.request(P.TRIGGER, P.pack_trigger(P.SRC_SOFT, 1234), P.EVENT)
    assert link.drop_pending(lambda f: f.type == P.PONG) == 0
    assert link.drop_pending(lambda f: P.unpack_event(f.payload)[0] == P.SRC_TIMER) == 1
    assert link.pending_events() == []


def test_send_then_recv_type_and_recv_order(link: Link) -> None:
    seq = link.send(P.TRIGGER, P.pack_trigger(P.SRC_UART, 9))
    ev = link.recv_type(P.EVENT, seq=seq)
    assert ev.seq == seq and P.unpack_event(ev.payload)[1] == 9
    # the timer EVENT that came first was kept; the stale PONG was counted, not kept
    kept = link.recv()
    assert kept.type == P.EVENT and kept.seq == 250
    assert link.counters()["stale"] == 1
    with pytest.raises(LinkTimeout):
        link.recv(timeout=0.05)


def test_take_unread_returns_what_was_read_past_the_last_frame(
        link: Link, pty_device: tuple[str, FakeDevice]) -> None:
    # the app's last frame and the raw REPL's "\x04\x04>" arrive in one read: the session's
    # stop must find the prompt in the link's buffer, not wait for it on the port
    data = encode(P.CONFIG_R, 4, P.pack_status(P.STATUS_OK)) + b"\x04\x04>"
    pty_device[1].write(data)
    ser = link._ser
    for _ in range(500):              # up to ~5 s for the pty to hold all of it
        if ser.in_waiting >= len(data):
            break
        select.select([], [], [], 0.01)
    assert link.recv().type == P.CONFIG_R
    assert link.take_unread() == b"\x04\x04>"
    assert link.take_unread() == b""


def test_discard_input_drops_banner_partial_frames_and_kept_frames(
        link: Link, pty_device: tuple[str, FakeDevice]) -> None:
    link.request(P.TRIGGER, P.pack_trigger(P.SRC_SOFT, 1), P.EVENT)  # keeps a timer EVENT
    # a REPL banner and half a frame, without a delimiter
    pty_device[1].write(b"MicroPython v1.29 on sim\r\n>>> " + encode(P.EVENT, 1, b"x" * 15)[:6])
    with pytest.raises(LinkTimeout):
        link.recv_type(P.PONG, timeout=0.3)  # reads the bytes into the decoder
    link.discard_input()
    assert link.pending_events() == []
    pty_device[1].write(encode(P.EVENT, 2, P.pack_event(0, 5, 0, 0, 1)))
    f = link.recv()
    assert f.seq == 2 and P.unpack_event(f.payload)[1] == 5  # not glued to the half frame


def test_error_frame_raises_device_error(link: Link) -> None:
    with pytest.raises(DeviceError) as ei:
        link.request(0x55, b"")
    assert ei.value.code == P.ERR_UNKNOWN_TYPE and ei.value.offending_type == 0x55
    assert "unknown type" in str(ei.value) and "\n" not in str(ei.value)
    assert link.request(P.PING, b"after") == b"after"


def test_timeout_is_a_one_line_link_timeout(link: Link) -> None:
    with pytest.raises(LinkTimeout) as ei:
        link.request(SILENT, b"", timeout=0.2)
    assert "within 0.2 s" in str(ei.value) and "\n" not in str(ei.value)
    assert isinstance(ei.value, LinkError)
    assert link.request(P.PING, b"still there") == b"still there"


def test_stats_pages_are_joined(link: Link) -> None:
    st = link.stats()
    assert st["uart.hist"] == [0, 0, 3, 1]
    assert st["long.hist"] == list(range(1000, 1100))  # longer than one page
    assert st["bad_frames"] == 0


# ---- garbage -----------------------------------------------------------------------------

def test_garbage_to_the_device_is_counted_there_and_the_next_ping_works(
        link: Link, pty_device: tuple[str, FakeDevice]) -> None:
    link.write_raw(b"\x05\x01\x00\x00\x01\x00")  # cobs error, idle fill, empty body
    link.write_raw(b"\xde\xad\xbe\xef" * 50)  # no delimiter: the PING's lead 0x00 ends it
    assert link.request(P.PING, b"ok") == b"ok"
    assert link.stats()["bad_frames"] >= 2


def test_garbage_from_the_device_is_counted_on_the_host(link: Link) -> None:
    assert link.request(GARBAGE, b"x", P.PONG) == b"x"
    c = link.counters()
    assert c["cobs_err"] >= 1 and link.bad_frames() >= 2
    assert c["frames_ok"] == 1


# ---- opening errors ----------------------------------------------------------------------

def test_nonexistent_port() -> None:
    with pytest.raises(LinkError, match=r"^no such port: /dev/irqkit-nonexistent$"):
        Link.open("/dev/irqkit-nonexistent")


def test_busy_port_second_open_of_a_real_pty(pty_device: tuple[str, FakeDevice]) -> None:
    path, _ = pty_device
    first = Link.open(path)
    try:
        with pytest.raises(LinkError) as ei:
            Link.open(path)
        assert str(ei.value) == f"port {path} is busy (open in another program)"
        first.ping(b"first still works")
    finally:
        first.close()
    second = Link.open(path)  # free again after close
    second.close()


def test_not_a_serial_port(tmp_path: Path) -> None:
    f = tmp_path / "plain-file"
    f.write_bytes(b"")
    with pytest.raises(LinkError, match="is not a serial port$"):
        Link.open(str(f))


def test_permission_denied_on_a_real_pty(pty_device: tuple[str, FakeDevice]) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: permissions are not enforced (see the translation test)")
    path, _ = pty_device
    mode = os.stat(path).st_mode
    os.chmod(path, 0)
    try:
        with pytest.raises(LinkError, match="^permission denied opening"):
            Link.open(path)
    finally:
        os.chmod(path, stat.S_IMODE(mode))


def test_open_error_translation_is_one_line() -> None:
    cases = {
        serial.SerialException(errno.EACCES, "could not open port /dev/x: [Errno 13] Permission denied"):
            "permission denied opening /dev/x",
        serial.SerialException(errno.EBUSY, "could not open port /dev/x: [Errno 16] busy"):
            "port /dev/x is busy (open in another program)",
        serial.SerialException(errno.ENOENT, "could not open port /dev/x: [Errno 2]"):
            "no such port: /dev/x",
        ValueError("invalid URL, protocol 'foo' not known"):
            "invalid port '/dev/x': invalid URL, protocol 'foo' not known",
        serial.SerialException("weird\nsecond line"): "cannot open /dev/x: weird",
    }
    for exc, want in cases.items():
        msg = str(open_error("/dev/x", exc))
        assert msg.startswith(want) and "\n" not in msg


def test_bad_url_scheme() -> None:
    with pytest.raises(LinkError, match="^invalid port 'nope://x'"):
        Link.open("nope://x")


# ---- the device going away ------------------------------------------------------------------

def test_device_vanishing_mid_read_is_link_closed(link: Link) -> None:
    with pytest.raises(LinkClosed, match="^device disconnected$"):
        link.request(VANISH, b"", timeout=10)
    assert link.closed
    with pytest.raises(LinkClosed):
        link.send(P.PING)
    with pytest.raises(LinkClosed):
        link.recv()


def test_device_vanishing_before_a_write_is_link_closed(pty_device: tuple[str, FakeDevice]) -> None:
    path, dev = pty_device
    lk = Link.open(path)
    try:
        dev.shutdown()  # master closed: the "board" is unplugged
        with pytest.raises(LinkClosed):
            lk.request(P.PING, b"x", timeout=10)
    finally:
        lk.close()


# ---- socket:// (loopback only) ----------------------------------------------------------------

@pytest.fixture
def tcp_device() -> Iterator[tuple[str, list[FakeDevice]]]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    devices: list[FakeDevice] = []

    def accept() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        devices.append(FakeDevice(sock=conn))

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"socket://127.0.0.1:{srv.getsockname()[1]}", devices
    finally:
        srv.close()
        t.join(timeout=5)
        for d in devices:
            d.shutdown()


def test_socket_url_works_and_peer_close_is_link_closed(tcp_device: tuple[str, list[FakeDevice]]) -> None:
    url, _ = tcp_device
    with Link.open(url, timeout=5) as lk:
        assert not lk.direct          # not a tty: pyserial's own socket calls
        assert lk.request(P.PING, b"tcp") == b"tcp"
        with pytest.raises(LinkClosed):
            lk.request(VANISH, b"", timeout=10)


def test_local_pty_uses_its_fd_and_a_socket_cannot(
        pty_device: tuple[str, FakeDevice], tcp_device: tuple[str, list[FakeDevice]]) -> None:
    with Link.open(pty_device[0]) as lk:
        assert lk.direct
        assert lk.request(P.PING, b"fd") == b"fd"
    with pytest.raises(LinkError) as ei:
        Link.open(tcp_device[0], direct=True)
    assert "not a local tty" in str(ei.value) and "\n" not in str(ei.value)


def test_socket_connection_refused() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(LinkError, match="^cannot connect to socket://127.0.0.1:%d" % port):
        Link.open(f"socket://127.0.0.1:{port}")


def test_fd_path_write_waits_for_a_full_tty_buffer_and_loses_nothing() -> None:
    master, slave = os.openpty()
    tty_path = os.ttyname(slave)
    data = bytes(range(1, 256)) * 800            # 204 000 bytes: far more than a pty holds
    got = bytearray()

    def drain() -> None:
        threading.Event().wait(0.3)               # let the writer hit the full buffer first
        while len(got) < len(data):
            r, _, _ = select.select([master], [], [], 5)
            if not r:
                return
            got.extend(os.read(master, 65536))

    reader = threading.Thread(target=drain, daemon=True)
    try:
        tty.setraw(slave)                         # raw mode: no echo, no newline translation
        with Link.open(tty_path, direct=True) as lk:
            reader.start()
            lk.write_raw(data)                    # returns only when the last byte is written
            reader.join(10)
    finally:
        os.close(master)
        os.close(slave)
    assert bytes(got) == data


def test_wait_readable_spins_then_blocks_and_keeps_the_timeout() -> None:
    from irqkit_host.link.wire import SPIN_S, wait_readable
    r, w = os.pipe()
    try:
        p = select.poll()
        p.register(r, select.POLLIN)
        t0 = time.monotonic()
        assert wait_readable(p, 0.02) == []                 # nothing: returns at the timeout
        assert 0.015 <= time.monotonic() - t0 < 0.5
        assert wait_readable(p, SPIN_S / 3) == []           # a timeout inside the spin
        os.write(w, b"x")
        assert wait_readable(p, 1.0)[0][0] == r             # ready: at once
        os.read(r, 1)
        # bytes that arrive after the spin are caught by the blocking poll
        threading.Timer(0.01, os.write, (w, b"y")).start()
        t0 = time.monotonic()
        assert wait_readable(p, 2.0)[0][0] == r
        assert time.monotonic() - t0 < 1.0
    finally:
        os.close(r)
        os.close(w)
