# Issue 14.4: a failing task's first error is printed; Scheduler.close() detaches every
# handler it installed; the break rule (irqkit.brk) any app that owns the link can use.
import io

from irqkit.sched import Scheduler
from irqkit.source import SoftSource
from irqkit.hwsource import GpioSource, TimerSource, UartSource
from irqkit.brk import Break, RAW_REPL_BANNER
from irqkit.compat import sleep_ms
from irqkit.report import source_stats
from irqkit.ports.inproc import InprocPort


def _failing_sched():
    sched = Scheduler(InprocPort())
    sched.console = io.StringIO()

    def bad(ev):
        raise ValueError("bad value %d" % ev.a)

    def also_bad(ev):
        return {}["missing"]

    a = sched.add(SoftSource("a", bad))
    b = sched.add(SoftSource("b", also_bad))
    return sched, a, b


def test_first_error_of_each_source_is_printed_once():
    sched, a, b = _failing_sched()
    for i in range(3):
        a.trigger(i)
    b.trigger(7)
    a.trigger(9)
    assert sched.run_once() == 5
    out = sched.console.getvalue()
    # one report per source, the first error's traceback (its message names the event)
    assert out.count("irqkit: task of source 'a' raised") == 1, out
    assert out.count("irqkit: task of source 'b' raised") == 1, out
    assert out.count("Traceback") == 2, out
    assert "ValueError: bad value 0" in out, out
    assert "bad value 1" not in out and "bad value 9" not in out, out
    assert "KeyError" in out, out
    # the counters count every one, as before
    assert sched.errors == 5
    assert source_stats(a)["errors"] == 4 and source_stats(b)["errors"] == 1
    assert sched.last_error_source == "a" and "bad value 9" in str(sched.last_error)


def test_close_detaches_every_handler_it_installed():
    port = InprocPort()
    sched = Scheduler(port)
    got = []
    sched.add(GpioSource("btn", lambda ev: got.append("btn"), pin="P1"))
    sched.add(TimerSource("tick", lambda ev: got.append("tick"), period_us=1000))
    sched.add(UartSource("rx", lambda ev: got.append("rx")))
    soft = sched.add(SoftSource("sw", lambda ev: got.append("sw")))
    assert "P1" in port.pin_handlers and len(port.timers) == 1
    assert port.uart_handler is not None
    port.edge("P1", 1)
    sched.run_once()
    assert got == ["btn"]
    sched.close()
    assert port.pin_handlers == {} and port.timers == [] and port.uart_handler is None
    assert sched.sources == [] and not sched.running
    port.edge("P1", 0)
    port.edge("P1", 1)          # no handler any more: nothing is captured
    port.receive(b"x")
    assert sched.run_once() == 0
    assert source_stats(soft)["triggers"] == 0   # counters kept (read after close)


def test_remove_detaches_a_gpio_and_a_uart_source():
    port = InprocPort()
    sched = Scheduler(port)
    g = sched.add(GpioSource("btn", None, pin="P2"))
    u = sched.add(UartSource("rx", None))
    sched.remove(g)
    assert "P2" not in port.pin_handlers and port.uart_handler is not None
    sched.remove(u)
    assert port.uart_handler is None


def _break(quiet_ms=20):
    port = InprocPort()
    return port, Break(port, quiet_ms=quiet_ms)


def test_break_rule_ctrl_c_then_quiet_line():
    port, brk = _break()
    buf = bytearray(b"\r\x03")
    brk.feed(buf, 2)
    assert not brk.due()        # not quiet long enough yet
    sleep_ms(40)
    assert brk.due()
    try:
        brk.fire()
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the break task must raise KeyboardInterrupt")
    assert brk.breaks == 1 and not brk.due()
    assert bytes(port.tx) == b""   # no raw-REPL request: no banner


def test_break_rule_answers_mpremotes_raw_repl_request():
    port, brk = _break()
    brk.feed(bytearray(b"\r\x03\r\x01"), 4)
    sleep_ms(40)
    assert brk.due()
    try:
        brk.fire()
    except KeyboardInterrupt:
        pass
    assert bytes(port.tx) == RAW_REPL_BANNER


def test_break_rule_ignores_0x03_inside_frames():
    port, brk = _break()
    frame = bytearray(b"\x05\x03\x03\x01\x00")   # a frame ends in 0x00
    brk.feed(frame, len(frame))
    sleep_ms(40)
    assert not brk.due()
    brk.feed(bytearray(b"\x03"), 0)               # n = 0: nothing was read
    assert not brk.due()


def test_break_rule_state_across_reads():
    # a read that ends on a delimiter clears the state whatever came before it (no
    # per-byte scan then); a read ending in other bytes is scanned
    port, brk = _break()
    brk.feed(bytearray(b"\x05\x03"), 2)
    assert brk.ctrl_c and not brk.ctrl_a
    brk.feed(bytearray(b"\x01\x00"), 2)
    assert not brk.ctrl_c and not brk.ctrl_a
    brk.feed(bytearray(b"\x00\x03\x01"), 3)
    assert brk.ctrl_c and brk.ctrl_a
    buf = bytearray(b"\x03\x01\x00\x07")
    brk.feed(buf, 3)                               # only the n bytes read count
    assert not brk.ctrl_c and not brk.ctrl_a


def test_break_source_stops_sched_run():
    port = InprocPort()
    sched = Scheduler(port)
    brk = Break(port, quiet_ms=5)
    rx = bytearray(16)

    def on_rx(ev):
        brk.feed(rx, port.serial_read(rx))

    sched.add(UartSource("rx", on_rx))
    brk.attach(sched, kbd_off=False)
    port.receive(b"\x03")
    stopped = False
    try:
        sched.run(until_ms=2000)
    except KeyboardInterrupt:
        stopped = True
    finally:
        sched.close()
    assert stopped and brk.breaks == 1 and port.uart_handler is None
