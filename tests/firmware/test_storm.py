# Storm guard through the in-process port: interrupt -> polling (interrupt off) ->
# interrupt, exact counts with an edge counter, honest counts with level sampling.
from irqkit.sched import Scheduler
from irqkit.hwsource import GpioSource
from irqkit.ports.inproc import InprocPort
from irqkit.storm import StormGuard
from irqkit.report import source_stats

BUDGET = 20
WINDOW_US = 20000
POLL_US = 2000


class Port(InprocPort):
    """The in-process port with what a board's pin has: an edge with the handler off
    (Pin.irq(handler=None)) only changes the level, and an edge counter on the pad
    (machine.Counter / PCNT) that counts every edge on the wire."""

    def __init__(self):
        InprocPort.__init__(self)
        self.wire_edges = 0
        self.isr_runs = 0

    def count(self):
        return self.wire_edges

    def edge(self, pin, level):
        p = self.pins[pin]
        if p.level != level:
            self.wire_edges += 1
        trig, handler = self.pin_handlers[pin]
        if handler is None:
            p.level = level
            return
        InprocPort.edge(self, pin, level)


def _setup(counter=True, budget=BUDGET):
    port = Port()
    sched = Scheduler(port)
    got = []
    src = sched.add(GpioSource("noisy", lambda ev: got.append(ev.seq), pin="P0",
                               trigger="both", capacity=16))
    g = StormGuard(src, budget, WINDOW_US, POLL_US,
                   counter=port.count if counter else None).attach(sched)
    return port, sched, src, g, got


def _edges(port, n, level):
    for _ in range(n):
        level ^= 1
        port.edge("P0", level)
    return level


def _settle(sched, ms):
    sched.run(until_ms=ms)


def test_storm_switches_to_polling_and_back_with_exact_accounting():
    port, sched, src, g, got = _setup()
    level = 0
    level = _edges(port, 500, level)   # a storm: 500 edges inside one window
    _settle(sched, 25)                 # window ends: over budget -> polled
    assert g.mode == "polled" and g.to_polled == 1 and src.mode == "polled"
    assert port.pin_handlers["P0"][1] is None   # the interrupt is really off
    level = _edges(port, 1000, level)  # still storming: no ISR runs, the poll counts them
    _settle(sched, 5)
    assert g.mode == "polled" and g.polls >= 1
    _settle(sched, 60)                 # a quiet window -> back to interrupts
    assert g.mode == "irq" and g.to_irq == 1
    assert port.pin_handlers["P0"][1] is src.isr
    level = _edges(port, 3, level)     # interrupt-driven again: delivered one by one
    sched.run_once()
    _settle(sched, 25)
    st = source_stats(src)
    assert st["delivered"] == len(got)
    generated = 1503
    assert port.wire_edges == generated and g.counted() == generated
    assert generated == (st["delivered"] + st["overflow"] + st["pending"] + st["debounced"]
                         + g.merged_irq + g.seen_polled)
    assert g.seen_polled == 1000 and g.merged_irq == 0   # the inproc pin never merges
    assert st["overflow"] > 0          # the 500-edge burst overran the 16-slot ring
    assert g.stats()["exact"] is True


def test_level_sampling_counts_what_it_can_see():
    port, sched, src, g, got = _setup(counter=False)
    level = _edges(port, 500, 0)
    _settle(sched, 25)
    assert g.mode == "polled"
    # 7 edges before the next poll: the sampled level changed once (odd count) -> 1 seen
    level = _edges(port, 7, level)
    _settle(sched, 3)
    assert g.seen_polled == 1 and g.last_poll_n == 1
    # 4 edges: the level is back where it was -> nothing seen; a lower bound, and says so
    level = _edges(port, 4, level)
    _settle(sched, 3)
    assert g.seen_polled == 1
    assert g.stats()["exact"] is False and g.merged_irq == 0


def test_rising_only_source_samples_rising_changes():
    port = Port()
    sched = Scheduler(port)
    src = sched.add(GpioSource("r", lambda ev: None, pin="P0", trigger="rising"))
    g = StormGuard(src, 2, WINDOW_US, POLL_US).attach(sched)
    level = 0
    for _ in range(10):
        level = _edges(port, 2, level)   # 10 rising edges
    _settle(sched, 25)
    assert g.mode == "polled"
    port.edge("P0", 1)
    _settle(sched, 3)
    port.edge("P0", 0)                  # a falling change: not what the source counts
    _settle(sched, 3)
    assert g.seen_polled == 1


def test_quiet_source_never_demoted():
    port, sched, src, g, got = _setup()
    level = 0
    for _ in range(3):
        level = _edges(port, 5, level)
        _settle(sched, 25)
    assert g.mode == "irq" and g.to_polled == 0 and len(got) == 15


def test_stats_export_the_guard():
    from irqkit.report import stats
    port, sched, src, g, got = _setup()
    _edges(port, 100, 0)
    _settle(sched, 25)
    d = stats(sched)["sources"]["noisy"]["storm"]
    assert d["mode"] == "polled" and d["to_polled"] == 1 and d["to_irq"] == 0
    assert stats(sched)["sources"]["noisy"]["mode"] == "polled"
