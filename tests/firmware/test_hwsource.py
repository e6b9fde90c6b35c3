# GPIO / timer / UART sources through the in-process port (the port plays the hardware).
from irqkit.sched import Scheduler
from irqkit.hwsource import GpioSource, TimerSource, UartSource
from irqkit.ports.inproc import InprocPort
from irqkit.report import source_stats
from irqkit.compat import sleep_ms


def _sched():
    port = InprocPort()
    return port, Scheduler(port)


def test_gpio_edges_follow_trigger_and_carry_level():
    port, sched = _sched()
    got = []
    rise = sched.add(GpioSource("rise", lambda ev: got.append(("r", ev.a)), pin="P0", trigger="rising"))
    both = sched.add(GpioSource("both", lambda ev: got.append(("b", ev.a)), pin="P1", trigger="both"))
    assert rise.mode == "hard" and both.mode == "hard"
    for level in (1, 0, 1, 0):
        port.edge("P0", level)
        port.edge("P1", level)
    sched.run_once()
    assert [g for g in got if g[0] == "r"] == [("r", 1), ("r", 1)]
    assert [g for g in got if g[0] == "b"] == [("b", 1), ("b", 0), ("b", 1), ("b", 0)]


def test_gpio_debounce_counts_bounces_without_sleeping():
    port, sched = _sched()
    got = []
    src = sched.add(GpioSource("btn", lambda ev: got.append(ev.t_isr), pin="P2",
                               trigger="rising", debounce_us=20000))
    for _ in range(5):                # a bouncing contact: 5 rising edges in << 20 ms
        port.edge("P2", 1)
        port.edge("P2", 0)
    sleep_ms(30)
    port.edge("P2", 1)                # a real second press
    sched.run_once()
    st = source_stats(src)
    assert len(got) == 2
    assert st["triggers"] == 6 and st["debounced"] == 4
    assert st["triggers"] == st["delivered"] + st["debounced"] + st["overflow"]


def test_timer_ticks_are_numbered_and_one_shot_stops():
    port, sched = _sched()
    got = []
    per = sched.add(TimerSource("per", lambda ev: got.append(("p", ev.a)), period_us=1000))
    one = sched.add(TimerSource("one", lambda ev: got.append(("o", ev.a)), period_us=500, periodic=False))
    tp, to = port.timers
    for _ in range(3):
        port.tick(tp)
    port.tick(to)
    assert to not in port.timers      # one-shot deinit after firing
    sched.run_once()
    assert [g for g in got if g[0] == "p"] == [("p", 1), ("p", 2), ("p", 3)]
    assert [g for g in got if g[0] == "o"] == [("o", 1)]
    assert per.mode == "hard" and one.timer is not None


def test_uart_rx_interrupt_then_task_reads_bytes():
    port, sched = _sched()
    buf = bytearray(16)
    got = []

    def task(ev):
        n = port.serial_read(buf)
        got.append(bytes(buf[:n]))

    sched.add(UartSource("uart", task, prio=2))
    port.receive(b"hi")
    port.receive(b"!")
    sched.run_once()
    assert b"".join(got) == b"hi!"
    assert len(got) == 2
