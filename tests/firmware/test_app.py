# The latency responder, driven through the in-process port: frames in, frames out.
from irqkit import proto as P
from irqkit.frame import encode, decode_frames
from irqkit.app import App
from irqkit.ports.inproc import InprocPort
from irqkit.compat import ticks_us, ticks_diff


def _app(**kw):
    port = InprocPort()
    app = App(port, board="test", **kw)
    app.running = True
    return port, app


def _exchange(port, app, data):
    """Deliver bytes through the RX interrupt, run the loop, return the frames sent."""
    port.tx = bytearray()
    port.receive(data)
    app.sched.run_once()
    return decode_frames(bytes(port.tx))


def test_hello_reports_board_and_sources():
    port, app = _app()
    out = _exchange(port, app, encode(P.HELLO, 7))
    assert len(out) == 1 and out[0][0] == P.HELLO_R and out[0][1] == 7
    version, hz, info = P.unpack_hello_r(out[0][2])
    assert version == P.PROTO_VERSION and hz == 1000000
    assert info["board"] == "test" and "soft" in info["sources"]


def test_ping_echoes_payload():
    port, app = _app()
    out = _exchange(port, app, encode(P.PING, 1, b"\x00\x03abc"))
    assert out == [(P.PONG, 1, b"\x00\x03abc")]


def test_soft_trigger_answers_from_its_task_with_timestamps():
    port, app = _app()
    out = _exchange(port, app, encode(P.TRIGGER, 2, P.pack_trigger(P.SRC_SOFT, 123456)))
    assert len(out) == 1 and out[0][0] == P.EVENT
    src, token, t_isr, t_task, count = P.unpack_event(out[0][2])
    assert src == P.SRC_SOFT and token == 123456 and count == 1 and out[0][1] == 2
    assert 0 <= ((t_task - t_isr) & 0x3FFFFFFF) < 0x20000000


def test_uart_trigger_carries_the_rx_isr_timestamp():
    port, app = _app()
    out = _exchange(port, app, encode(P.TRIGGER, 3, P.pack_trigger(P.SRC_UART, 9)))
    src, token, t_isr, t_task, count = P.unpack_event(out[0][2])
    assert (src, token) == (P.SRC_UART, 9) and out[0][1] == 3
    assert ((t_task - t_isr) & 0x3FFFFFFF) < 0x20000000


def _tick_past(t):
    while ticks_diff(ticks_us(), t) <= 1:
        pass


def test_stale_rx_event_does_not_stamp_the_next_frame():
    # Trial k's frame arrives in two chunks: two RX events; the first task reads both and
    # replies. Trial k+1 arrives before the second (stale) event is dispatched: its reply
    # must carry the timestamp of its own interrupt, not the stale one's (which predates
    # the host's send, so device latency > round trip).
    port, app = _app()
    frame = encode(P.TRIGGER, 1, P.pack_trigger(P.SRC_UART, 1))
    port.tx = bytearray()
    port.receive(frame[:4])
    port.receive(frame[4:])
    assert app.sched.step()                       # task of event 1: reads both chunks
    assert [f[1] for f in decode_frames(bytes(port.tx))] == [1]
    _tick_past(ticks_us())
    t_send = ticks_us()
    _tick_past(t_send)
    out = _exchange(port, app, encode(P.TRIGGER, 2, P.pack_trigger(P.SRC_UART, 2)))
    assert [(f[0], f[1]) for f in out] == [(P.EVENT, 2)]
    src, token, t_isr, t_task, count = P.unpack_event(out[0][2])
    assert token == 2 and ticks_diff(t_isr, t_send) > 0
    assert app.stats()["link.rx_stale"] == 1


def test_garbage_is_counted_and_next_ping_answered():
    port, app = _app()
    junk = b"\x01\x02\xff\xfe" * 10 + b"\x00" + encode(P.PING, 5, b"x")[:-3] + b"\x00"
    out = _exchange(port, app, junk + encode(P.PING, 6, b"ok"))
    assert out == [(P.PONG, 6, b"ok")]
    st = app.stats()
    assert st["link.bad_crc"] + st["link.too_short"] + st["link.cobs_err"] >= 1


def test_unknown_type_and_bad_payload_get_counted_errors():
    port, app = _app()
    out = _exchange(port, app, encode(0x55, 1) + encode(P.TRIGGER, 2, b"\x01"))
    assert [f[0] for f in out] == [P.ERROR, P.ERROR]
    assert P.unpack_error(out[0][2])[0] == P.ERR_UNKNOWN_TYPE
    assert P.unpack_error(out[1][2])[0] == P.ERR_BAD_PAYLOAD
    assert app.unknown == 1 and app.bad_payload == 1


