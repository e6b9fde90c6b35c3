# Event ring: ordering, capacity, overflow policies, counters.
from irqkit.ring import Ring, POLICY_COUNT, POLICY_COALESCE, R_MERGED
from irqkit.report import ring_counters
from irqkit.source import Event
from fwtest import raises


def _drain(r):
    ev = Event()
    out = []
    while r.take(ev):
        out.append((ev.t_isr, ev.seq, ev.a, ev.b, ev.count))
    return out


def test_fifo_order_and_fields():
    r = Ring(4)
    for i in range(3):
        assert r.put(100 + i, i, 10 * i, -i)
    assert r.pending() == 3
    assert _drain(r) == [(100, 0, 0, 0, 1), (101, 1, 10, -1, 1), (102, 2, 20, -2, 1)]
    assert r.pending() == 0


def test_capacity_is_exact_and_count_policy_drops_newest():
    r = Ring(3, POLICY_COUNT)
    stored = [r.put(i, i, i, 0) for i in range(5)]
    assert stored == [True, True, True, False, False]
    c = ring_counters(r)
    assert c["put"] == 3 and c["overflow"] == 2 and c["hwm"] == 3
    assert [e[2] for e in _drain(r)] == [0, 1, 2]  # the oldest kept, newest dropped


def test_wraps_around_many_times():
    r = Ring(5)
    ev = Event()
    expect = 0
    for i in range(1000):
        assert r.put(i, i, i, 0)
        if i % 3 == 2:
            while r.take(ev):
                assert ev.a == expect
                expect += 1
    while r.take(ev):
        assert ev.a == expect
        expect += 1
    assert expect == 1000
    assert ring_counters(r)["taken"] == 1000


def test_coalesce_merges_into_delivered_count():
    r = Ring(2, POLICY_COALESCE)
    for i in range(7):
        r.put(i, i, i, 0)
    c = ring_counters(r)
    assert c["put"] == 2 and c["merged"] == 5 and c["overflow"] == 0
    got = _drain(r)
    # the 5 merged events ride on the next event taken: nothing is lost
    assert sum(e[4] for e in got) == 7
    assert got[0][4] == 6 and got[1][4] == 1


def test_coalesce_merges_after_last_take_are_not_stranded():
    r = Ring(1, POLICY_COALESCE)
    ev = Event()
    r.put(5, 0, 0, 0)
    r.put(6, 1, 0, 0)          # merged behind the pending one
    assert r.take(ev) and ev.count == 2
    # the producer saw "full" just before the take freed the slot (the race):
    r.ctl[R_MERGED] += 1
    assert r.ready()
    assert r.take(ev) and ev.count == 1 and ev.t_isr == 5
    assert not r.ready()


def test_invalid_capacity():
    raises(ValueError, Ring, 0)


