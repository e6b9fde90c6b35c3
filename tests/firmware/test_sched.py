# Scheduler: priority order, FIFO within a level, masking and replay, NMI, task errors.
from irqkit.sched import Scheduler, NO_MASK
from irqkit.report import source_stats, stats, reset
from irqkit.source import SoftSource
from irqkit.polled import PolledSource
from irqkit.ring import POLICY_COUNT, pending
from irqkit.ports.inproc import InprocPort


def _setup(specs):
    """specs: list of (name, prio, nmi). Returns (sched, {name: src}, log)."""
    sched = Scheduler(InprocPort())
    log = []

    def task(ev):
        log.append((ev.source.name, ev.a))

    srcs = {}
    for name, prio, nmi in specs:
        srcs[name] = sched.add(SoftSource(name, task, prio=prio, capacity=8, nmi=nmi))
    return sched, srcs, log


def test_higher_priority_runs_first():
    sched, s, log = _setup([("low", 1, False), ("high", 5, False), ("mid", 3, False)])
    s["low"].trigger(1)
    s["mid"].trigger(2)
    s["high"].trigger(3)
    assert sched.run_once() == 3
    assert log == [("high", 3), ("mid", 2), ("low", 1)]


def test_fifo_within_a_level_across_sources():
    sched, s, log = _setup([("a", 2, False), ("b", 2, False)])
    s["b"].trigger(1)
    s["a"].trigger(2)
    s["b"].trigger(3)
    s["a"].trigger(4)
    sched.run_once()
    assert log == [("b", 1), ("a", 2), ("b", 3), ("a", 4)]


def test_event_arriving_during_a_task_preempts_lower_levels():
    sched, s, log = _setup([("low", 1, False), ("high", 5, False)])
    s["low"].trigger(1)
    s["low"].trigger(2)
    orig = s["low"].task

    def low_task(ev):
        orig(ev)
        if ev.a == 1:
            s["high"].trigger(9)   # "interrupt" while the first low task runs

    s["low"].task = low_task
    sched.run_once()
    assert log == [("low", 1), ("high", 9), ("low", 2)]


def test_masked_source_is_held_then_replayed_in_priority_order():
    sched, s, log = _setup([("a", 1, False), ("b", 2, False), ("c", 3, False)])
    for name in ("a", "b", "c"):
        sched.mask(s[name])
    s["a"].trigger(1)
    s["c"].trigger(3)
    s["b"].trigger(2)
    assert sched.run_once() == 0 and log == []
    assert pending(s["a"]) == 1  # held pending, not lost
    for name in ("a", "b", "c"):
        sched.unmask(s[name])
    sched.run_once()
    assert log == [("c", 3), ("b", 2), ("a", 1)]


def test_mask_below_priority_like_basepri():
    sched, s, log = _setup([("a", 1, False), ("b", 2, False), ("c", 3, False)])
    sched.mask_below(3)
    s["a"].trigger(1)
    s["b"].trigger(2)
    s["c"].trigger(3)
    sched.run_once()
    assert log == [("c", 3)]
    sched.mask_below(NO_MASK)
    sched.run_once()
    assert log == [("c", 3), ("b", 2), ("a", 1)]


def test_nmi_ignores_every_mask():
    sched, s, log = _setup([("n", 0, True), ("x", 9, False)])
    sched.mask(s["n"])
    sched.mask(s["x"])
    sched.mask_below(100)
    s["x"].trigger(1)
    s["n"].trigger(2)
    sched.run_once()
    assert log == [("n", 2)]


def test_overflow_while_masked_is_counted():
    sched = Scheduler(InprocPort())
    got = []
    src = sched.add(SoftSource("s", lambda ev: got.append(ev.a), capacity=4, policy=POLICY_COUNT))
    sched.mask(src)
    for i in range(10):
        src.trigger(i)
    sched.unmask(src)
    sched.run_once()
    st = source_stats(src)
    assert got == [0, 1, 2, 3]
    assert st["overflow"] == 6 and st["triggers"] == 10
    assert st["triggers"] == st["delivered"] + st["overflow"]


def test_failing_task_is_counted_and_loop_goes_on():
    sched = Scheduler(InprocPort())
    got = []

    def bad(ev):
        if ev.a == 2:
            raise ValueError("boom %d" % ev.a)
        got.append(ev.a)

    src = sched.add(SoftSource("flaky", bad))
    for i in range(4):
        src.trigger(i)
    assert sched.run_once() == 4
    assert got == [0, 1, 3]
    assert sched.errors == 1 and source_stats(src)["errors"] == 1
    assert isinstance(sched.last_error, ValueError) and sched.last_error_source == "flaky"
    assert "boom 2" in stats(sched)["last_error"]


def test_polled_source_feeds_the_ring():
    sched = Scheduler(InprocPort())
    state = {"n": 0}
    got = []

    def check():
        state["n"] += 1
        return state["n"] if state["n"] % 2 == 0 else 0

    src = sched.add(PolledSource("poll", lambda ev: got.append(ev.a), check, interval_us=0))
    for _ in range(6):
        sched.step()
    assert got == [2, 4, 6]
    assert source_stats(src)["triggers"] == len(got) + pending(src)


def test_latency_histogram_and_delivered_counters():
    sched, s, log = _setup([("a", 1, False)])
    for i in range(5):
        s["a"].trigger(i)
    sched.run_once()
    st = source_stats(s["a"])
    assert sum(st["hist"]) == 5 and st["delivered"] == 5
    assert st["lat_max_us"] >= 0


def test_run_until_returns_and_stop_from_task():
    sched = Scheduler(InprocPort())
    src = None

    def task(ev):
        sched.stop()

    src = sched.add(SoftSource("s", task))
    sched.run(until_ms=20)          # nothing pending: returns at the deadline
    src.trigger()
    sched.run()                      # the task stops the loop
    assert source_stats(src)["delivered"] == 1


def test_reset_stats_keeps_pending_events():
    sched, s, log = _setup([("a", 1, False)])
    sched.mask(s["a"])
    for i in range(3):
        s["a"].trigger(i)
    reset(sched)
    st = source_stats(s["a"])
    assert st["put"] == 0 and st["triggers"] == 0 and st["pending"] == 3
    sched.unmask(s["a"])
    assert sched.run_once() == 3 and [x[1] for x in log] == [0, 1, 2]