def test_stats_pages_join_and_reset():
    port, app = _app()
    _exchange(port, app, encode(P.TRIGGER, 1, P.pack_trigger(P.SRC_SOFT, 1)))
    out = _exchange(port, app, encode(P.STATS, 2, P.pack_stats(0)))
    first = out[0][2]
    pages = P.unpack_stats_r(first)[1]
    payloads = [first]
    for p in range(1, pages):
        payloads.append(_exchange(port, app, encode(P.STATS, 3, P.pack_stats(p)))[0][2])
    d = P.stats_join(payloads)
    assert d["soft.delivered"] == 1 and d["soft.overflow"] == 0
    assert len(d["soft.hist"]) == 24 and d["link.frames_ok"] >= 2
    out = _exchange(port, app, encode(P.RESET_STATS, 4))
    assert out[0][0] == P.RESET_R
    assert app.stats()["soft.delivered"] == 0


def test_gpio_edge_drives_response_pin_and_reports():
    port, app = _app(gpio_pin="P0", response_pin="P1")
    out = _exchange(port, app, encode(P.ARM, 1, P.pack_arm(P.SRC_GPIO, 0)))
    assert P.unpack_arm_r(out[0][2]) == (P.SRC_GPIO, 0, "hard")
    port.tx = bytearray()
    port.edge("P0", 1)
    app.sched.run_once()
    out = decode_frames(bytes(port.tx))
    src, token, t_isr, t_task, count = P.unpack_event(out[0][2])
    assert src == P.SRC_GPIO and token == 1
    assert port.pins["P1"].level == 1


def test_timer_arm_and_ticks():
    port, app = _app()
    out = _exchange(port, app, encode(P.ARM, 1, P.pack_arm(P.SRC_TIMER, 1000)))
    assert P.unpack_arm_r(out[0][2])[1] == P.STATUS_OK
    port.tx = bytearray()
    tim = port.timers[0]
    port.tick(tim)
    port.tick(tim)
    app.sched.run_once()
    toks = [P.unpack_event(f[2])[1] for f in decode_frames(bytes(port.tx))]
    assert toks == [1, 2]
    _exchange(port, app, encode(P.ARM, 2, P.pack_arm(P.SRC_TIMER, 0)))
    assert port.timers == []


def test_config_run_0_stops_the_loop():
    port, app = _app()
    port.receive(encode(P.CONFIG, 9, P.pack_config("run", 0)))
    app.run()                     # returns instead of looping forever
    out = decode_frames(bytes(port.tx))
    assert out[-1][0] == P.CONFIG_R


def test_ctrl_c_then_quiet_line_stops_the_app():
    port, app = _app()
    port.receive(b"\r\x03")
    try:
        app.run()
    except KeyboardInterrupt:
        return
    raise AssertionError("Ctrl-C did not stop the app")


def test_mpremote_interrupt_gets_the_raw_repl_banner():
    port, app = _app()
    port.receive(b"\r\x03")
    port.receive(b"\r\x01")      # mpremote enters the raw REPL right after its Ctrl-C
    try:
        app.run()
    except KeyboardInterrupt:
        assert bytes(port.tx).endswith(b"raw REPL; CTRL-B to exit\r\n")
        return
    raise AssertionError("Ctrl-C did not stop the app")


def test_frames_containing_0x03_do_not_stop_the_app():
    port, app = _app()
    frame = encode(P.PING, 3, b"\x03\x03\r\x03")
    assert b"\x03" in frame
    out = _exchange(port, app, frame)
    assert out == [(P.PONG, 3, b"\x03\x03\r\x03")]
    assert not app.brk.ctrl_c


def test_timer_counters_survive_disarm_and_rearm():
    """Issue 10.5: a disarmed timer's counters stay in STATS; a re-armed one adds to them."""
    port, app = _app()
    _exchange(port, app, encode(P.ARM, 1, P.pack_arm(P.SRC_TIMER, 1000)))
    tim = port.timers[0]
    port.tick(tim)
    port.tick(tim)
    app.sched.run_once()
    _exchange(port, app, encode(P.ARM, 2, P.pack_arm(P.SRC_TIMER, 0)))
    d = app.stats()
    assert d["timer.triggers"] == 2 and d["timer.delivered"] == 2
    assert d["timer.mode"] == "off" and d["timer.overflow"] == 0
    _exchange(port, app, encode(P.ARM, 3, P.pack_arm(P.SRC_TIMER, 1000)))
    port.tick(port.timers[0])
    app.sched.run_once()
    d = app.stats()
    assert d["timer.triggers"] == 3 and d["timer.delivered"] == 3 and d["timer.put"] == 3
    app.reset_stats()
    assert app.stats()["timer.triggers"] == 0


# -- the serial poll path (issue 12.1): PING at the transport floor --------------------------
def test_ping_is_answered_from_the_poll_path_without_dispatch():
    port, app = _app()
    port.tx = bytearray()
    port.receive(encode(P.PING, 4, b"floor"))
    d0 = app.sched.dispatched
    app.poll_link()
    assert decode_frames(bytes(port.tx)) == [(P.PONG, 4, b"floor")]
    assert app.sched.dispatched == d0          # no task ran: answered before dispatch
    st = app.stats()
    assert st["link.ping_poll"] == 1 and st["link.ping_task"] == 0
    # the RX event of those bytes is still pending: its task finds them read (stale)
    port.tx = bytearray()
    assert app.sched.run_once() == 1
    assert bytes(port.tx) == b""
    assert app.stats()["link.rx_stale"] == 1
    _, _, info = P.unpack_hello_r(_exchange(port, app, encode(P.HELLO, 1))[0][2])
    assert info["ping"] == "poll" and info["codec"] in ("viper", "python")


def test_poll_path_holds_a_trigger_for_its_rx_task():
    """PING + TRIGGER(uart) in one read: the PING answered at once, the TRIGGER held and
    answered by the RX task with that interrupt's timestamp."""
    port, app = _app()
    port.tx = bytearray()
    t_send = ticks_us()
    _tick_past(t_send)
    port.receive(encode(P.PING, 1, b"p") + encode(P.TRIGGER, 2, P.pack_trigger(P.SRC_UART, 7))
                 + encode(P.PING, 3, b"q"))
    app.poll_link()
    assert [(f[0], f[1]) for f in decode_frames(bytes(port.tx))] == [(P.PONG, 1)]
    assert app.held
    app.poll_link()                             # held: reads nothing more
    assert len(decode_frames(bytes(port.tx))) == 1
    port.tx = bytearray()
    app.sched.run_once()
    out = decode_frames(bytes(port.tx))
    assert [(f[0], f[1]) for f in out] == [(P.EVENT, 2), (P.PONG, 3)]
    src, token, t_isr, t_task, count = P.unpack_event(out[0][2])
    assert (src, token) == (P.SRC_UART, 7) and ticks_diff(t_isr, t_send) > 0
    st = app.stats()
    assert st["link.ping_poll"] == 1 and st["link.ping_task"] == 1 and not app.held


def test_config_run_0_read_by_the_poll_path_stops_the_loop():
    port, app = _app()
    port.receive(encode(P.PING, 1, b"") + encode(P.CONFIG, 9, P.pack_config("run", 0)))
    app.run()                     # the loop polls, holds CONFIG; the RX task stops it
    out = decode_frames(bytes(port.tx))
    assert [f[0] for f in out] == [P.PONG, P.CONFIG_R]
    assert app.stats()["link.ping_poll"] == 1


def test_a_held_trigger_read_with_the_frame_before_it_takes_its_own_interrupt():
    """PING, then TRIGGER(uart) sent later, both waiting when the poll path reads: the
    PING's older RX interrupt is dispatched first, but the held TRIGGER is answered with
    its own (newer) interrupt's timestamp, never one from before the host sent it."""
    port, app = _app()
    port.tx = bytearray()
    port.receive(encode(P.PING, 1, b"p"))       # its RX interrupt: event 1
    t_send = ticks_us()
    _tick_past(t_send)
    port.receive(encode(P.TRIGGER, 2, P.pack_trigger(P.SRC_UART, 7)))   # event 2
    app.poll_link()                             # reads both: PONG now, TRIGGER held
    assert app.held
    while app.sched.step():
        pass
    out = decode_frames(bytes(port.tx))
    assert [(f[0], f[1]) for f in out] == [(P.PONG, 1), (P.EVENT, 2)]
    src, token, t_isr, t_task, count = P.unpack_event(out[1][2])
    assert (src, token) == (P.SRC_UART, 7) and ticks_diff(t_isr, t_send) > 0
    assert app.stats()["link.rx_stale"] >= 1 and not app.held
